"""Langfuse observations and traces, in every shape Langfuse writes them.

Auto-detected per record:
- an observation (`GET /api/public/observations`, the v2 `GET /api/public/v2/observations`, one per
  line of a JSONL file), and `{"data": [...], "meta": {...}}` pages of observations or traces (the
  reader usually unwraps small pages before they get here);
- a trace object (`GET /api/public/traces/{id}`, or a `GET /api/public/traces` row, which lists its
  observations by id only): its trace-level facts as a TraceInfo, then its nested observations;
- a trace downloaded from the UI: `{"trace": {...}, "observations": [...]}`, or the newer
  `{"observations": [...], "scores": [...]}` with no trace object;
- an OTLP export request from a Langfuse SDK (v3 on), read by the OTLP adapter and mapped back to
  observations (see `langfuse_otel`).

An observation has `id, traceId, type` (GENERATION, SPAN, EVENT, AGENT, TOOL, CHAIN, RETRIEVER,
EMBEDDING, EVALUATOR, GUARDRAIL), `name, startTime, endTime, completionStartTime, input, output,
metadata, level` (DEBUG | DEFAULT | WARNING | ERROR), `statusMessage, parentObservationId, version,
model, modelParameters, usage{input, output, total, unit}` and/or `usageDetails`, `costDetails` /
`calculatedTotalCost` / `totalCost`, `promptName, promptVersion`. The v2 API and the UI download
give `input`/`output` (sometimes `metadata`) as the JSON text that was ingested: it is decoded once.

Generation messages come as OpenAI chat messages (with `tool_calls`), LangChain messages, Anthropic
messages or bare content-block lists (`tool_use` blocks), or OTel GenAI messages with typed `parts`;
all become the canonical messages of `base.py`, their tool calls kept. A tool's name is the one its
span attributes state (`gen_ai.tool.name`, `tool.name`, in `metadata.attributes` where the server
keeps them), else the name of the tool message it returned, else the observation's name. A SPAN
whose output is a tool message, or whose attributes name a tool, is a tool span.

Langfuse has no success flag: level ERROR is a failure, any other level a finished observation;
a WARNING keeps its message as `status_message`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from investigator.errors import RecordError
from investigator.ingest import langfuse_otel, otlp
from investigator.ingest.base import (
    ParseResult,
    Rejected,
    SpanRow,
    as_float,
    as_int,
    as_text,
    flatten,
    iter_results,
    kind_from,
    maybe_json,
    span_row,
    time_field,
)
from investigator.ingest.langsmith import lc_message, split_error
from investigator.ingest.semconv_genai import genai_messages
from investigator.models import TraceInfo

NAME = "langfuse"

_KINDS: dict[str, str] = {"GENERATION": "llm", "SPAN": "chain", "EVENT": "unknown"}
_LC_TYPES = frozenset({"human", "ai", "system", "tool", "function", "chat"})
_ANSWER_BLOCKS = frozenset({"text", "tool_use"})
_TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")


def sniff(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if "traceId" in record and "type" in record:
        return True
    if isinstance(record.get("observations"), list):
        return any(key in record for key in ("id", "timestamp", "trace", "scores"))
    data = record.get("data")
    if isinstance(data, list) and isinstance(record.get("meta"), dict):
        return any(sniff(item) for item in data[:1])
    return langfuse_otel.sent_by_sdk(record)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _is_message(value: dict[str, Any]) -> bool:
    if any(key in value for key in ("role", "lc", "tool_calls", "parts")):
        return True
    return value.get("type") in _LC_TYPES and "content" in value


def _is_content_blocks(value: list[Any]) -> bool:
    """An Anthropic answer's `content` recorded on its own: typed blocks, no message around them."""
    return (
        all(isinstance(b, dict) and isinstance(b.get("type"), str) and "role" not in b for b in value)
        and any(b["type"] in _ANSWER_BLOCKS for b in value)
    )


