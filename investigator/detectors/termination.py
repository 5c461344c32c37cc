"""Runs that end before the work is done: refusals, and answers given without using any tool.

A refusal that follows a failed step is the model reporting that failure, which is right; so is a
model that asks for what it needs. What is left is the model declining work it was given, with
nothing in the trace forcing it to. Likewise an agent that has tools and answers without calling
any of them has not looked anything up: its answer is a guess or a brush-off.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.failures import span_failure
from investigator.detectors.schemas import tool_schemas
from investigator.detectors.view import TraceView, find_quote
from investigator.models import Issue, Span

CODE = "planning.premature_termination"

_REFUSAL = re.compile(
    r"^\W*(?:(?:I'?m|I am) (?:very |so |really )?sorry|sorry|unfortunately|I apologi[sz]e)?[,.!]?\s*(?:but\s+)?"
    r"(?:(?:I|we)(?:'m| am| are)? (?:can(?:no|')t|cannot|not able to|unable to|won'?t(?: be able to)?|will not"
    r"|must decline to|not (?:allowed|permitted) to|do not|don't) "
    r"(?:help|assist|provide|comply|do (?:that|this)|fulfil+|complete|answer|support|share"
    r"|process|continue|proceed|engage)"
    r"|(?:that'?s|this is|it'?s|that is) (?:not something (?:I|we) (?:can|am able to|'m able to)"
    r"|outside (?:of )?(?:my|what (?:I|we)))"
    r"|(?:I|we) must (?:respectfully )?decline)",
    re.IGNORECASE,
)
# Asking the user for what the task needs is not giving up ("Anything else?" is not such a question).
_ASKS_BACK = re.compile(
    r"\b(?:could|can|would) you (?:please )?(?:provide|share|confirm|send|tell|give|clarify)"
    r"|\bplease (?:provide|share|confirm|send)"
    r"|\b(?:which|what) (?:is|was|are) (?:your|the)\b|\bdo you have\b|\bI(?:'ll| will) need\b",
    re.IGNORECASE,
)


@detector("refusal", "1", (CODE,))
def detect_refusal(view: TraceView) -> Iterable[Issue]:
    """The model's last answer declines the task, with no failure in the trace to explain it."""
    answers = [s for s in view.llm_spans if not view.tool_calls(s) and view.assistant_text(s).strip()]
    if not answers:
        return
    final = answers[-1]
    if final is not view.llm_spans[-1]:
        return
    text = view.assistant_text(final).strip()
    match = _REFUSAL.match(text)
    if match is None or _ASKS_BACK.search(text[-200:]):
        return
    if any(span_failure(s) is not None for s in view.before(final)):
        return
    evidence = find_quote(final, text[: max(match.end(), 60)][:160])
    if evidence:
        yield make_issue(
            "refusal", final, CODE, evidence,
            "the model declined the task in its final answer although no step had failed", 0.6, "medium",
        )


_HANDOFF_TOOL = re.compile(r"^transfer_to_|^handoff_to_|^delegate_to_")


def _own_tools(view: TraceView, step: Span) -> set[str]:
    """The tools the agent answering in `step` had: its model's tool definitions, or the tool list
    its agent span declares."""
    names = set(tool_schemas([step]))
    for span in view.spans:
        if span.kind == "agent" and step.agent and span.agent == step.agent:
            declared = span.attributes.get("tools")
            if isinstance(declared, list):
                names |= {str(t) for t in declared if isinstance(t, str)}
    return {n for n in names if not _HANDOFF_TOOL.match(n)}


@detector("unused_tools", "1", (CODE,))
def detect_unused_tools(view: TraceView) -> Iterable[Issue]:
    """The final answer of an agent that had tools and never called one (hand-offs aside)."""
    if not view.llm_spans:
        return
    final = view.llm_spans[-1]
    text = view.assistant_text(final).strip()
    if view.tool_calls(final) or not text or _ASKS_BACK.search(text[-200:]):
        return
    tools = _own_tools(view, final)
    if not tools:
        return
    peers = [s for s in view.llm_spans if not final.agent or s.agent == final.agent]
    used = [c for s in peers for c in view.tool_calls(s) if not _HANDOFF_TOOL.match(c.name)]
    if used or any(s.kind == "tool" and s.tool_name in tools for s in view.spans):
        return
    evidence = find_quote(final, text[:160])
    if evidence:
        yield make_issue(
            "unused_tools", final, CODE, evidence,
            f"the agent answered without calling any of its tools ({', '.join(sorted(tools)[:4])})", 0.55, "medium",
        )
