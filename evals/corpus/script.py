"""The format-neutral shape of one agent run, and its rendering into timed spans.

Workflows write a `Script` (which agent said what, which tools it called with which arguments and
what came back); faults edit scripts; `render` turns a script into `RTrace`, a list of timed spans
with the message history every model call saw. Writers then serialise an `RTrace` in one export
format. Keeping the three stages apart is what lets one fault definition apply to every format.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass
class Param:
    """One tool parameter: `role` is the stable key workflows use, `name` the variant's spelling."""

    role: str
    name: str
    type: str
    description: str
    required: bool = True
    enum: list[str] | None = None


@dataclass
class ToolDef:
    """A function tool as the model sees it (name, description, JSON schema)."""

    role: str
    name: str
    description: str
    params: list[Param]

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for p in self.params:
            prop: dict[str, Any] = {"type": p.type, "description": p.description}
            if p.enum:
                prop["enum"] = p.enum
            props[p.name] = prop
        return {
            "type": "object",
            "properties": props,
            "required": [p.name for p in self.params if p.required],
            "additionalProperties": False,
        }

    def openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.schema(),
                         "strict": False},
        }

    def args(self, **by_role: Any) -> str:
        """The argument JSON a model writes, keyed by the variant's parameter names."""
        names = {p.role: p.name for p in self.params}
        return dumps({names[role]: value for role, value in by_role.items()})

    def pname(self, role: str) -> str:
        return next(p.name for p in self.params if p.role == role)


@dataclass
class Agent:
    name: str
    instructions: str
    model: str
    tools: list[ToolDef]
    handoffs: list[str] = field(default_factory=list)
    temperature: float = 0.2


@dataclass
class ErrorInfo:
    """A failure recorded on a span: exception type and message, optional HTTP status."""

    type: str
    message: str
    stacktrace: str = ""
    http_status: int | None = None


@dataclass
class ToolCall:
    tool: str
    args: str
    result: str
    error: ErrorInfo | None = None
    duration_ms: float | None = None
    handoff_to: str | None = None
    span_id: str = ""
    call_id: str = ""


@dataclass
class Turn:
    """One model call: what the assistant wrote and the tool calls it requested."""

    content: str | None = None
    calls: list[ToolCall] = field(default_factory=list)
    error: ErrorInfo | None = None
    refusal: str | None = None
    duration_ms: float | None = None
    tokens_in_extra: int = 0
    span_id: str = ""


@dataclass
class Parser:
    """A framework step after a model call that parses its output (structured output)."""

    name: str
    error: ErrorInfo | None
    output: str | None
    span_id: str = ""


@dataclass
class AgentRun:
    agent: Agent
    turns: list[Turn] = field(default_factory=list)
    parser: Parser | None = None
    error: ErrorInfo | None = None
    span_id: str = ""


@dataclass
class Script:
    workflow: str
    trace_name: str
    service: str
    user_message: str
    runs: list[AgentRun]
    final_output: str = ""
    agent_version: str = "v1.8"
    prompt_version: str = ""
    session_id: str = ""
    user_id: str = ""
    tags: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def all_calls(self) -> list[ToolCall]:
        return [c for r in self.runs for t in r.turns for c in t.calls]

    def last_turn(self) -> Turn:
        return self.runs[-1].turns[-1]


@dataclass
class RSpan:
    """A rendered span, format-neutral. `kind` is agent, llm, tool, handoff or chain."""

    span_id: str
    parent_id: str | None
    kind: str
    name: str
    start_ns: int
    end_ns: int
    agent: str
    error: ErrorInfo | None = None
    model: str | None = None
    temperature: float | None = None
    input_messages: list[dict[str, Any]] = field(default_factory=list)
    output_message: dict[str, Any] | None = None
    tools: list[ToolDef] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    tool_name: str | None = None
    tool_description: str | None = None
    args: str | None = None
    result: str | None = None
    call_id: str | None = None
    from_agent: str | None = None
    to_agent: str | None = None
    handoffs: list[str] = field(default_factory=list)
    text_in: str | None = None
    text_out: str | None = None


@dataclass
class RTrace:
    trace_id: str
    script: Script
    spans: list[RSpan]
    start_ns: int
    end_ns: int


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def estimate_tokens(text: str) -> int:
    return max(1, round(len(text) / 3.8))


class Ids:
    """Deterministic identifiers in the style a given exporter writes."""

    def __init__(self, rng: random.Random, style: str) -> None:
        self.rng = rng
        self.style = style

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def uuid(self) -> str:
        h = list(self.hex(32))
        h[12] = "4"
        h[16] = "89ab"[int(h[16], 16) % 4]
        s = "".join(h)
        return f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}"

    def trace_id(self) -> str:
        if self.style == "agents":
            return f"trace_{self.hex(32)}"
        if self.style == "uuid":
            return self.uuid()
        return self.hex(32)

    def span_id(self) -> str:
        if self.style == "agents":
            return f"span_{self.hex(24)}"
        if self.style == "uuid":
            return self.uuid()
        return self.hex(16)

    def call_id(self, provider: str) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        if provider == "anthropic":
            return "toolu_01" + "".join(self.rng.choice(alphabet) for _ in range(22))
        return "call_" + "".join(self.rng.choice(alphabet) for _ in range(24))


