"""What failed in a span, and why: its error status and exception events, or an error payload in a
result marked successful, classified into a taxonomy code. The detectors ask these questions; they
decide where each failure is located.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from investigator.detectors.classify import classify_error, error_payload
from investigator.detectors.results import tool_result
from investigator.detectors.schemas import validate
from investigator.detectors.view import TraceView, args_parse, exception_events, excerpt, find_quote
from investigator.models import Span

RESULT_KINDS = ("tool", "retriever")  # spans whose output is a result something reads
_GENERIC = 0.6  # the confidence classify_error gives a text with no telling signal


class Failure(NamedTuple):
    """Why a span failed: the code, the text that says so and the field it is quoted from."""

    code: str
    confidence: float
    evidence: str
    reported: bool  # the span's status said it failed (else only its payload does)


def has_error(span: Span) -> bool:
    return span.status == "error" or bool(exception_events(span))


def status_failure(span: Span) -> Failure | None:
    """The failure a span's error status or exception events report, classified."""
    if not has_error(span):
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
    if span.kind not in RESULT_KINDS or has_error(span):
        return None
    result = tool_result(span.output)
    payload = error_payload(result.text)
    if payload is None and result.failed:  # the framework reported the call failed, in so many words
        payload = (result.text or "").strip()[:300]
    if not payload:
        return None
    # Quoted as the tool returned it (the content inside an envelope such as a ToolMessage), else
    # the start of the output as stored.
    stored = span.output or ""
    quote = find_quote(span, (result.text or "")[:160]) or excerpt(stored, 0, min(len(stored), 160), 160)
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


def propagated(view: TraceView, span: Span) -> bool:
    """True when a descendant failed too: the error came from below and is reported there."""
    return any(has_error(d) for d in view.descendants(span))


_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'", re.ASCII)
_MISSING = re.compile(r"missing \d+ required (?:positional |keyword(?:-only)? )?arguments?: '(\w+)'", re.ASCII)


def recorded_violations(span: Span, schema: dict[str, Any]) -> list[str] | None:
    """How the arguments a tool span recorded break `schema`; None when none are recorded as JSON."""
    if not span.tool_args:
        return None
    try:
        value = orjson.loads(span.tool_args)
    except orjson.JSONDecodeError:
        return None
    return validate(value, schema)


def definition_at_fault(view: TraceView, span: Span, error: str) -> bool:
    """A tool rejected a call that fits the tool's own declared schema: the argument it did not
    expect is a declared parameter, or the one it missed is not declared required. Then the tool's
    definition and implementation disagree; otherwise the model wrote a call that does not fit."""
    schema = view.schemas.get(span.tool_name or span.name)
    if schema is None or recorded_violations(span, schema) != []:
        return False
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    if match := _UNEXPECTED.search(error):
        return match.group(1) in properties
    if match := _MISSING.search(error):
        return match.group(1) not in (schema.get("required") or [])
    return False
