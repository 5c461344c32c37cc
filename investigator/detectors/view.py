"""TraceView: one trace and its spans, with the questions detectors ask of them.

Detectors reason about span semantics (kinds, status, tool calls and their results, message
roles, step order), never about one framework's field spellings: ingest has already mapped every
format onto the conventions of `investigator.ingest.base`, and this view reads those.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from typing import Any, NamedTuple

import orjson

from investigator.detectors.population import PopulationStats
from investigator.detectors.requests import code_requests, repr_requests
from investigator.detectors.schemas import tool_schemas
from investigator.evidence import MIN_QUOTE_CHARS, quotable_texts
from investigator.models import Span, Trace, in_start_order

MAX_QUOTE = 200


class ToolCall(NamedTuple):
    """A tool call the model requested in one LLM span's output. `as_code`: written as code a code
    agent runs, so `arguments` is the call's source text, not JSON."""

    span: Span
    id: str | None
    name: str
    arguments: str
    as_code: bool = False


def parse_messages(text: str | None) -> list[dict[str, Any]] | None:
    """A message array (or single message object) in the conventions of base.py; None for plain text."""
    if not text or text.lstrip()[:1] not in ("[", "{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and "role" in value:
        value = [value]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        return value
    return None


def content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if content is None:
        return ""
    return content if isinstance(content, str) else orjson.dumps(content).decode()


def exception_events(span: Span) -> list[dict[str, Any]]:
    """The attributes of a span's exception events."""
    if not span.events:
        return []
    found = []
    for event in span.events:
        attrs = event.get("attributes") or {}
        if event.get("name") == "exception" or "exception.message" in attrs or "exception.type" in attrs:
            found.append(attrs)
    return found


def find_quote(span: Span, needle: str, fields: tuple[str, ...] | None = None) -> str | None:
    """`needle` as it appears verbatim in one of the span's texts (`evidence.quotable_texts`: as
    stored, or a string value decoded from the JSON it is stored in), clipped to MAX_QUOTE; else
    None. When the whole needle is not there (text joined from several messages), its first line
    will do."""
    needle = needle.strip()
    first_line = needle.split("\n", 1)[0].strip()
    for candidate in dict.fromkeys((needle[:MAX_QUOTE], first_line[:MAX_QUOTE], first_line[:60])):
        if len(candidate) < MIN_QUOTE_CHARS:
            continue
        for name, text in quotable_texts(span):
            if (fields is None or name in fields) and candidate in text:
                return candidate
    return None


def excerpt(text: str, start: int, end: int, width: int = 160) -> str:
    """A verbatim slice of `text` around [start, end), at most `width` characters long."""
    if end - start >= width:
        return text[start : start + width]
    pad = (width - (end - start)) // 2
    lo = max(0, start - pad)
    hi = min(len(text), end + pad)
    return text[lo:hi].strip() or text[start:end]


class TraceView:
    """A trace and its spans, indexed for detectors. `population` carries statistics over the
    traces being analysed together (for outlier detectors); it may be None."""

    def __init__(self, trace: Trace, spans: list[Span], population: PopulationStats | None = None) -> None:
        self.trace = trace
        self.population = population
        self.spans: list[Span] = in_start_order(spans)
        self._index = {s.span_id: i for i, s in enumerate(self.spans)}
        self.by_id: dict[str, Span] = {s.span_id: s for s in self.spans}
        self._children: dict[str, list[Span]] = {}
        for span in self.spans:
            if span.parent_id and span.parent_id in self.by_id:
                self._children.setdefault(span.parent_id, []).append(span)
        self._messages: dict[tuple[str, str], list[dict[str, Any]] | None] = {}
        self._said: dict[tuple[str, str, tuple[str, ...]], str] = {}
        self._calls: dict[str, list[ToolCall]] = {}

    @property
    def trace_id(self) -> str:
        return self.trace.trace_id

    # ---- structure ----

    def position(self, span: Span) -> int:
        return self._index[span.span_id]

    def children(self, span: Span) -> list[Span]:
        return self._children.get(span.span_id, [])

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span.parent_id) if span.parent_id else None

    def ancestors(self, span: Span) -> list[Span]:
        out, seen = [], {span.span_id}
        current = self.parent(span)
        while current is not None and current.span_id not in seen:
            out.append(current)
            seen.add(current.span_id)
            current = self.parent(current)
        return out

    def descendants(self, span: Span) -> Iterator[Span]:
        stack = list(self.children(span))
        seen: set[str] = set()
        while stack:
            child = stack.pop()
            if child.span_id in seen:
                continue
            seen.add(child.span_id)
            yield child
            stack.extend(self.children(child))

    def after(self, span: Span) -> list[Span]:
        """Spans that start after `span` in trace order, excluding its ancestors (which enclose it)."""
        enclosing = {a.span_id for a in self.ancestors(span)}
        return [s for s in self.spans[self.position(span) + 1 :] if s.span_id not in enclosing]

    def before(self, span: Span) -> list[Span]:
        return self.spans[: self.position(span)]

    @cached_property
    def llm_spans(self) -> list[Span]:
        return [s for s in self.spans if s.kind == "llm"]

    @cached_property
    def tool_spans(self) -> list[Span]:
        return [s for s in self.spans if s.kind == "tool" and s.tool_name != "mcp_list_tools"]

    def next_llm(self, span: Span) -> Span | None:
        """The next model step after `span`: the first later LLM span, preferring the same agent."""
        later = [s for s in self.after(span) if s.kind == "llm" and s.span_id not in self._inside(span)]
        if span.agent:
            same = [s for s in later if s.agent == span.agent]
            if same:
                return same[0]
        return later[0] if later else None

    def is_terminal(self, span: Span) -> bool:
        """No later model step of the same agent can read what this span produced: the run's last
        action, or an answer tool whose result nothing reads. A trace without model steps says
        nothing either way (False)."""
        if not self.llm_spans:
            return False
        inside = self._inside(span)
        later = [s for s in self.after(span) if s.kind == "llm" and s.span_id not in inside]
        return not later or bool(span.agent) and all(s.agent and s.agent != span.agent for s in later)

    def previous_llm(self, span: Span) -> Span | None:
        earlier = [s for s in self.before(span) if s.kind == "llm"]
        if span.agent:
            same = [s for s in earlier if s.agent == span.agent]
            if same:
                return same[-1]
        return earlier[-1] if earlier else None

    def _inside(self, span: Span) -> set[str]:
        return {d.span_id for d in self.descendants(span)}

    # ---- messages ----

    def messages(self, span: Span, field: str = "output") -> list[dict[str, Any]] | None:
        """Parsed message array of an LLM span's `input` or `output`; None when it is plain text."""
        key = (span.span_id, field)
        if key not in self._messages:
            self._messages[key] = parse_messages(getattr(span, field))
        return self._messages[key]

    def assistant_text(self, span: Span) -> str:
        """What the model said (not the calls it made) in an LLM span's output. Text that is only
        the Python repr of the calls it made says nothing."""
        said = self._raw_said(span)
        return "" if said and repr_requests(said) else said

    def answer_text(self, span: Span) -> str:
        """What a model step told the user: its text, and when it ended the run with a call (an
        answer tool), that call's arguments too."""
        said = self.assistant_text(span)
        calls = self.tool_calls(span)
        if calls and self.is_terminal(span):
            said = "\n".join([said, *(c.arguments for c in calls if self.answers_with(c))]).strip()
        return said

    def answers_with(self, call: ToolCall) -> bool:
        """An answer tool: the run's output, or the tool's own result, repeats what the call passed."""
        values = [v for v in argument_values(call.arguments) if len(v) >= 8]
        ran = self.execution_of(call)
        outputs = [s.output for s in self.spans if self.parent(s) is None and s.output]
        if ran is not None and ran.output:
            outputs.append(ran.output)
        return any(v in out for v in values for out in outputs)

    def _raw_said(self, span: Span) -> str:
        return self._text_of(span, "output", ("assistant", "model", "ai"))

    def user_text(self, span: Span) -> str:
        """The user and system turns an LLM span was given (what the caller asked for)."""
        return self._text_of(span, "input", ("user", "system", "developer", "human"))

    def request_text(self, span: Span) -> str:
        """The user's own turns an LLM span was given (not the system prompt, which may name every
        tool the agent has)."""
        return self._text_of(span, "input", ("user", "human"))

    def _text_of(self, span: Span, field: str, roles: tuple[str, ...]) -> str:
        key = (span.span_id, field, roles)
        text = self._said.get(key)
        if text is None:
            messages = self.messages(span, field)
            if messages is None:
                text = getattr(span, field) or ""
            else:
                text = "\n".join(content_text(m) for m in messages if m.get("role") in roles)
            self._said[key] = text
        return text

    def tool_calls(self, span: Span) -> list[ToolCall]:
        """The tool calls the model requested in an LLM span's output."""
        calls = self._calls.get(span.span_id)
        if calls is None:
            calls = self._calls[span.span_id] = self._requested(span)
        return calls

    def _requested(self, span: Span) -> list[ToolCall]:
        messages = self.messages(span, "output") or []
        calls = []
        for message in messages:
            for call in message.get("tool_calls") or []:
                if not isinstance(call, dict) or not call.get("name"):
                    continue
                arguments = call.get("arguments")
                if not isinstance(arguments, str):
                    arguments = "" if arguments is None else orjson.dumps(arguments).decode()
                calls.append(ToolCall(span, call.get("id"), str(call["name"]), arguments))
        if calls:
            return calls
        said = self._raw_said(span)
        requests = repr_requests(said) or code_requests(said, self.tool_names)
        return [ToolCall(span, r.id, r.name, r.arguments, r.as_code) for r in requests]

    @cached_property
    def tool_names(self) -> set[str]:
        """Every tool the trace shows: executed, or defined for the model."""
        return {s.tool_name for s in self.tool_spans if s.tool_name} | set(self.schemas)

    @cached_property
    def all_tool_calls(self) -> list[ToolCall]:
        return [call for span in self.llm_spans for call in self.tool_calls(span)]

    def requesting_call(self, tool_span: Span) -> ToolCall | None:
        """The model call that asked for this tool execution: matched by call id when the tool span
        carries one, else the latest earlier call of the same tool (same arguments preferred)."""
        call_id = tool_span.attributes.get("tool_call.id") or tool_span.attributes.get("gen_ai.tool.call.id")
        name = tool_span.tool_name or tool_span.name
        earlier = [c for c in self.all_tool_calls if self.position(c.span) < self.position(tool_span)]
        if call_id:
            for call in earlier:
                if call.id == call_id:
                    return call
        same = [c for c in earlier if c.name == name]
        exact = [c for c in same if _same_args(c.arguments, tool_span.tool_args)]
        if exact:
            return exact[-1]
        return same[-1] if same else None

    def execution_of(self, call: ToolCall) -> Span | None:
        """The tool span that ran a requested call, if the trace records one."""
        return self._executions.get(_call_key(call))

    @cached_property
    def _executions(self) -> dict[tuple[str, str | None, str, str, bool], Span]:
        """Each requested call's first tool span (`requesting_call` only looks at earlier calls)."""
        ran: dict[tuple[str, str | None, str, str, bool], Span] = {}
        for span in self.tool_spans:
            call = self.requesting_call(span)
            if call is not None:
                ran.setdefault(_call_key(call), span)
        return ran

    def surfacing_of(self, call: ToolCall) -> Span | None:
        """Where a bad call showed: the tool span that ran it, else a later step that reported an
        error naming it, else the failed step enclosing the model call, else the same agent's next
        model step (the framework fed the complaint back as its input)."""
        ran = self.execution_of(call)
        if ran is not None:
            return ran
        named = re.compile(rf"(?<![\w.]){re.escape(call.name)}(?!\w)")
        for span in self.after(call.span):
            if span.kind == "llm":
                break
            text = " ".join(filter(None, [span.status_message, span.output and span.output[:2000]]))
            if named.search(text) and (span.status == "error" or re.search(r"(?i)\berror\b|not (?:a )?valid", text)):
                return span
        failed = next((s for s in self.ancestors(call.span) if s.status == "error"), None)
        if failed is not None:
            return failed
        following = self.next_llm(call.span)
        if following is not None and following.agent == call.span.agent and named.search(following.input or ""):
            return following
        return None

    @cached_property
    def schemas(self) -> dict[str, dict[str, Any]]:
        """Tool name → JSON schema of its parameters, from whatever tool definitions the trace carries."""
        return tool_schemas(self.spans)


