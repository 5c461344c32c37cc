"""Failed steps: error statuses, exception events, and error payloads in results marked successful.

An error propagates upwards (the tool fails, then its agent span, then the root): only the deepest
failing span is the location, ancestors that merely re-raise are not reported again. A failure
that a later identical step got past is still reported, at low severity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.arguments import argument_problems
from investigator.detectors.authored import CIRCUMSTANCES, model_authored
from investigator.detectors.classify import empty_result
from investigator.detectors.failures import (
    RESULT_KINDS,
    definition_at_fault,
    has_error,
    payload_failure,
    propagated,
    recorded_violations,
    span_failure,
    status_failure,
)
from investigator.detectors.results import tool_result
from investigator.detectors.view import TraceView, args_parse, canonical_args, find_quote
from investigator.models import Issue, Span

EXECUTION_CODES = (
    "execution.rate_limited",
    "execution.auth_failed",
    "execution.not_found",
    "execution.service_error",
    "execution.timeout",
    "execution.environment_error",
    "execution.resource_exhausted",
    "execution.tool_misconfigured",
)
# Classes another detector owns: the model's malformed output or arguments.
_MODEL_FAULTS = ("reasoning.format_violation", "reasoning.invalid_tool_arguments")


def _repeat_of_failure(view: TraceView, span: Span, code: str) -> bool:
    """An earlier identical call (same tool, same arguments) failed the same way."""
    if span.kind != "tool":
        return False
    key = canonical_args(span.tool_args)
    for earlier in view.before(span):
        if earlier.kind == "tool" and (earlier.tool_name or earlier.name) == (span.tool_name or span.name):
            failure = status_failure(earlier)
            if failure is not None and failure.code == code and canonical_args(earlier.tool_args) == key:
                return True
    return False


_RETRIES_SPENT = re.compile(
    r"exceeded (?:the )?max(?:imum)? (?:\w+ )?retries|retries (?:were )?exhausted"
    r"|max(?:imum)? retries (?:exceeded|reached)",
    re.IGNORECASE,
)


def arguments_at_fault(view: TraceView, span: Span) -> bool:
    """A tool ran on arguments the model wrote wrong (unparseable, or breaking the tool's declared
    schema): what it raised is the arguments' fault, which the invalid-arguments detector reports
    at the call."""
    if span.kind != "tool":
        return False
    schema = view.schemas.get(span.tool_name or span.name)
    call = view.requesting_call(span)
    if call is not None and not call.as_code and argument_problems(call.arguments, schema) is not None:
        return True
    return schema is not None and bool(recorded_violations(span, schema))


def recovered(view: TraceView, span: Span) -> bool:
    """A later call of the same tool (or step of the same name and kind) succeeded."""
    key = span.tool_name or span.name
    for later in view.after(span):
        if later.kind == span.kind and (later.tool_name or later.name) == key and not span_failure(later):
            return True
    return False


@detector("error_status", "1", EXECUTION_CODES)
def detect_error_status(view: TraceView) -> Iterable[Issue]:
    """Spans whose status or exception events say they failed, at the deepest failing span."""
    for span in view.spans:
        failure = status_failure(span)
        if failure is None or propagated(view, span):
            continue
        if model_authored(view, span, failure) is not None:
            continue  # the model step that wrote it is the location
        if failure.code not in CIRCUMSTANCES and arguments_at_fault(view, span):
            continue  # it raised on the bad arguments the model wrote
        if _RETRIES_SPENT.search(failure.evidence):
            continue  # the failure that kept repeating is the finding, at the steps that repeated it
        if (
            failure.code == "reasoning.invalid_tool_arguments"
            and span.kind == "tool"
            and definition_at_fault(view, span, failure.evidence)
        ):
            failure = failure._replace(code="execution.tool_misconfigured")
        elif failure.code in _MODEL_FAULTS:
            own = failure.code == "reasoning.invalid_tool_arguments" or span.kind != "tool"
            if own or not args_parse(span.tool_args):
                continue  # the formats detector blames the model step that wrote it
            # A tool that cannot parse what its dependency sent back is a dependency failure.
            failure = failure._replace(code="execution.service_error", confidence=0.6)
        if failure.code == "execution.resource_exhausted":
            continue  # the limits detector owns exhaustion, wherever it is reported
        if _repeat_of_failure(view, span, failure.code):
            continue  # one failure, retried: reported once, and the retry as a failed recovery
        evidence = find_quote(span, failure.evidence) if failure.evidence else None
        if evidence is None:
            continue
        severity = "low" if recovered(view, span) else None
        yield make_issue(
            "error_status", span, failure.code, evidence,
            f"{span.kind} span '{span.name}' failed: {failure.evidence[:120]}",
            failure.confidence, severity,
        )


@detector("tool_result", "1", (*EXECUTION_CODES, "execution.silent_failure"))
def detect_tool_result(view: TraceView) -> Iterable[Issue]:
    """Tool and retriever results that report success but carry an error payload, or nothing at all
    that the next model step then treats as a real answer."""
    for span in view.spans:
        if span.kind not in RESULT_KINDS or has_error(span):
            continue
        failure = payload_failure(span)
        if failure is not None:
            if failure.code in _MODEL_FAULTS:
                continue
            evidence = find_quote(span, failure.evidence)
            if evidence:
                severity = "low" if recovered(view, span) else None
                yield make_issue(
                    "tool_result", span, failure.code, evidence,
                    f"'{span.tool_name or span.name}' reported success but returned an error: {failure.evidence[:120]}",
                    failure.confidence, severity,
                )
            continue
        if view.is_terminal(span):
            continue  # an answer tool: no later step reads its result, so an empty one is no failure
        if _returned_nothing(view, span) and _treated_as_truth(view, span):
            returned = tool_result(span.output).text or ""  # as the tool returned it, out of its envelope
            evidence = (find_quote(span, returned) or find_quote(span, (span.output or "").strip())
                        or find_quote(span, span.tool_args or ""))
            if evidence:
                yield make_issue(
                    "tool_result", span, "execution.silent_failure", evidence,
                    f"'{span.tool_name or span.name}' returned an empty result and the agent took it as the answer",
                    0.6,
                )


# Words with which a model treats an empty result as a possible failure rather than as an answer.
_DOUBT = re.compile(
    r"\berr(?:or|ored|ors)?\b|\bfail|\bunable\b"
    r"|\bcould(?:n'?t| not) (?:retrieve|access|reach|load|fetch|connect|verify)"
    r"|\bunavailable\b|\btry(?:ing)? again\b|\bretry|\btechnical\b|\bproblem|\btrouble|\bissue with\b|\bverify\b"
    r"|\bescalat|\bdouble[- ]check|\bcannot confirm\b|\bcan'?t confirm\b",
    re.IGNORECASE,
)


def _returned_nothing(view: TraceView, span: Span) -> bool:
    """An empty result; a missing one counts only when the trace records other tools' results
    (else the exporter simply does not record outputs)."""
    if span.output is not None:
        return empty_result(tool_result(span.output).text)
    return any(s.output for s in view.tool_spans if s is not span)


# Words with which an answer states that there is nothing: what an empty result, taken as the
# truth, makes the model say (an empty result of an action, "sent", is no claim of absence).
_ABSENCE = re.compile(
    r"\bno\b|\bnone\b|\bnothing\b|\bnot (?:any|find|see|have|on file|exist)|\b(?:can'?t|cannot|could(?:n'?t| not)) find"
    r"|\bhave(?:n'?t| not)\b|\bhas(?:n'?t| not)\b|\bzero\b|\bempty\b",
    re.IGNORECASE,
)


def _treated_as_truth(view: TraceView, span: Span) -> bool:
    """The next model step ends with an answer built on the empty result: no further call, no
    doubt that the empty result might be a failure, and a claim that there is nothing."""
    following = view.next_llm(span)
    if following is None:
        return False
    calls = view.tool_calls(following)
    if calls and not (view.is_terminal(following) and all(view.answers_with(c) for c in calls)):
        return False  # it went on working: another call, not an answer
    text = view.answer_text(following)
    return len(text.strip()) >= 20 and not _DOUBT.search(text) and bool(_ABSENCE.search(text))
