"""The model's invalid tool arguments: unparseable, breaking the tool's declared schema, or rejected
by the tool; located at the LLM span that wrote the call, with the tool span where it surfaced.
A step that repeats, unchanged, a call already shown invalid has not recovered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from investigator.detectors import detector, make_issue
from investigator.detectors.classify import classify_error, error_payload
from investigator.detectors.failures import definition_at_fault, status_failure
from investigator.detectors.schemas import validate
from investigator.detectors.view import ToolCall, TraceView, canonical_args, find_quote
from investigator.models import Issue, Span

HOSTED_CALL = re.compile(r"^\w+_call$")  # provider-hosted tools (web_search_call): no schema of ours


def argument_problems(arguments: str, schema: dict[str, Any] | None, hosted: bool = False) -> tuple[str, float] | None:
    """What is wrong with a tool call's arguments, and how sure we are; None when they are fine."""
    text = arguments.strip()
    if not text:
        if schema and schema.get("required"):
            return f"no arguments, but {schema['required']} are required", 0.85
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        if hosted:
            return None
        return "arguments are not valid JSON", 0.9 if text[:1] in ("{", "[") or schema else 0.7
    if schema is None:
        if not isinstance(value, dict):
            return f"arguments are a JSON {type(value).__name__}, not an object", 0.7
        return None
    problems = validate(value, schema)
    if problems:
        return "; ".join(problems), 0.9
    return None


@detector("invalid_tool_arguments", "2", ("reasoning.invalid_tool_arguments", "recovery.failed_recovery"))
def detect_invalid_arguments(view: TraceView) -> Iterable[Issue]:
    """Tool calls whose arguments are unparseable, or break the tool's JSON schema when the trace
    carries it, or that the tool rejected as invalid; located at the LLM span that wrote them."""
    schemas = view.schemas
    flagged: set[str] = set()
    invalid: set[tuple[str, str]] = set()
    for call in view.all_tool_calls:
        if call.as_code:
            continue  # source code, not JSON: the tool's own rejection says what was wrong
        problem = argument_problems(call.arguments, schemas.get(call.name), bool(HOSTED_CALL.match(call.name)))
        if problem is None or call.span.span_id in flagged:
            continue
        issue = _issue_at_call(call, problem[0], problem[1], view.surfacing_of(call))
        if issue is None:
            continue
        flagged.add(call.span.span_id)
        yield issue
        key = (call.name, canonical_args(call.arguments))
        if key in invalid:
            yield issue.model_copy(
                update={
                    "category": "recovery.failed_recovery",
                    "description": f"the model sent '{call.name}' the same invalid arguments again",
                }
            )
        invalid.add(key)
    for span in view.tool_spans:
        call = view.requesting_call(span)
        if call is not None and call.span.span_id in flagged:
            continue
        rejected = _rejection(view, span)
        problem = None
        schema = schemas.get(span.tool_name or span.name)
        recorded = (span.tool_args or "").strip()
        if rejected is None and (call is None or call.as_code) and (schema or recorded[:1] in ("{", "[")):
            # (a bare value recorded for a one-argument tool or a hand-off has nothing to hold it to)
            problem = argument_problems(recorded, schema)
        if rejected is None and problem is None:
            continue
        reason, confidence = (f"the tool rejected its arguments: {rejected[:120]}", 0.8) if rejected else problem
        issue = _issue_at_call(call, reason, confidence, span) if call is not None else None
        if issue is None:
            needle = rejected if rejected else (span.tool_args or "")
            evidence = find_quote(span, needle[:160])
            if evidence is None:
                continue
            issue = make_issue("invalid_tool_arguments", span, "reasoning.invalid_tool_arguments", evidence,
                               f"invalid arguments for '{span.tool_name or span.name}': {reason}", confidence)
        flagged.add(issue.span_id)
        yield issue


def _issue_at_call(call: ToolCall, reason: str, confidence: float, surfaced: Span | None = None) -> Issue | None:
    evidence = find_quote(call.span, call.arguments[:160]) if call.arguments.strip() else None
    evidence = evidence or find_quote(call.span, f'"name": "{call.name}"') or find_quote(call.span, call.name)
    if evidence is None:
        return None
    return make_issue(
        "invalid_tool_arguments", call.span, "reasoning.invalid_tool_arguments", evidence,
        f"invalid arguments for '{call.name}': {reason}", confidence, surfaced=surfaced,
    )


def _rejection(view: TraceView, span: Span) -> str | None:
    """The tool's own report that the arguments it was called with were invalid (status or payload);
    None when they fit its declared schema (then the tool's definition is at fault)."""
    failure = status_failure(span)
    if failure is not None:
        if failure.code != "reasoning.invalid_tool_arguments" or definition_at_fault(view, span, failure.evidence):
            return None
        return failure.evidence
    payload = error_payload(span.output)
    if payload is None:
        return None
    code, _, status = classify_error(payload)
    if code == "reasoning.invalid_tool_arguments" and (status in (400, 422) or status is None):
        return (span.output or "").strip()[:160]
    return None
