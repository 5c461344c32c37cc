"""The model's malformed output: responses a parser rejected, or that break the format asked for.

It is the model's mistake, so it is located at the LLM span that wrote the bad text, not at the
parser or framework span that complained about it (that span is where it surfaced). A complaint
can also come back as the next step's input: the framework feeding the validation error to the
model for a retry. A step that writes the same rejected output again has not recovered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

from investigator.detectors import detector, make_issue
from investigator.detectors.failures import status_failure
from investigator.detectors.view import TraceView, content_text, exception_events, find_quote
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
_PARSE_WORDS = re.compile(r"pars(?:e|ing)|JSON|format|decode", re.IGNORECASE)


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


# A framework telling the model its previous output was rejected, in the next step's input.
_FED_BACK = re.compile(
    r"previous (?:response|output|answer|message) (?:failed|was invalid|could not be parsed|did not match)"
    r"|failed (?:the )?(?:\w+'s )?(?:output )?validation|could not (?:be )?parse|not valid JSON|json_invalid"
    r"|does not match the (?:required |expected )?(?:output )?(?:schema|format)",
    re.IGNORECASE,
)
_FEEDBACK_ROLES = ("user", "human", "system", "developer")


def _rejected_by_next(view: TraceView, step: Span) -> Span | None:
    """The same agent's next model step, when its input feeds back that `step`'s output was rejected."""
    following = view.next_llm(step)
    if following is None or following.agent != step.agent:
        return None
    messages = view.messages(following, "input") or []
    replies = [i for i, m in enumerate(messages) if m.get("role") in ("assistant", "model", "ai")]
    if not replies:
        return None
    fed_back = [content_text(m) for m in messages[replies[-1] + 1 :] if m.get("role") in _FEEDBACK_ROLES]
    return following if any(_FED_BACK.search(text) for text in fed_back) else None


def _fed_back_rejections(view: TraceView, blamed: set[str]) -> Iterable[Issue]:
    """Outputs the framework fed back as rejected; the same output written again is no recovery."""
    for step in view.llm_spans:
        if step.span_id in blamed or view.tool_calls(step):
            continue
        following = _rejected_by_next(view, step)
        evidence = _output_quote(view, step) if following is not None else None
        if following is None or evidence is None:
            continue
        blamed.add(step.span_id)
        yield make_issue(
            "format_violation", step, "reasoning.format_violation", evidence,
            "the framework rejected this model output and asked the model again", 0.8, surfaced=following,
        )
        said = view.assistant_text(step).strip()
        if said and view.assistant_text(following).strip() == said and (repeat := _output_quote(view, following)):
            blamed.add(following.span_id)
            yield make_issue(
                "format_violation", following, "reasoning.format_violation", repeat,
                "told its output was rejected, the model wrote the same output again", 0.8,
            )
            yield make_issue(
                "format_violation", following, "recovery.failed_recovery", repeat,
                "told its output was rejected, the model wrote the same output again", 0.8,
            )


@detector("format_violation", "2", ("reasoning.format_violation", "recovery.failed_recovery"))
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
        if view.tool_calls(step) and not _PARSE_WORDS.search(report):
            continue  # a validation error about the call the step made: its arguments, not its format
        evidence = _output_quote(view, step)
        if evidence is None:
            continue
        blamed.add(step.span_id)
        yield make_issue(
            "format_violation", step, "reasoning.format_violation", evidence,
            f"'{span.name}' could not parse this model output: {report[:120]}", 0.85, surfaced=span,
        )
    yield from _fed_back_rejections(view, blamed)
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
            return None  # a tool rejecting its input is about arguments (the arguments detector's)
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
