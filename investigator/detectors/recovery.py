"""Errors the agent carried on past.

After a tool reports a failure, the next model step should do something about it: retry, try
another way while saying so, or tell the user. A step that does neither (no retry of the tool, no
word about the failure) treats the failure as if it had succeeded. The location is that model
step: the tool did fail, but ignoring it is the model's mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.errors import span_failure
from investigator.detectors.view import ToolCall, TraceView, canonical_args, find_quote
from investigator.models import Issue, Span

_ACKNOWLEDGED = re.compile(
    r"\berr(?:or|ored|ors)?\b|\bfail|\bunable\b|\bcould(?:n'?t| not)\b|\bcan(?:'?t|not)\b|\bunavailable\b"
    r"|\bproblem|\bissue|\btry(?:ing)? again\b|\bretry|\blater\b|\bnot (?:be )?(?:found|available|able)"
    r"|\bdenied\b|\blimit|\btim(?:ed|e) ?out|\bdown\b|\btrouble|\bwasn'?t able\b|\bno (?:results?|record|data|match)"
    r"|\bdoes(?:n'?t| not) (?:exist|appear)|\binvalid\b|\bdid(?:n'?t| not) go through"
    r"|\b(?:was|were|is|has)(?:n'?t| not) (?:been )?(?:processed|completed|created|saved|sent|found)",
    re.IGNORECASE,
)


def _tool_key(span: Span) -> str:
    return span.tool_name or span.name


@detector("ignored_error", "1", ("recovery.ignored_error",))
def detect_ignored_error(view: TraceView) -> Iterable[Issue]:
    """The model step after a failed tool call that neither retries it nor mentions the failure."""
    blamed: set[str] = set()
    for span in view.tool_spans:
        failure = span_failure(span)
        if failure is None or failure.code == "execution.silent_failure":
            continue
        step = view.next_llm(span)
        if step is None or step.span_id in blamed or step.status == "error":
            continue
        if _retried_before(view, span, step):
            continue
        calls = view.tool_calls(step)
        if any(_is_retry(span, failure.code, c) for c in calls):
            continue
        text = view.assistant_text(step)
        if _ACKNOWLEDGED.search(text):
            continue
        if calls:
            reasoning = next((c.arguments for c in calls if c.arguments.strip()), "")
            evidence = find_quote(step, text.strip()[:160]) if text.strip() else None
            evidence = evidence or (find_quote(step, reasoning[:160]) if reasoning else None)
            confidence = 0.55
            what = f"went on to call {', '.join(sorted({c.name for c in calls}))}"
        else:
            evidence = find_quote(step, text.strip()[:160]) if text.strip() else None
            confidence = 0.75
            what = "answered"
        if evidence is None:
            continue
        blamed.add(step.span_id)
        yield make_issue(
            "ignored_error", step, "recovery.ignored_error", evidence,
            f"'{_tool_key(span)}' failed ({failure.code}) and the model {what} without retrying or mentioning it",
            confidence,
        )


def _is_retry(failed: Span, code: str, call: ToolCall) -> bool:
    """The same call again; or, when the arguments were the problem (rejected, or naming something
    that does not exist), the same tool with corrected arguments."""
    if call.name != _tool_key(failed):
        return False
    if code in ("reasoning.invalid_tool_arguments", "execution.not_found"):
        return True
    return canonical_args(call.arguments) == canonical_args(failed.tool_args)


def _retried_before(view: TraceView, failed: Span, step: Span) -> bool:
    """The framework (or a parallel call) already retried the tool successfully before the step."""
    for other in view.after(failed):
        if other.span_id == step.span_id:
            return False
        if other.kind == failed.kind and _tool_key(other) == _tool_key(failed) and span_failure(other) is None:
            return True
    return False
