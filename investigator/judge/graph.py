"""The judge's loop as a LangGraph state graph: the model proposes tool calls, the tools answer, until
the model submits its summary or a budget (turns, tokens, dollars, wall time) ends the investigation.

Budgets are checked before every model call, against what has been spent plus what the last call
cost, so a call that would cross a budget is not made. When a fifth of any budget is left the model
is told so and asked to submit now. Tool results older than the last few turns are replaced by a
one-line stub, a batch at a time, so long investigations do not resend every span they ever read
and the conversation's prefix stays the same (and cached) between batches. Each step is
checkpointed, so an interrupted investigation resumes where it stopped.

What the loop sends follows the providers' rules: an assistant turn keeps what its provider must
get back (`echo`: thinking blocks, thought signatures), has `content: None` when it only called
tools, and is left out when it said nothing; notes to the model after tool results (the budget
warning, the nudge) join the last tool result, as Mistral refuses a user turn right after tool
turns; and a reply the output limit cut short has its tool calls dropped, not run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, StateGraph

from investigator.judge.settings import JudgeSettings
from investigator.models import Finding, TraceScores
from investigator.providers import ModelConfig, ProviderError, generate
from investigator.providers.pricing import model_options, unpriced_warning
from investigator.providers.recording import replaying
from investigator.store import Store
from investigator.tools.context import ToolContext
from investigator.tools.registry import call_tool, tool_specs

clock: Callable[[], float] = time.monotonic  # replaced in tests to spend wall time without waiting
WARN_AT = 0.2  # fraction of a budget left when the model is told to wrap up
NUDGE = "Continue with the tools. Submit your findings and scores, then end with submit_summary."
TRUNCATED = ("Your last reply reached the output limit before it was complete, so none of its tool calls were"
             " run. Make fewer, smaller calls per turn.")
log = logging.getLogger(__name__)
_warned_unpriced: set[str] = set()


class JudgeState(TypedDict, total=False):
    messages: list[dict[str, Any]]
    turns: int
    tokens_in: int
    tokens_out: int
    cached_tokens: int
    cost: float
    elapsed: float
    last_tokens: int  # what the last model call used: the projection for the next one
    last_cost: float
    warned: bool
    stopped_by: str | None  # summary | turns | tokens | dollars | time | refusal | error
    error: str | None
    findings: list[dict[str, Any]]
    scores: list[dict[str, Any]]
    summary: dict[str, Any] | None


@dataclass
class Spend:
    """Usage of child investigations, added to the parent's counters after the tool call returns."""

    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    cost: float = 0.0

    def drain(self) -> Spend:
        """What was spent since the last drain; the counters start again at zero."""
        spent = Spend(self.tokens_in, self.tokens_out, self.cached_tokens, self.cost)
        self.tokens_in = self.tokens_out = self.cached_tokens = 0
        self.cost = 0.0
        return spent


def initial_state(messages: list[dict[str, Any]]) -> JudgeState:
    return JudgeState(
        messages=messages, turns=0, tokens_in=0, tokens_out=0, cached_tokens=0, cost=0.0, elapsed=0.0,
        last_tokens=0, last_cost=0.0, warned=False, stopped_by=None, error=None, findings=[], scores=[],
        summary=None,
    )


def budget_stop(state: JudgeState, settings: JudgeSettings) -> str | None:
    """The budget that forbids another model call, if any."""
    tokens = state["tokens_in"] + state["tokens_out"]
    if state["turns"] >= settings.max_turns:
        return "turns"
    if tokens + state["last_tokens"] > settings.max_tokens:
        return "tokens"
    if state["cost"] + state["last_cost"] > settings.max_usd:
        return "dollars"
    if state["elapsed"] >= settings.max_seconds:
        return "time"
    return None


def remaining(state: JudgeState, settings: JudgeSettings) -> dict[str, float]:
    """The fraction left of each budget."""
    tokens = state["tokens_in"] + state["tokens_out"]
    return {
        "turns": 1 - state["turns"] / settings.max_turns,
        "tokens": 1 - tokens / settings.max_tokens if settings.max_tokens else 0.0,
        "dollars": 1 - state["cost"] / settings.max_usd if settings.max_usd else 0.0,
        "time": 1 - state["elapsed"] / settings.max_seconds if settings.max_seconds else 0.0,
    }


