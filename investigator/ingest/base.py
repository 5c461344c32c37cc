"""What every ingest adapter shares: the shape of its output and the value coercions.

An adapter is a module with `NAME`, `sniff(record) -> bool` (does this parsed JSON record look
like my format?) and `parse(record) -> Iterator[SpanRow | TraceInfo | Rejected]`. A record is one
JSON value: one line of a JSONL file, or one element of a JSON document. Adapters build span rows
with `span_row(...)` — plain dicts with exactly the Span fields, because building a pydantic
model per span would dominate ingest time; `tests/` validates adapter output against `Span`.

Field conventions every adapter follows, so detectors never care which format a span came from:
- IDs are kept as the exporter wrote them (OTLP IDs as lowercase hex; base64 IDs are decoded to hex).
- Times go through `investigator.timefmt.to_iso`.
- `status` is "error" when the format says the span failed (OTLP status code 2, an `error` field,
  Langfuse level ERROR), "ok" when it says it succeeded, else "unset"; `status_message` carries the
  error text.
- LLM spans: `input` is a JSON array of messages and `output` a JSON array of the produced messages
  when the format has them (else plain text). A message is
  `{"role": ..., "content": ..., "tool_calls": [{"id", "name", "arguments"}], "tool_call_id", "name"}`
  with absent keys omitted; `arguments` stays the exact string the model wrote, even if not JSON.
- Tool spans: `tool_name`; `tool_args` is the argument text exactly as recorded; `input` the same
  arguments (or the tool input) and `output` the tool's result text.
- `events`: `[{"name", "time", "attributes"}]`; exceptions as `name: "exception"` with
  `exception.type`, `exception.message`, `exception.stacktrace` attributes.
- `agent`: the agent a span belongs to, when the format says; the store fills the rest by inheritance
  from the nearest agent ancestor.
- `hints`: small trace-level facts for slicing: `agent_version`, `prompt_version`, `environment`,
  `service_version`, `tags` (list), `metadata` (small dict). `attributes` keeps everything else
  the record had that is not mapped onto a field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import orjson

from investigator.errors import RecordError
from investigator.models import SPAN_KINDS, TraceInfo
from investigator.timefmt import to_iso

SpanRow = dict[str, Any]


class Rejected(NamedTuple):
    """A record (or a part of one) that cannot be normalised; it goes to quarantine."""

    reason: str
    raw: Any
    location: str | None = None


ParseResult = SpanRow | TraceInfo | Rejected


class Adapter(Protocol):
    NAME: str

    def sniff(self, record: Any) -> bool: ...

    def parse(self, record: Any) -> Iterator[ParseResult]: ...


_SPAN_DEFAULTS: dict[str, Any] = {
    "parent_id": None,
    "name": "",
    "kind": "unknown",
    "start_time": None,
    "end_time": None,
    "status": "unset",
    "status_message": None,
    "input": None,
    "output": None,
    "attributes": {},
    "model": None,
    "tool_name": None,
    "tool_args": None,
    "tokens_in": None,
    "tokens_out": None,
    "cost": None,
    "events": [],
    "agent": None,
    "source_format": "",
    "service": None,
    "session_id": None,
    "user_id": None,
    "hints": {},
}


def span_row(trace_id: Any, span_id: Any, **fields: Any) -> SpanRow:
    """A normalised span row. Raises RecordError when the identity is missing or fields are unknown."""
    if trace_id in (None, ""):
        raise RecordError("missing trace_id")
    if span_id in (None, ""):
        raise RecordError("missing span_id")
    if not fields.keys() <= _SPAN_DEFAULTS.keys():
        raise TypeError(f"unknown span fields: {sorted(fields.keys() - _SPAN_DEFAULTS.keys())}")
    row = dict(_SPAN_DEFAULTS)
    row["attributes"] = {}
    row["events"] = []
    row["hints"] = {}
    row.update(fields)
    row["trace_id"] = str(trace_id)
    row["span_id"] = str(span_id)
    if row["parent_id"] in ("", 0):
        row["parent_id"] = None
    elif row["parent_id"] is not None:
        row["parent_id"] = str(row["parent_id"])
    if row["kind"] not in SPAN_KINDS:
        row["kind"] = "unknown"
    if row["name"] is None:
        row["name"] = ""
    return row


def as_text(value: Any) -> str | None:
    """Text as is; any other JSON value serialised, so structure (messages, dicts) survives."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def time_field(record: dict[str, Any], field: str, required: bool = False) -> str | None:
    """A record's time field as ISO-8601 UTC; a missing required or unparseable value names the field."""
    value = record.get(field)
    if value in (None, ""):
        if required:
            raise RecordError(f"field '{field}' is missing")
        return None
    try:
        return to_iso(value)
    except ValueError as exc:
        raise RecordError(f"field '{field}': {exc}") from None


