"""Langfuse observations and traces, as the public API (`GET /api/public/observations`,
`GET /api/public/traces/{id}`) and its exports write them.

An observation has `id, traceId, type` (GENERATION, SPAN, EVENT, AGENT, TOOL, CHAIN, RETRIEVER,
EMBEDDING, EVALUATOR, GUARDRAIL), `name, startTime, endTime, completionStartTime, input, output,
metadata, level` (DEBUG | DEFAULT | WARNING | ERROR), `statusMessage, parentObservationId, version,
model, modelParameters, usage{input, output, total, unit}` and/or `usageDetails`, `costDetails` /
`calculatedTotalCost`, `promptName, promptVersion`.

A trace object (`id, name, timestamp, input, output, sessionId, userId, release, version, tags,
metadata, observations`) yields its trace-level facts as a TraceInfo, then its observations when
they are nested as objects (the list endpoint gives only their ids).

Langfuse has no success flag: level ERROR is a failure, any other level a finished observation;
a WARNING keeps its message as `status_message`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    Rejected,
    as_float,
    as_int,
    as_text,
    flatten,
    iter_results,
    kind_from,
    span_row,
    time_field,
)
from investigator.ingest.langsmith import lc_message, lc_messages, split_error
from investigator.models import TraceInfo

NAME = "langfuse"

_KINDS: dict[str, str] = {"GENERATION": "llm", "SPAN": "chain", "EVENT": "unknown"}


def sniff(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if "traceId" in record and "type" in record:
        return True
    return isinstance(record.get("observations"), list) and ("id" in record or "timestamp" in record)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _messages(value: Any, role: str) -> str | None:
    """A generation's input or output as canonical messages when it holds chat messages
    (a list, `{"messages": [...]}`, one message, or OpenAI `choices`); a bare string becomes one
    message of `role`; anything else stays as recorded."""
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list):
            value = value["messages"]
        elif isinstance(value.get("choices"), list):
            value = [c for c in value["choices"] if isinstance(c, dict)]
    if isinstance(value, list):
        messages = lc_messages(value)
        if messages is not None:
            return _dumps(messages)
    if isinstance(value, dict) and ("role" in value or "lc" in value or "tool_calls" in value):
        message = lc_message(value)
        if message is not None:
            return _dumps([message])
    if isinstance(value, str) and value:
        return _dumps([{"role": role, "content": value}])
    return as_text(value)


def _usage(record: dict[str, Any]) -> tuple[int | None, int | None]:
    """Input and output tokens from `usageDetails`, else `usage` (when counted in tokens), else the
    flat `promptTokens`/`completionTokens` older API versions wrote."""
    usage = record.get("usage") if isinstance(record.get("usage"), dict) else {}
    if usage.get("unit") not in (None, "TOKENS"):
        usage = {}
    flat = {"input": record.get("promptTokens"), "output": record.get("completionTokens")}
    for source in (record.get("usageDetails"), usage, flat):
        if not isinstance(source, dict):
            continue
        tokens_in = as_int(source.get("input", source.get("prompt_tokens", source.get("input_tokens"))))
        tokens_out = as_int(source.get("output", source.get("completion_tokens", source.get("output_tokens"))))
        if tokens_in is not None or tokens_out is not None:
            return tokens_in, tokens_out
    return None, None


def _cost(record: dict[str, Any]) -> float | None:
    details = record.get("costDetails")
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


def _tool_output(value: Any) -> str | None:
    if isinstance(value, dict) and ("lc" in value or value.get("type") == "tool"):
        message = lc_message(value)
        if message is not None and message.get("content") is not None:
            return message["content"]
    return as_text(value)


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


def _attributes(record: dict[str, Any], kind_word: str, level: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {"langfuse.type": kind_word, "langfuse.level": level}
    for key in ("version", "promptName", "promptVersion", "completionStartTime", "environment"):
        if record.get(key) not in (None, ""):
            attributes[f"langfuse.{key}"] = record[key]
    for key in ("modelParameters", "metadata"):
        if isinstance(record.get(key), dict):
            attributes.update(flatten(record[key], key))
    return attributes


def _observation(record: dict[str, Any]) -> dict[str, Any]:
    if not record.get("id"):
        raise RecordError("field 'id' is missing")
    if not record.get("traceId"):
        raise RecordError("field 'traceId' is missing")
    start, end = time_field(record, "startTime", required=True), time_field(record, "endTime")
    time_field(record, "completionStartTime")
    kind_word = str(record.get("type") or "SPAN").upper()
    kind = _KINDS.get(kind_word) or kind_from(kind_word)
    name = as_text(record.get("name")) or kind_word.lower()
    inputs, outputs = record.get("input"), record.get("output")
    fields: dict[str, Any] = {"kind": kind, "input": as_text(inputs), "output": as_text(outputs)}
    if kind == "llm":
        fields.update(input=_messages(inputs, "user"), output=_messages(outputs, "assistant"))
        fields["tokens_in"], fields["tokens_out"] = _usage(record)
    elif kind == "tool":
        fields.update(tool_name=name, tool_args=as_text(inputs), output=_tool_output(outputs))
    elif kind == "agent":
        fields["agent"] = name
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
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
        attributes=_attributes(record, kind_word, level),
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
    metadata = record.get("metadata")
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


def parse(record: Any) -> Iterator[ParseResult]:
    if not isinstance(record, dict):
        yield Rejected("not a Langfuse observation or trace object", record)
        return
    if "traceId" in record or "observations" not in record:
        yield from iter_results(_observation, record)
        return
    if not record.get("id"):
        yield Rejected("field 'id' is missing", record)
        return
    yield from iter_results(_trace, record)
    for index, item in enumerate(record["observations"]):
        if not isinstance(item, dict):
            continue  # the list endpoint gives observation ids only
        for result in iter_results(_observation, {"traceId": record["id"], **item}):
            if isinstance(result, Rejected):
                result = Rejected(result.reason, item, f"observations[{index}]")
            yield result