def budget_text(state: JudgeState, settings: JudgeSettings) -> str:
    """What is left, for the model, in turns and tokens: the numbers the provider's own replies
    decide, so a replayed run sends the same text. Dollars (which a price table decides) and wall
    time (which the machine's speed decides) are named, without a number, only once they run low."""
    tokens = state["tokens_in"] + state["tokens_out"]
    text = f"Budget left: {settings.max_turns - state['turns']} turns, {max(0, settings.max_tokens - tokens)} tokens"
    left = remaining(state, settings)
    if left["dollars"] <= WARN_AT:
        text += "; the dollar budget is nearly spent"
    if left["time"] <= WARN_AT:
        text += "; the time budget is nearly spent"
    return text + "."


def tell(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """`messages` with `text` said to the model: appended to the last tool result when the
    conversation ends with one (Mistral refuses a user turn right after tool turns), else as a
    user turn. The messages before it are not changed, so their cached prefix stays valid."""
    if messages and messages[-1]["role"] == "tool":
        last = messages[-1]
        return [*messages[:-1], {**last, "content": f"{last['content']}\n\n{text}"}]
    return [*messages, {"role": "user", "content": text}]


def elide(messages: list[dict[str, Any]], keep_turns: int) -> list[dict[str, Any]]:
    """Replace old tool results by a stub naming the call, `keep_turns` turns at a time: once the
    conversation has 2 × `keep_turns` turns, the results of the first `keep_turns` are stubbed, and so
    on. Stubbing one more result every turn would change the conversation's prefix every turn and
    invalidate the prompt cache each time (a cache write, at 1.25× the input price, for nothing)."""
    turn_of: list[int] = []
    turn = 0
    calls: dict[str, str] = {}
    for message in messages:
        if message["role"] == "assistant":
            turn += 1
            for call in message.get("tool_calls") or []:
                fn = call["function"]
                calls[call["id"]] = f"{fn['name']}({_short(fn.get('arguments') or '')})"
        turn_of.append(turn)
    boundary = max(0, (turn - keep_turns) // keep_turns * keep_turns) if keep_turns > 0 else turn
    out = []
    for message, at in zip(messages, turn_of, strict=True):
        if message["role"] == "tool" and at <= boundary and len(message["content"]) > 200:
            call = calls.get(message.get("tool_call_id", ""), "a tool")
            # What is elided is no longer shown: its typed data goes with it.
            message = {**{k: v for k, v in message.items() if k != "data"},
                       "content": f"[earlier result of {call} elided; call again if needed]"}
        out.append(message)
    return out


def _short(arguments: str, limit: int = 120) -> str:
    return arguments if len(arguments) <= limit else arguments[: limit - 1] + "…"


def build_graph(ctx: ToolContext, settings: JudgeSettings, spend: Spend, run_id: str, cluster_id: str):
    """The model ↔ tools graph for one investigation (not yet compiled)."""
    config = ModelConfig(model=settings.model, cache_prefix=2, temperature=model_options().temperature)
    specs = tool_specs()

    def model(state: JudgeState) -> JudgeState:
        stop = budget_stop(state, settings)
        if stop:
            return {"stopped_by": stop}
        started = clock()
        messages = list(state["messages"])
        update: JudgeState = {}
        if not state["warned"] and min(remaining(state, settings).values()) <= WARN_AT:
            messages = tell(messages, budget_text(state, settings)
                            + " Submit your findings and scores now, then submit_summary.")
            update["warned"] = True
        try:
            out = generate(elide(messages, settings.keep_recent_results), specs, config, store=ctx.store,
                           run_id=run_id, cluster_id=cluster_id, purpose="judge")
        except ProviderError as exc:
            if replaying():
                raise  # a replay that leaves its cassettes is a broken replay, not a finding
            return {**update, "messages": messages, "stopped_by": "error", "error": str(exc),
                    "elapsed": state["elapsed"] + clock() - started}
        if not out.priced and settings.model not in _warned_unpriced:
            _warned_unpriced.add(settings.model)
            log.warning("%s", unpriced_warning(settings.model) or f"no price is known for {settings.model}")
        spent = {
            "turns": state["turns"] + 1,
            "tokens_in": state["tokens_in"] + out.tokens_in,
            "tokens_out": state["tokens_out"] + out.tokens_out,
            "cached_tokens": state["cached_tokens"] + out.cached_tokens,
            "cost": state["cost"] + out.cost_usd,
            "last_tokens": out.tokens_in + out.tokens_out,
            "last_cost": out.cost_usd,
            "elapsed": state["elapsed"] + clock() - started,
        }
        if out.refusal is not None or out.context_exceeded:
            log.warning("investigation of %s ended: %s", cluster_id,
                        f"the model refused: {out.refusal}" if out.refusal is not None else "context window full")
            return {**update, **spent, "messages": messages,
                    "stopped_by": "refusal" if out.refusal is not None else "tokens"}
        calls = [] if out.truncated else out.tool_calls
        text = out.text if out.text and out.text.strip() else None  # providers refuse blank text
        assistant: dict[str, Any] = {"role": "assistant", "content": text}
        if calls:
            assistant["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
                for c in calls
            ]
        if out.echo and not out.truncated:  # a cut-off turn's blocks end in an incomplete tool_use
            assistant["echo"] = out.echo
        if text or calls:
            messages.append(assistant)
        if out.truncated and out.tool_calls:
            messages = tell(messages, TRUNCATED)
        elif not calls:
            messages = tell(messages, NUDGE)
        return {**update, **spent, "messages": messages}

    def tools(state: JudgeState) -> JudgeState:
        started = clock()
        messages = list(state["messages"])
        _restore(ctx, state)
        live.update(state)
        for call in messages[-1].get("tool_calls") or []:
            result = call_tool(ctx, call["function"]["name"], call["function"].get("arguments"))
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": str(result),
                             **({"data": result.data} if result.data else {})})
            if ctx.summary is not None:
                break
        children = spend.drain()
        return {
            "messages": messages,
            "findings": [f.model_dump(mode="json") for f in ctx.findings],
            "scores": [s.model_dump(mode="json") for s in ctx.scores],
            "summary": ctx.summary,
            "stopped_by": "summary" if ctx.summary is not None else None,
            "tokens_in": state["tokens_in"] + children.tokens_in,
            "tokens_out": state["tokens_out"] + children.tokens_out,
            "cached_tokens": state["cached_tokens"] + children.cached_tokens,
            "cost": state["cost"] + children.cost,
            "elapsed": state["elapsed"] + clock() - started,
        }

    live: dict[str, Any] = {}
    ctx.budget_note = lambda: budget_text(JudgeState(**live), settings) if live else ""

    def after_model(state: JudgeState) -> str:
        if state.get("stopped_by"):
            return END
        return "tools" if state["messages"][-1]["role"] == "assistant" else "model"

    def after_tools(state: JudgeState) -> str:
        return END if state.get("stopped_by") else "model"

    graph = StateGraph(JudgeState)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.set_entry_point("model")
    graph.add_conditional_edges("model", after_model, {"tools": "tools", "model": "model", END: END})
    graph.add_conditional_edges("tools", after_tools, {"model": "model", END: END})
    return graph