def canonical_args(arguments: str | None) -> str:
    """Arguments in a canonical form, so `{"a":1, "b":2}` and `{"b": 2, "a": 1}` compare equal."""
    if not arguments:
        return ""
    try:
        return orjson.dumps(orjson.loads(arguments), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return arguments.strip()


def _same_args(a: str | None, b: str | None) -> bool:
    return canonical_args(a) == canonical_args(b)


def args_parse(arguments: str | None) -> bool:
    """True when arguments are absent or valid JSON (what a function-calling tool expects)."""
    if not arguments or not arguments.strip():
        return True
    try:
        orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return False
    return True


def _call_key(call: ToolCall) -> tuple[str, str | None, str, str, bool]:
    """A call as a dict key (its span, a pydantic model, is not hashable)."""
    return call.span.span_id, call.id, call.name, call.arguments, call.as_code


def argument_values(arguments: str | None) -> list[str]:
    """The scalar values a call passed, as text (an envelope's kwargs and args included)."""
    if not arguments or not arguments.strip():
        return []
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return [arguments.strip()]
    if isinstance(value, dict) and {"args", "kwargs"} & set(value):
        kwargs = value.get("kwargs") if isinstance(value.get("kwargs"), dict) else {}
        args = value.get("args") if isinstance(value.get("args"), list) else []
        items = [*args, *kwargs.values()]
    elif isinstance(value, dict):
        items = list(value.values())
    else:
        items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if isinstance(v, (str, int, float)) and not isinstance(v, bool) and str(v).strip()]
