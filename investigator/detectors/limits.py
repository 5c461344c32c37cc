"""Exhausted limits: max turns or iterations, context windows, output-token caps, budgets, memory.

Frameworks report these three ways: as an error (`MaxTurnsExceeded`, `context_length_exceeded`),
as a model step that stopped because it hit its token cap (finish reason `length`, an incomplete
response), or as a run that ended normally with a message saying it gave up at a limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from investigator.detectors import detector, make_issue
from investigator.detectors.failures import status_failure
from investigator.detectors.view import TraceView, exception_events, find_quote
from investigator.models import Issue, Span

CODE = "execution.resource_exhausted"

_STOPPED_AT_LIMIT = re.compile(
    r"stopped due to (?:iteration|time|max iterations?) limit"
    r"|max(?:imum)? (?:number of )?turns? (?:\(\d+\) )?(?:exceeded|reached)"
    r"|recursion limit of \d+ reached|maximum context length|context window (?:exceeded|is full|overflow)"
    r"|(?:token|cost|spend(?:ing)?) budget (?:exceeded|exhausted|reached)|ran out of (?:tokens|budget|context)"
    r"|need more steps",
    re.IGNORECASE,
)
# Every phrase above contains one of these. In ASCII text, where case-insensitive matching is plain
# ASCII case, a text with none of them is not searched (the search is slow: no literal to skip to).
_LIMIT_WORDS = ("stopped due to", "max", "recursion limit", "context window", "budget", "ran out of", "more steps")
# Finish reasons of a model step cut off at its output-token limit.
_CUT_OFF = frozenset({"length", "max_tokens", "max_output_tokens", "model_length", "token_limit", "incomplete"})


def stopped_at_limit(text: str) -> re.Match[str] | None:
    """Where `text` says a run stopped at a limit, if it does."""
    if text.isascii():
        lowered = text.lower()
        if not any(word in lowered for word in _LIMIT_WORDS):
            return None
    return _STOPPED_AT_LIMIT.search(text)


def _finish_reasons(span: Span) -> list[str]:
    reasons: list[str] = []
    for key, value in span.attributes.items():
        if _names_finish_reason(key):
            reasons.extend(_strings(value))
    return [r.lower() for r in reasons]


@lru_cache(maxsize=4096)  # attribute names repeat across spans
def _names_finish_reason(key: str) -> bool:
    lowered = key.lower()
    return ("finish_reason" in lowered or "stop_reason" in lowered
            or lowered in ("response_status", "incomplete_details.reason", "incomplete_details"))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip('[]" ')] if value.startswith("[") else [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [str(v) for v in value.values()]
    return []


def _deepest(view: TraceView, span: Span) -> bool:
    return not any(status_failure(d) and status_failure(d).code == CODE for d in view.descendants(span))


@detector("resource_exhausted", "1", (CODE,))
def detect_resource_exhausted(view: TraceView) -> Iterable[Issue]:
    """Runs and steps that hit a turn, context, token, budget or memory limit."""
    for span in view.spans:
        failure = status_failure(span)
        if failure is not None and failure.code == CODE:
            if not _deepest(view, span):
                continue
            evidence = find_quote(span, failure.evidence)
            if evidence:
                yield make_issue("resource_exhausted", span, CODE, evidence,
                                 f"'{span.name}' hit a limit: {failure.evidence[:120]}", failure.confidence)
            continue
        if failure is not None or exception_events(span):
            continue
        if span.kind == "llm" and any(reason in _CUT_OFF for reason in _finish_reasons(span)):
            text = view.assistant_text(span).strip() or (span.output or "").strip()
            evidence = find_quote(span, text[-120:]) if text else None
            if evidence:
                yield make_issue(
                    "resource_exhausted", span, CODE, evidence,
                    "the model stopped at its output-token limit; the answer is cut off", 0.7, "medium",
                )
            continue
        if span.kind in ("agent", "chain", "unknown", "conversation") and span.output:
            match = stopped_at_limit(span.output[:2000])
            if match and not _has_limited_descendant(view, span):
                evidence = find_quote(span, span.output[max(0, match.start() - 40) : match.end() + 40])
                if evidence:
                    yield make_issue("resource_exhausted", span, CODE, evidence,
                                     f"the run ended at a limit: {match.group(0)}", 0.8)


def _has_limited_descendant(view: TraceView, span: Span) -> bool:
    for child in view.descendants(span):
        if child.output and child.kind != "llm" and stopped_at_limit(child.output[:2000]):
            return True
    return False
