"""The model's malformed output: unparseable responses and invalid tool arguments.

Both are the model's mistakes, so both are located at the LLM span that wrote the bad text, not at
the parser, framework or tool span that later complained about it.
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
from investigator.detectors.view import ToolCall, TraceView, exception_events, find_quote
from investigator.models import Issue, Span
from investigator.prefilter import Prefilter

# Reports of a model output that could not be parsed, strong enough to trust in a result that
# is not marked as an error (frameworks feed parse errors back as observations).
_PARSE_REPORT = re.compile(
    r"OutputParserException|could not parse (?:the )?(?:llm|model|agent)? ?output|Invalid Format"
    r"|ModelBehaviorError|failed to parse (?:the )?(?:llm|model) (?:output|response)",
    re.IGNORECASE | re.ASCII,
)
_MAY_REPORT = Prefilter([_PARSE_REPORT])
_HOSTED_CALL = re.compile(r"^\w+_call$")


def _model_step_for(view: TraceView, reporter: Span) -> Span | None:
    """The LLM span whose output a reporting span could not parse: the last model step inside it,
    else the model step just before it."""
    inside = [s for s in view.descendants(reporter) if s.kind == "llm"]
    if inside:
        return max(inside, key=view.position)
    return view.previous_llm(reporter)


def _output_quote(view: TraceView, span: Span) -> str | None:
    text = view.assistant_text(span).strip() or (span.output or "").strip()
    return find_quote(span, text[:160]) if text else None


@detector("format_violation", "1", ("reasoning.format_violation",))
def detect_format_violation(view: TraceView) -> Iterable[Issue]:
    """Model output a parser rejected, and output that breaks a JSON response format it was given."""
    blamed: set[str] = set()
    for span in view.spans:
        if span.kind == "llm" and not exception_events(span) and span.status != "error":
            continue
        report = _parse_report(span)
        if report is None:
            continue
        step = span if span.kind == "llm" else _model_step_for(view, span)
        if step is None or step.span_id in blamed:
            continue
        evidence = _output_quote(view, step)
        if evidence is None:
            continue
        blamed.add(step.span_id)
        yield make_issue(
            "format_violation", step, "reasoning.format_violation", evidence,
            f"'{span.name}' could not parse this model output: {report[:120]}", 0.85, surfaced=span,
        )
    for span in view.llm_spans:
        if span.span_id in blamed or view.tool_calls(span) or not _wants_json(span):
            continue
        text = _strip_fence(view.assistant_text(span))
        if text and not _is_json(text):
            evidence = find_quote(span, text[:160])
            if evidence:
                yield make_issue(
                    "format_violation", span, "reasoning.format_violation", evidence,
                    "the model was asked for JSON output and answered with text that is not JSON", 0.75,
                )


def _parse_report(span: Span) -> str | None:
    """The parse error a span reports about a model output, if any."""
    failure = status_failure(span)
    if failure is not None:
        if span.kind == "tool":
            return None  # a tool rejecting its input is about arguments, handled below
        if failure.code == "reasoning.format_violation":
            return failure.evidence
        if failure.code == "reasoning.invalid_tool_arguments" and not re.search(
            r"\btool|\bfunction", failure.evidence, re.I
        ):
            return failure.evidence  # an output model that failed validation
        return None
    text = (span.output or "")[:400]
    if span.kind != "llm" and _MAY_REPORT.matching(text):
        return text
    return None


def _wants_json(span: Span) -> bool:
    for key in ("llm.invocation_parameters", "invocation_params", "model_config", "gen_ai.request.response_format"):
        value = span.attributes.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
        if re.search(r'"response_format"\s*:\s*\{\s*"type"\s*:\s*"json_(?:object|schema)"'
                     r'|^json_(?:object|schema)$', text):
            return True
    return span.attributes.get("gen_ai.output.type") == "json"


def _strip_fence(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, re.DOTALL)
    return (match.group(1) if match else text).strip()


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


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
        if hosted or (schema is None and text[:1] not in ("{", "[")):
            return None  # a bare value (a one-argument tool, a hand-off): nothing to hold it to
        return "arguments are not valid JSON", 0.9
    if schema is None:
        if not isinstance(value, dict):
            return f"arguments are a JSON {type(value).__name__}, not an object", 0.7
        return None
    problems = validate(value, schema)
    if problems:
        return "; ".join(problems), 0.9
    return None


@detector("invalid_tool_arguments", "1", ("reasoning.invalid_tool_arguments",))
def detect_invalid_arguments(view: TraceView) -> Iterable[Issue]:
    """Tool calls whose arguments are unparseable, or break the tool's JSON schema when the trace
    carries it, or that the tool rejected as invalid; located at the LLM span that wrote them."""
    schemas = view.schemas
    flagged: set[str] = set()
    for call in view.all_tool_calls:
        if call.as_code:
            continue  # source code, not JSON: the tool's own rejection says what was wrong
        problem = argument_problems(call.arguments, schemas.get(call.name), bool(_HOSTED_CALL.match(call.name)))
        if problem is None or call.span.span_id in flagged:
            continue
        issue = _issue_at_call(call, problem[0], problem[1], view.execution_of(call))
        if issue is not None:
            flagged.add(call.span.span_id)
            yield issue
    for span in view.tool_spans:
        call = view.requesting_call(span)
        if call is not None and call.span.span_id in flagged:
            continue
        rejected = _rejection(view, span)
        problem = None
        if rejected is None and (call is None or call.as_code):
            problem = argument_problems(span.tool_args or "", schemas.get(span.tool_name or span.name))
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
