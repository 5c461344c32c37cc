"""Errors the agent carried on past.

After a tool reports a failure, the next action step of the same agent should do something about
it: retry (with the same or changed arguments), switch approach (call another tool), or tell the
user (in its text, or in the arguments of an answer tool that ends the run). A step that answers
without any of these treats the failure as if it had succeeded. The location is that model step:
the tool did fail, but ignoring it is the model's mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.failures import span_failure
from investigator.detectors.view import TraceView, find_quote
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


@detector("ignored_error", "2", ("recovery.ignored_error",))
def detect_ignored_error(view: TraceView) -> Iterable[Issue]:
    """The model step after a failed tool call that answers without retrying it, trying another
    way, or mentioning the failure."""
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
        if any(c.name == _tool_key(span) for c in calls):
            continue  # a retry, changed or not (the repeat detector judges unchanged ones)
        if calls and not view.is_terminal(step):
            continue  # another approach: the step's calls are read by a later step
        said = [view.assistant_text(step).strip(), *(c.arguments for c in calls)]
        if any(_ACKNOWLEDGED.search(text) for text in said if text):
            continue
        evidence = next((q for text in said if text.strip() and (q := find_quote(step, text.strip()[:160]))), None)
        if evidence is None:
            continue
        blamed.add(step.span_id)
        yield make_issue(
            "ignored_error", step, "recovery.ignored_error", evidence,
            f"'{_tool_key(span)}' failed ({failure.code}) and the model answered without retrying,"
            " trying another way or mentioning it",
            0.75, surfaced=span,
        )


def _retried_before(view: TraceView, failed: Span, step: Span) -> bool:
    """The framework (or a parallel call) already retried the tool successfully before the step."""
    for other in view.after(failed):
        if other.span_id == step.span_id:
            return False
        if other.kind == failed.kind and _tool_key(other) == _tool_key(failed) and span_failure(other) is None:
            return True
    return False