def _restore(ctx: ToolContext, state: JudgeState) -> None:
    """Bring the tool context in line with the checkpointed state (after a resume it starts empty)."""
    if len(ctx.findings) < len(state["findings"]):
        ctx.findings[:] = [Finding.model_validate(f) for f in state["findings"]]
    if len(ctx.scores) < len(state["scores"]):
        ctx.scores[:] = [TraceScores.model_validate(s) for s in state["scores"]]
    if ctx.summary is None and state["summary"] is not None:
        ctx.summary = state["summary"]


def checkpointer(store: Store):
    """Checkpoints live in the store's own file; a finished investigation deletes its own."""
    if store.path == ":memory:":
        return InMemorySaver()
    return SqliteSaver(store.checkpoint_connection())


def run_graph(
    ctx: ToolContext, settings: JudgeSettings, messages: list[dict[str, Any]], run_id: str, cluster_id: str,
    thread_id: str, spend: Spend,
) -> JudgeState:
    """Run (or resume) one investigation to its end and return the final state."""
    saver = checkpointer(ctx.store)
    app = build_graph(ctx, settings, spend, run_id, cluster_id).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread_id}, "recursion_limit": settings.max_turns * 3 + 10}
    try:
        snapshot = app.get_state(config)
        resuming = bool(snapshot.values and snapshot.next and not snapshot.values.get("stopped_by"))
        if snapshot.values and not resuming:
            saver.delete_thread(thread_id)
        final = app.invoke(None if resuming else initial_state(messages), config)
        # Checkpoints exist to resume an interrupted investigation; a finished one needs none, and
        # keeping them would grow the file by every conversation of every scheduled run.
        saver.delete_thread(thread_id)
        return final
    finally:
        if isinstance(saver, SqliteSaver):
            saver.conn.close()