def _message(item: Any, role: str) -> list[dict[str, Any]] | None:
    """One recorded message as canonical messages (a GenAI message carrying tool results gives one
    message per result); None if it is not a message."""
    if isinstance(item, dict) and isinstance(item.get("parts"), list):
        return genai_messages([item], role)
    message = lc_message(item)
    return None if message is None else [message]


def _message_list(value: Any, role: str) -> list[dict[str, Any]] | None:
    """Chat messages in any shape a generation records (a list, `{"messages": [...]}`, OpenAI
    `choices`, one message, a bare content-block list) as canonical messages; None if not messages."""
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("choices"), list):
            value = [c for c in value["choices"] if isinstance(c, dict)]
        elif _is_message(value):
            value = [value]
        else:
            return None
    if not isinstance(value, list) or not value:
        return None
    if len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # LangChain batches: one message list per prompt, a trace holds one
    if _is_content_blocks(value):
        value = [{"role": role, "content": value}]
    messages: list[dict[str, Any]] = []
    for item in value:
        converted = _message(item, role)
        if converted is None:
            return None
        messages.extend(converted)
    return messages


def _messages(value: Any, role: str) -> str | None:
    """A generation's input or output as canonical messages when it holds chat messages; JSON text is
    decoded once first. Plain text becomes one message of `role`; anything else stays as recorded."""
    decoded = maybe_json(value)
    messages = _message_list(decoded, role)
    if messages is not None:
        return _dumps(messages)
    if isinstance(value, str) and value and decoded is value:
        return _dumps([{"role": role, "content": value}])
    return as_text(value)


def _tool_message(value: Any) -> dict[str, Any] | None:
    """The tool message an observation returned (LangChain `ToolMessage`, `{"role": "tool"}`), if any."""
    decoded = maybe_json(value)
    if not isinstance(decoded, dict) or not _is_message(decoded):
        return None
    message = lc_message(decoded)
    return message if message is not None and message["role"] == "tool" else None


def _stated_tool_name(metadata: dict[str, Any]) -> str | None:
    """The tool name the span's attributes state: the server keeps an OTel span's attributes in
    `metadata.attributes` (as an object or its JSON text); SDK users put them in metadata."""
    attributes = maybe_json(metadata.get("attributes"))
    for source in (attributes, metadata):
        if isinstance(source, dict):
            for key in _TOOL_NAME_KEYS:
                if isinstance(source.get(key), str) and source[key]:
                    return source[key]
    return None


def _usage(record: dict[str, Any]) -> tuple[int | None, int | None]:
    """Input and output tokens from `usageDetails`, else `usage` (when counted in tokens), else the
    flat `promptTokens`/`completionTokens` older API versions wrote."""
    usage = maybe_json(record.get("usage"))
    usage = usage if isinstance(usage, dict) and usage.get("unit") in (None, "TOKENS") else {}
    flat = {"input": record.get("promptTokens"), "output": record.get("completionTokens")}
    for source in (maybe_json(record.get("usageDetails")), usage, flat):
        if not isinstance(source, dict):
            continue
        tokens_in = as_int(source.get("input", source.get("prompt_tokens", source.get("input_tokens"))))
        tokens_out = as_int(source.get("output", source.get("completion_tokens", source.get("output_tokens"))))
        if tokens_in is not None or tokens_out is not None:
            return tokens_in, tokens_out
    return None, None


def _cost(record: dict[str, Any]) -> float | None:
    details = maybe_json(record.get("costDetails"))
    if isinstance(details, dict) and details:
        if details.get("total") is not None:
            return as_float(details["total"])
        parts = [as_float(v) for v in details.values()]
        if any(p is not None for p in parts):
            return sum(p for p in parts if p is not None)
    for value in (record.get("calculatedTotalCost"), record.get("totalCost")):
        if value is not None:
            return as_float(value)
    return None


