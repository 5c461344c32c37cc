"""Repeated identical tool calls: wasted work, loops, and retries of a call that keeps failing.

Two calls are identical when they name the same tool with the same arguments (compared as JSON,
so key order and spacing do not matter). The repeat is the location: the second of the identical
calls. Retrying a call that failed is fine once it succeeds; retrying it into the same failure is
a failed recovery, not wasted work.
"""

from __future__ import annotations

from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.errors import span_failure
from investigator.detectors.view import TraceView, canonical_args, find_quote
from investigator.models import Issue, Span


def _evidence(span: Span) -> str | None:
    for text in (span.tool_args, span.input, span.output):
        if text and text.strip():
            quote = find_quote(span, text.strip()[:160])
            if quote:
                return quote
    return None


def _same_output(a: Span, b: Span) -> bool:
    return canonical_args(a.output) == canonical_args(b.output)


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
        count = len(spans)
        confidence = 0.95 if count >= 3 else (0.85 if _same_output(first, second) else 0.55)
        yield make_issue(
            "repeated_calls", second, "planning.redundant_steps", evidence,
            f"'{name}' was called {count} times with identical arguments after it had already succeeded",
            confidence, "medium" if count >= 3 else "low",
        )


def _repeated_requests(view: TraceView) -> Iterable[Issue]:
    """Traces with no tool spans: compare the calls the model requested, at the LLM span."""
    seen: dict[tuple[str, str], int] = {}
    for call in view.all_tool_calls:
        key = (call.name, canonical_args(call.arguments))
        seen[key] = seen.get(key, 0) + 1
        if seen[key] != 2:
            continue
        total = sum(1 for c in view.all_tool_calls if (c.name, canonical_args(c.arguments)) == key)
        evidence = find_quote(call.span, call.arguments[:160]) if call.arguments.strip() else None
        if evidence:
            yield make_issue(
                "repeated_calls", call.span, "planning.redundant_steps", evidence,
                f"the model requested '{call.name}' {total} times with identical arguments",
                0.8 if total >= 3 else 0.6, "medium" if total >= 3 else "low",
            )