def as_int(value: Any) -> int | None:
    """Integers, floats and numeric strings ("2191") become ints; anything else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return int(float(text))
            except ValueError:
                return None
    return None


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def maybe_json(value: Any) -> Any:
    """Decode a string that holds a JSON object or array; return anything else unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None, *,
            drop_none: bool = False) -> dict[str, Any]:
    """Nested dicts and lists of dicts become dotted keys (`llm.input_messages.0.message.role`),
    the shape OpenInference and GenAI conventions are written in. Lists of scalars stay lists.
    `drop_none` leaves out the keys whose value is None (rather than copying the result to do so)."""
    if out is None:
        out = {}
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, (dict, list)):
                flatten(item, name, out, drop_none=drop_none)
            elif item is not None or not drop_none:  # a scalar, as most values are: set here, not by a call
                out[name] = item
    elif isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        for index, item in enumerate(value):
            flatten(item, f"{prefix}.{index}" if prefix else str(index), out, drop_none=drop_none)
    elif value is not None or not drop_none:
        out[prefix] = value
    return out


def iter_results(parse_one: Any, record: Any, location: str | None = None) -> Iterator[ParseResult]:
    """Run a single-span parser, turning RecordError/ValueError/TypeError/KeyError into Rejected."""
    try:
        result = parse_one(record)
    except (RecordError, ValueError, TypeError, KeyError, AttributeError) as exc:
        yield Rejected(reason=f"{type(exc).__name__}: {exc}", raw=record, location=location)
        return
    if result is not None:
        yield result


_KIND_WORDS: dict[str, str] = {
    "llm": "llm",
    "generation": "llm",
    "chat": "llm",
    "completion": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "response": "llm",
    "tool": "tool",
    "function": "tool",
    "execute_tool": "tool",
    "mcp_tools": "tool",
    "agent": "agent",
    "agent_step": "chain",  # the steps of an agent run (Vercel AI SDK 7's GenAI integration)
    "invoke_agent": "agent",
    "create_agent": "agent",
    "chain": "chain",
    "workflow": "chain",
    "task": "chain",
    "span": "chain",
    "custom": "chain",
    "prompt": "chain",
    "parser": "chain",
    "handoff": "chain",
    "retriever": "retriever",
    "retrieval": "retriever",
    "embedding": "embedding",
    "embeddings": "embedding",
    "reranker": "reranker",
    "rerank": "reranker",
    "guardrail": "guardrail",
    "evaluator": "evaluator",
    "eval": "evaluator",
    "conversation": "conversation",
    "session": "conversation",
}


def kind_from(word: Any) -> str:
    """Map a format's own kind/type word (OpenInference span kind, LangSmith run_type, Langfuse
    observation type, Agents SDK span_data.type, GenAI operation name) onto the 11 span kinds."""
    if not isinstance(word, str):
        return "unknown"
    return _KIND_WORDS.get(word.strip().lower(), "unknown")
