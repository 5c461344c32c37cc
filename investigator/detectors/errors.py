"""Failed steps: error statuses, exception events, and error payloads in results marked successful.

An error propagates upwards (the tool fails, then its agent span, then the root): only the deepest
failing span is the location, ancestors that merely re-raise are not reported again. A failure
that a later identical step got past is still reported, at low severity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import orjson

from investigator.detectors import detector, make_issue
from investigator.detectors.classify import classify_error, empty_result, error_payload
from investigator.detectors.schemas import validate
from investigator.detectors.view import TraceView, args_parse, canonical_args, exception_events, excerpt, find_quote
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
_RESULT_KINDS = ("tool", "retriever")
_GENERIC = 0.6  # the confidence classify_error gives a text with no telling signal


class Failure(NamedTuple):
    """Why a span failed: the code, the text that says so and the field it is quoted from."""

    code: str
    confidence: float
    evidence: str
    reported: bool  # the span's status said it failed (else only its payload does)


def _has_error(span: Span) -> bool:
    return span.status == "error" or bool(exception_events(span))


def status_failure(span: Span) -> Failure | None:
    """The failure a span's error status or exception events report, classified."""
    if not _has_error(span):
        return None
    events = exception_events(span)
    exc_type = " ".join(str(e.get("exception.type") or "") for e in events)
    messages = [str(e.get("exception.message") or "") for e in events]
    data = span.attributes.get("error.data")
    text = "\n".join(filter(None, [span.status_message or "", *messages, str(data or ""), _head(span.output)]))
    code, confidence, _ = classify_error(text, exc_type)
    evidence = next((m for m in messages if len(m.strip()) >= 3), None) or span.status_message or ""
    if len(evidence.strip()) < 3 or (
        # A generic status ("Error running tool") with the telling error in the output.
        not messages
        and classify_error(evidence).confidence <= _GENERIC
        and classify_error(_head(span.output)).confidence > _GENERIC
    ):
        evidence = _head(span.output) or evidence
    return Failure(code, confidence, evidence[:200], True)


def payload_failure(span: Span) -> Failure | None:
    """The failure a result carries while its span says it succeeded: an HTTP error status or an
    exception in the payload is classified; any other error payload is a silent failure."""
    if span.kind not in _RESULT_KINDS or _has_error(span):
        return None
    payload = error_payload(span.output)
    if payload is None:
        return None
    quote = excerpt(span.output or "", 0, min(len(span.output or ""), 160), 160)
    typed = re.match(r"\s*(?:\w+(?:Error|Exception)\b|(?:Error|ERROR|Exception|Traceback)\b)", payload)
    code, confidence, status = classify_error(payload, typed.group(0) if typed else None)
    if code == "reasoning.format_violation":
        code = "execution.service_error" if args_parse(span.tool_args) else "reasoning.invalid_tool_arguments"
    if code == "reasoning.invalid_tool_arguments" or status is not None or typed:
        return Failure(code, min(confidence, 0.85), quote, False)
    return Failure("execution.silent_failure", 0.75, quote, False)


def span_failure(span: Span) -> Failure | None:
    """Whether a step failed, by its status or by its payload."""
    return status_failure(span) or payload_failure(span)


def _head(text: str | None) -> str:
    return (text or "").strip()[:200]


def _propagated(view: TraceView, span: Span) -> bool:
    """True when a descendant failed too: the error came from below and is reported there."""
    return any(_has_error(d) for d in view.descendants(span))


def _breaks_schema(view: TraceView, span: Span) -> bool:
    schema = view.schemas.get(span.tool_name or span.name)
    if schema is None or not span.tool_args:
        return False
    try:
        value = orjson.loads(span.tool_args)
    except orjson.JSONDecodeError:
        return True
    return bool(validate(value, schema))


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
        if failure is None or _propagated(view, span):
            continue
        if failure.code in _MODEL_FAULTS:
            own = failure.code == "reasoning.invalid_tool_arguments" or span.kind != "tool"
            if own or not args_parse(span.tool_args):
                continue  # the formats detector blames the model step that wrote it
            # A tool that cannot parse what its dependency sent back is a dependency failure.
            failure = failure._replace(code="execution.service_error", confidence=0.6)
        if failure.code == "execution.resource_exhausted":
            continue  # the limits detector owns exhaustion, wherever it is reported
        if failure.code == "execution.tool_misconfigured" and _breaks_schema(view, span):
            continue  # the arguments were wrong, not the tool
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
        if span.kind not in _RESULT_KINDS or _has_error(span):
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
        if _returned_nothing(view, span) and _treated_as_truth(view, span):
            evidence = find_quote(span, (span.output or "").strip()) or find_quote(span, span.tool_args or "")
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
        return empty_result(span.output)
    return any(s.output for s in view.tool_spans if s is not span)


def _treated_as_truth(view: TraceView, span: Span) -> bool:
    """The next model step ends with an answer built on the empty result: no further call, and
    no doubt that the empty result might be a failure."""
    following = view.next_llm(span)
    if following is None or view.tool_calls(following):
        return False
    text = view.assistant_text(following)
    return len(text.strip()) >= 20 and not _DOUBT.search(text)