def _hints(record: dict[str, Any]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    if record.get("version"):
        hints["agent_version"] = str(record["version"])
    if record.get("promptVersion") is not None:
        name = record.get("promptName")
        hints["prompt_version"] = f"{name}@{record['promptVersion']}" if name else str(record["promptVersion"])
    if record.get("environment"):
        hints["environment"] = str(record["environment"])
    return hints


def _attributes(record: dict[str, Any], kind_word: str, level: str, metadata: dict[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"langfuse.type": kind_word, "langfuse.level": level}
    for key in ("version", "promptName", "promptVersion", "completionStartTime", "environment"):
        if record.get(key) not in (None, ""):
            attributes[f"langfuse.{key}"] = record[key]
    parameters = maybe_json(record.get("modelParameters"))
    for key, value in (("modelParameters", parameters), ("metadata", metadata)):
        if isinstance(value, dict):
            attributes.update(flatten(value, key))
    return attributes


def _observation(record: dict[str, Any]) -> SpanRow:
    if not record.get("id"):
        raise RecordError("field 'id' is missing")
    if not record.get("traceId"):
        raise RecordError("field 'traceId' is missing")
    start, end = time_field(record, "startTime", required=True), time_field(record, "endTime")
    time_field(record, "completionStartTime")
    kind_word = str(record.get("type") or "SPAN").upper()
    kind = _KINDS.get(kind_word) or kind_from(kind_word)
    name = as_text(record.get("name")) or kind_word.lower()
    metadata = maybe_json(record.get("metadata"))
    metadata = metadata if isinstance(metadata, dict) else {}
    inputs, outputs = record.get("input"), record.get("output")
    returned = _tool_message(outputs)
    stated_tool = _stated_tool_name(metadata) if kind in ("tool", "chain") else None
    if kind == "chain" and (returned is not None or stated_tool):
        kind = "tool"
    fields: dict[str, Any] = {"kind": kind, "input": as_text(inputs), "output": as_text(outputs)}
    if kind == "llm":
        fields.update(input=_messages(inputs, "user"), output=_messages(outputs, "assistant"))
        fields["tokens_in"], fields["tokens_out"] = _usage(record)
    elif kind == "tool":
        tool_name = stated_tool or (returned or {}).get("name") or name
        result = returned["content"] if returned is not None and "content" in returned else as_text(outputs)
        fields.update(tool_name=tool_name, tool_args=as_text(inputs), output=result)
    elif kind == "agent":
        fields["agent"] = name
    model = record.get("model") or metadata.get("ls_model_name")
    level = str(record.get("level") or "DEFAULT").upper()
    message = as_text(record.get("statusMessage")) or None
    events: list[dict[str, Any]] = []
    if level == "ERROR":
        status = "error"
        message = message or "observation failed"
        message_line, exception = split_error(message)
        events.append({"name": "exception", "time": end or start, "attributes": exception})
        message = message_line
    elif end or level == "WARNING" or kind_word == "EVENT":
        status = "ok"
    else:
        status = "unset"
    return span_row(
        record["traceId"], record["id"],
        parent_id=record.get("parentObservationId"),
        name=name,
        start_time=start,
        end_time=end,
        status=status,
        status_message=message,
        model=as_text(model),
        cost=_cost(record),
        events=events,
        attributes=_attributes(record, kind_word, level, metadata),
        hints=_hints(record),
        **fields,
    )


def _trace(record: dict[str, Any]) -> TraceInfo:
    hints: dict[str, Any] = {}
    version = record.get("version") or record.get("release")
    if version:
        hints["agent_version"] = str(version)
    if record.get("release"):
        hints["service_version"] = str(record["release"])
    if record.get("environment"):
        hints["environment"] = str(record["environment"])
    if record.get("tags"):
        hints["tags"] = [str(t) for t in record["tags"]]
    metadata = maybe_json(record.get("metadata"))
    if isinstance(metadata, dict):
        small = {
            k: v for k, v in metadata.items() if isinstance(v, (str, int, float, bool)) and len(str(v)) <= 200
        }
        if small:
            hints["metadata"] = small
        if metadata.get("prompt_version"):
            hints["prompt_version"] = str(metadata["prompt_version"])
    return TraceInfo(
        trace_id=str(record["id"]),
        name=as_text(record.get("name")),
        session_id=as_text(record.get("sessionId")),
        user_id=as_text(record.get("userId")),
        start_time=time_field(record, "timestamp"),
        hints=hints,
    )


def _observations(trace_id: Any, lists: list[tuple[str, Any]]) -> Iterator[ParseResult]:
    """The observations of one trace, from every list that holds them (a download repeats them
    inside its trace object), each once; one bad observation is rejected with its location."""
    seen: set[Any] = set()
    for prefix, items in lists:
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                if prefix == "observations" and not isinstance(item, str):
                    yield Rejected("observation is not an object", item, f"{prefix}[{index}]")
                continue  # a trace listing gives observation ids only
            if item.get("id") is not None and item["id"] in seen:
                continue
            seen.add(item.get("id"))
            record = {"traceId": trace_id, **item} if trace_id and not item.get("traceId") else item
            for result in iter_results(_observation, record):
                if isinstance(result, Rejected):
                    result = Rejected(result.reason, item, f"{prefix}[{index}]")
                yield result


def _from_sdk_span(row: SpanRow) -> SpanRow:
    """A Langfuse SDK span row of the OTLP adapter, remapped as the observation it stands for."""
    span = _observation(langfuse_otel.observation(row) or {})
    if any(event["name"] == "exception" for event in row["events"]):
        span["events"] = row["events"]  # OTel's exception event has the type and stack the level lacks
    else:
        span["events"] = row["events"] + span["events"]
    span.update(session_id=row["session_id"], user_id=row["user_id"], service=row["service"])
    span["hints"] = {**row["hints"], **langfuse_otel.trace_hints(row["attributes"]), **span["hints"]}
    span["attributes"] = {**langfuse_otel.other_attributes(row["attributes"]), **span["attributes"]}
    return span


def _sdk_export(record: dict[str, Any]) -> Iterator[ParseResult]:
    named: set[str] = set()
    for result in otlp.parse(record):
        if not isinstance(result, dict) or langfuse_otel.TYPE not in result["attributes"]:
            if isinstance(result, dict):
                result["source_format"] = otlp.NAME  # another tracer's span, read as any OTLP span
            yield result
            continue
        trace_name = result["attributes"].get("langfuse.trace.name")
        if trace_name and result["trace_id"] not in named:
            named.add(result["trace_id"])
            yield TraceInfo(trace_id=result["trace_id"], name=str(trace_name))
        for parsed in iter_results(_from_sdk_span, result):
            if isinstance(parsed, Rejected):
                raw = {"traceId": result["trace_id"], "spanId": result["span_id"], "attributes": result["attributes"]}
                parsed = Rejected(parsed.reason, raw, f"span {result['span_id']}")
            yield parsed


def parse(record: Any) -> Iterator[ParseResult]:
    if not isinstance(record, dict):
        yield Rejected("not a Langfuse observation or trace object", record)
        return
    if isinstance(record.get("resourceSpans"), list):
        yield from _sdk_export(record)
        return
    if isinstance(record.get("data"), list) and "traceId" not in record:
        for index, item in enumerate(record["data"]):
            for result in parse(item):
                if isinstance(result, Rejected):
                    inner = f".{result.location}" if result.location else ""
                    result = Rejected(result.reason, result.raw, f"data[{index}]{inner}")
                yield result
        return
    if "traceId" in record or not isinstance(record.get("observations"), list):
        yield from iter_results(_observation, record)
        return
    trace = record.get("trace") if isinstance(record.get("trace"), dict) else None
    if trace is None and "trace" not in record and ("id" in record or "timestamp" in record):
        trace = record  # a trace object with its observations nested
    lists: list[tuple[str, Any]] = [("observations", record["observations"])]
    if trace is not None and trace is not record:
        lists.append(("trace.observations", trace.get("observations")))
    if trace is not None:
        if not trace.get("id"):
            yield Rejected("field 'trace.id' is missing" if trace is not record else "field 'id' is missing", record)
            return
        yield from iter_results(_trace, trace)
    yield from _observations(trace["id"] if trace else None, lists)