def provider_of(model: str) -> str:
    return "anthropic" if model.startswith("claude") else "openai"


def render(script: Script, rng: random.Random, ids: Ids, start_ns: int,
           root_name: Callable[[Script], str | None] = lambda s: None) -> RTrace:
    """Lay a script out in time: model calls, tool calls and hand-offs as nested spans.

    With `root_name` returning a name, every agent span hangs under one workflow span (the
    OpenTelemetry instrumentations do that); otherwise agent spans are roots (the Agents SDK).
    """
    spans: list[RSpan] = []
    clock = start_ns + rng.randint(1, 4) * 1_000_000
    trace_id = ids.trace_id()
    root: RSpan | None = None
    name = root_name(script)
    if name:
        root = RSpan(ids.span_id(), None, "chain", name, start_ns, start_ns, agent=script.runs[0].agent.name,
                     text_in=script.user_message)
        spans.append(root)
    history: list[dict[str, Any]] = [
        {"role": "system", "content": ""}, {"role": "user", "content": script.user_message},
    ]
    for run in script.runs:
        agent = run.agent
        history[0] = {"role": "system", "content": agent.instructions}
        agent_span = RSpan(ids.span_id(), root.span_id if root else None, "agent", agent.name, clock, clock,
                           agent=agent.name, tools=agent.tools, handoffs=agent.handoffs)
        run.span_id = agent_span.span_id
        spans.append(agent_span)
        clock += rng.randint(2, 9) * 1_000_000
        for turn in run.turns:
            provider = provider_of(agent.model)
            message: dict[str, Any] = {"role": "assistant"}
            if turn.content is not None:
                message["content"] = turn.content
            if turn.refusal is not None:
                message["content"] = turn.refusal
            for call in turn.calls:
                call.call_id = call.call_id or ids.call_id(provider)
            if turn.calls:
                message["tool_calls"] = [{"id": c.call_id, "name": c.tool, "arguments": c.args} for c in turn.calls]
            prompt_text = dumps(history) + dumps([t.schema() for t in agent.tools])
            tokens_in = estimate_tokens(prompt_text) + turn.tokens_in_extra
            out_text = (message.get("content") or "") + "".join(c.args + c.tool for c in turn.calls)
            tokens_out = 0 if turn.error else estimate_tokens(out_text) + 4 * len(turn.calls)
            duration = turn.duration_ms or (420 + tokens_out * rng.uniform(9, 22) + tokens_in * 0.02
                                            + rng.uniform(0, 500))
            if turn.error:
                duration = turn.duration_ms or rng.uniform(180, 900)
            llm = RSpan(ids.span_id(), agent_span.span_id, "llm", "", clock, clock + int(duration * 1e6),
                        agent=agent.name, error=turn.error, model=agent.model, temperature=agent.temperature,
                        input_messages=[dict(m) for m in history],
                        output_message=None if turn.error else message, tools=agent.tools,
                        tokens_in=tokens_in, tokens_out=tokens_out)
            turn.span_id = llm.span_id
            spans.append(llm)
            clock = llm.end_ns + rng.randint(1, 6) * 1_000_000
            if turn.error:
                break
            history.append(message)
            for call in turn.calls:
                tool_def = next((t for t in agent.tools if t.name == call.tool), None)
                if call.handoff_to:
                    span = RSpan(ids.span_id(), agent_span.span_id, "handoff", f"handoff to {call.handoff_to}",
                                 clock, clock + rng.randint(1, 3) * 1_000_000, agent=agent.name,
                                 from_agent=agent.name, to_agent=call.handoff_to, call_id=call.call_id,
                                 tool_name=call.tool, args=call.args, result=call.result)
                else:
                    duration = call.duration_ms or rng.uniform(60, 950)
                    span = RSpan(ids.span_id(), agent_span.span_id, "tool", call.tool, clock,
                                 clock + int(duration * 1e6), agent=agent.name, error=call.error,
                                 tool_name=call.tool, tool_description=tool_def.description if tool_def else None,
                                 args=call.args, result=call.result, call_id=call.call_id)
                call.span_id = span.span_id
                spans.append(span)
                clock = span.end_ns + rng.randint(1, 5) * 1_000_000
                history.append({"role": "tool", "tool_call_id": call.call_id, "name": call.tool,
                                "content": call.result})
        if run.parser:
            span = RSpan(ids.span_id(), agent_span.span_id, "chain", run.parser.name, clock,
                         clock + rng.randint(1, 4) * 1_000_000, agent=agent.name, error=run.parser.error,
                         text_in=run.turns[-1].content, text_out=run.parser.output)
            run.parser.span_id = span.span_id
            spans.append(span)
            clock = span.end_ns + 1_000_000
        agent_span.end_ns = clock
        agent_span.error = run.error
        agent_span.text_in = script.user_message
        last = run.turns[-1] if run.turns else None
        agent_span.text_out = None if run.error or not last else (last.content or last.refusal)
        clock += rng.randint(1, 3) * 1_000_000
    if root:
        root.end_ns = clock
        root.text_out = script.final_output or None
        root.error = script.runs[-1].error
    return RTrace(trace_id, script, spans, start_ns, clock)
