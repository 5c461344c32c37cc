"""Repeated identical tool calls: wasted work, loops, and retries of a call that keeps failing.

Two calls are identical when they name the same tool with the same arguments (compared as JSON,
so key order and spacing do not matter). A repeat is wasted only when it brought nothing new: its
result is the same, empty, or an error. Identical arguments with different results (polling a job,
reading a feed) are progress. The repeat is the location: the second of the identical calls.
Retrying a call that failed is fine once it succeeds; retrying it into the same failure is a
failed recovery, not wasted work. Without recorded results, only three or more identical requests
count.
"""

from __future__ import annotations

from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.classify import empty_result
from investigator.detectors.failures import span_failure
from investigator.detectors.results import tool_result
from investigator.detectors.view import ToolCall, TraceView, canonical_args, find_quote
from investigator.models import Issue, Span


def _evidence(span: Span) -> str | None:
    for text in (span.tool_args, span.input, span.output):
        if text and text.strip():
            quote = find_quote(span, text.strip()[:160])
            if quote:
                return quote
    return None


def _same_output(a: Span, b: Span) -> bool:
    return canonical_args(tool_result(a.output).text) == canonical_args(tool_result(b.output).text)


def _no_progress(first: Span, repeats: list[Span]) -> bool:
    """Every repeat brought back what the first call did, nothing, or an error."""
    return all(
        _same_output(first, s) or empty_result(tool_result(s.output).text) or span_failure(s) is not None
        for s in repeats
    )


@detector("repeated_calls", "1", ("planning.redundant_steps", "recovery.failed_recovery"))
def detect_repeated_calls(view: TraceView) -> Iterable[Issue]:
    """The first repeat of each identical tool call; a repeat of a failing call that fails again is
    a failed recovery."""
    if not view.tool_spans:
        yield from _repeated_requests(view)
        return
    seen: dict[tuple[str, str], list[Span]] = {}
    for span in view.tool_spans:
        key = (span.tool_name or span.name, canonical_args(span.tool_args or span.input))
        seen.setdefault(key, []).append(span)
    for (name, _), spans in seen.items():
        if len(spans) < 2:
            continue
        first, second = spans[0], spans[1]
        evidence = _evidence(second)
        if evidence is None:
            continue
        if span_failure(first) is not None:
            if span_failure(second) is not None:
                # Retrying into the same failure is the model's decision: blame the step that asked.
                request, original = view.requesting_call(second), view.requesting_call(first)
                at, quote = second, evidence
                if request is not None and (original is None or request.span is not original.span):
                    request_quote = (
                        find_quote(request.span, request.arguments[:160]) if request.arguments.strip() else None
                    )
                    if request_quote:
                        at, quote = request.span, request_quote
                yield make_issue(
                    "repeated_calls", at, "recovery.failed_recovery", quote,
                    f"'{name}' was retried with the same arguments after it failed, and failed again"
                    f" ({len(spans)} identical calls)", 0.8,
                )
            continue
        if not _no_progress(first, spans[1:]):
            continue
        count = len(spans)
        confidence = 0.95 if count >= 3 else 0.85
        yield make_issue(
            "repeated_calls", second, "planning.redundant_steps", evidence,
            f"'{name}' was called {count} times with identical arguments after it had already succeeded",
            confidence, "medium" if count >= 3 else "low",
        )


def _repeated_requests(view: TraceView) -> Iterable[Issue]:
    """Traces with no tool spans: compare the calls the model requested, at the LLM span of the
    first repeat, when there are three or more (no results to tell a poll from a loop)."""
    seen: dict[tuple[str, str], list[ToolCall]] = {}
    for call in view.all_tool_calls:
        seen.setdefault((call.name, canonical_args(call.arguments)), []).append(call)
    for calls in seen.values():
        if len(calls) < 3:
            continue
        repeat = calls[1]
        evidence = find_quote(repeat.span, repeat.arguments[:160]) if repeat.arguments.strip() else None
        if evidence:
            yield make_issue(
                "repeated_calls", repeat.span, "planning.redundant_steps", evidence,
                f"the model requested '{repeat.name}' {len(calls)} times with identical arguments", 0.7, "medium",
            )
