"""Failures the model wrote: code it wrote that raised, a tool it named that does not exist, a call
that does not fit, reported by the framework on a step, chain or agent span.

The span that reported the failure is where it surfaced; the mistake is in the model step whose
output the framework was executing, so that LLM span is the location and the reporting span the
second one. A container span is never the location when a model step below it is the author.
Tool spans that reject their arguments are the invalid-arguments detector's, parse errors the
format detector's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from investigator.detectors import detector, make_issue
from investigator.detectors.arguments import HOSTED_CALL
from investigator.detectors.failures import Failure, propagated, status_failure
from investigator.detectors.schemas import tool_schemas
from investigator.detectors.view import TraceView, exception_events, find_quote
from investigator.models import Issue, Span

WRONG_TOOL = "reasoning.wrong_tool"
CODES = (WRONG_TOOL, "reasoning.invalid_tool_arguments", "reasoning.format_violation")
# Failures outside the model's words: a limit, throttling, credentials, a deadline.
CIRCUMSTANCES = {
    "execution.resource_exhausted",
    "execution.rate_limited",
    "execution.auth_failed",
    "execution.timeout",
}
_UNKNOWN_TOOL = re.compile(
    r"unknown (?:tool|function)|no (?:such )?(?:tool|function) (?:named|called)"
    r"|(?:tool|function) [`'\"]?[\w.-]+[`'\"]? (?:is )?not (?:found|available|defined|registered)"
    r"|not a valid tool|invalid tool name|is not among the (?:explicitly )?allowed tools|\btool not found\b"
    r"|not in the list of (?:available )?tools|should be one of",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[`'\"]([^`'\"\n]{4,200})[`'\"]")


class Authored(NamedTuple):
    code: str
    author: Span  # the model step that wrote what failed


def author_of(view: TraceView, span: Span) -> Span | None:
    """The model step whose output a failing span was acting on: the last model step inside it,
    else the model step before it (the same agent's)."""
    inside = [s for s in view.descendants(span) if s.kind == "llm"]
    if inside:
        return max(inside, key=view.position)
    return view.previous_llm(span)


def _error_text(span: Span, failure: Failure) -> str:
    messages = [str(e.get("exception.message") or "") for e in exception_events(span)]
    data = span.attributes.get("error.data")
    return "\n".join(filter(None, [failure.evidence, span.status_message or "", *messages, str(data or "")]))


def _written_by(author: Span, text: str) -> bool:
    """The error quotes something the model wrote: a line of its code, the name it called."""
    output = author.output or ""
    return any(fragment.strip() and fragment.strip() in output for fragment in _QUOTED.findall(text))


def _names_a_call(view: TraceView, author: Span, text: str) -> str | None:
    """The tool the author step called that the error text names, quoted or not."""
    for call in view.tool_calls(author):
        if re.search(rf"(?<![\w.]){re.escape(call.name)}(?![\w])", text):
            return call.name
    return None


def _looks_like_code(fragment: str) -> bool:
    return bool(re.search(r"\w\s*\(|\w\s*=[^=]|\w\[", fragment))


def model_authored(view: TraceView, span: Span, failure: Failure) -> Authored | None:
    """Whether a failing step or tool failed on something the model wrote, and which model step."""
    if span.kind == "llm":
        return None
    author = author_of(view, span)
    if author is None:
        return None
    text = _error_text(span, failure)
    if _UNKNOWN_TOOL.search(text) and (_names_a_call(view, author, text) or _written_by(author, text)):
        return Authored(WRONG_TOOL, author)
    if failure.code in CIRCUMSTANCES:
        return None
    if span.kind in ("tool", "retriever"):
        return None  # a tool's own failure, or its rejection of the arguments (another detector's)
    if failure.code == "reasoning.invalid_tool_arguments":
        return Authored(failure.code, author)
    code = [f for f in _QUOTED.findall(text) if _looks_like_code(f) and f.strip() in (author.output or "")]
    if failure.code != "reasoning.format_violation" and code:
        return Authored("reasoning.format_violation", author)  # model-written code that raised
    return None


def _undefined_calls(view: TraceView) -> Iterable[Issue]:
    """Calls of a tool the model step was not offered: its own tool definitions do not name it."""
    for span in view.llm_spans:
        calls = [c for c in view.tool_calls(span) if not c.as_code]
        if not calls:
            continue
        offered = tool_schemas([span])
        for call in calls:
            if not offered or call.name in offered or HOSTED_CALL.match(call.name):
                continue
            evidence = find_quote(span, call.name)
            if evidence:
                yield make_issue(
                    "model_authored", span, WRONG_TOOL, evidence,
                    f"the model called '{call.name}', which is not among the tools it was given"
                    f" ({', '.join(sorted(offered)[:5])})",
                    0.85, surfaced=view.surfacing_of(call),
                )


@detector("model_authored", "1", CODES)
def detect_model_authored(view: TraceView) -> Iterable[Issue]:
    """At the model step that wrote it: a call of a tool that does not exist, code that raised, a
    call that did not fit, as reported by the step that ran it."""
    yield from _undefined_calls(view)
    for span in view.spans:
        failure = status_failure(span)
        if failure is None or propagated(view, span):
            continue
        authored = model_authored(view, span, failure)
        if authored is None:
            continue
        evidence = _evidence(authored.author, _error_text(span, failure))
        if evidence is None:
            continue
        what = {
            WRONG_TOOL: "called a tool that does not exist",
            "reasoning.invalid_tool_arguments": "made a call that does not fit the tool",
            "reasoning.format_violation": "wrote code that raised",
        }[authored.code]
        yield make_issue(
            "model_authored",
            authored.author,
            authored.code,
            evidence,
            f"the model {what}; '{span.name}' reported: {failure.evidence[:120]}",
            0.8,
            surfaced=span,
        )


def _evidence(author: Span, error: str) -> str | None:
    """What the model wrote that failed, quoted from its output: the fragment the error names."""
    for fragment in _QUOTED.findall(error):
        quote = find_quote(author, fragment.strip(), ("output",))
        if quote:
            return quote
    text = (author.output or "").strip()
    return find_quote(author, text[:160], ("output",)) if text else None
