"""Langfuse observations and traces, as the public API and its exports write them.

An observation has `id, traceId, type` (GENERATION, SPAN, EVENT, AGENT, TOOL, CHAIN, RETRIEVER,
EMBEDDING, EVALUATOR, GUARDRAIL), `name, startTime, endTime, input, output, metadata, level`
(DEBUG | DEFAULT | WARNING | ERROR), `statusMessage, parentObservationId, model, usage` /
`usageDetails`, `costDetails`. A trace object (`id, name, timestamp, sessionId, userId, release,
version, tags, metadata, observations`) yields its trace-level facts and then its observations.
"""

from __future__ import annotations

from typing import Any, Iterator

import orjson

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    Rejected,
    as_float,
    as_int,
    as_text,
    iter_results,
    kind_from,
    span_row,
)
from investigator.ingest.semconv import genai_messages
from investigator.models import TraceInfo
from investigator.timefmt import to_iso

NAME = "langfuse"


def sniff(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    return ("traceId" in record and "type" in record) or (
        "id" in record and isinstance(record.get("observations"), list)
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _messages(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list):
        messages = genai_messages(value)
        if messages is not None:
            return _dumps(messages)
    if isinstance(value, dict) and ("role" in value or "tool_calls" in value):
        return _dumps(genai_messages([value]))
    if isinstance(value, str) and value:
        return value
    return as_text(value)


def _observation(record: dict[str, Any]) -> dict[str, Any]:
    for field in ("id", "traceId", "startTime"):
        if not record.get(field):
            raise RecordError(f"field '{field}' is missing")
    kind_word = str(record.get("type") or "SPAN").lower()
    kind = "llm" if kind_word == "generation" else kind_from(kind_word)
    if kind_word == "event":
        kind = "chain"
    usage = record.get("usageDetails") or record.get("usage") or {}
    fields: dict[str, Any] = {"kind": kind}
    if kind == "llm":
        fields.update(
            model=record.get("model"),
            input=_messages(record.get("input")),
            output=_messages(record.get("output")),
            tokens_in=as_int(usage.get("input", usage.get("promptTokens", usage.get("input_tokens")))),
            tokens_out=as_int(usage.get("output", usage.get("completionTokens", usage.get("output_tokens")))),
        )
    else:
        fields.update(input=as_text(record.get("input")), output=as_text(record.get("output")))
    if kind == "tool":
        fields.update(tool_name=record.get("name"), tool_args=as_text(record.get("input")))
    if kind == "agent":
        fields["agent"] = record.get("name")
    level = str(record.get("level") or "DEFAULT").upper()
    message = record.get("statusMessage") or None
    end = record.get("endTime")
    status = "error" if level == "ERROR" else ("ok" if end else "unset")
    cost = record.get("calculatedTotalCost")
    if cost is None and isinstance(record.get("costDetails"), dict):
        cost = record["costDetails"].get("total")
    attributes: dict[str, Any] = {"langfuse.level": level}
    for key in ("modelParameters", "metadata", "completionStartTime", "version"):
        if record.get(key) not in (None, {}, ""):
            attributes[key] = record[key]
    hints: dict[str, Any] = {}
    if record.get("promptVersion") is not None:
        hints["prompt_version"] = str(record["promptVersion"])
    if record.get("version"):
        hints["agent_version"] = str(record["version"])
    return span_row(
        record["traceId"], record["id"],
        parent_id=record.get("parentObservationId"),
        name=record.get("name") or kind_word,
        start_time=to_iso(record["startTime"]),
        end_time=to_iso(end) if end else None,
        status=status,
        status_message=message,
        cost=as_float(cost),
        attributes=attributes,
        hints=hints,
        **fields,
    )  # fmt: skip


def _trace(record: dict[str, Any]) -> TraceInfo:
    hints: dict[str, Any] = {}
    version = record.get("release") or record.get("version")
    if version:
        hints["agent_version"] = str(version)
    if record.get("tags"):
        hints["tags"] = list(record["tags"])
    metadata = record.get("metadata")
    if isinstance(metadata, dict) and metadata:
        hints["metadata"] = metadata
        if metadata.get("prompt_version"):
            hints["prompt_version"] = str(metadata["prompt_version"])
    timestamp = record.get("timestamp")
    return TraceInfo(
        trace_id=record["id"],
        name=record.get("name"),
        session_id=record.get("sessionId"),
        user_id=record.get("userId"),
        start_time=to_iso(timestamp) if timestamp else None,
        hints=hints,
    )


def parse(record: Any) -> Iterator[ParseResult]:
    if "observations" in record and "traceId" not in record:
        if not record.get("id"):
            yield Rejected("field 'id' is missing", record)
            return
        yield from iter_results(_trace, record)
        for index, item in enumerate(record["observations"]):
            if isinstance(item, dict):
                item = {"traceId": record["id"], **item}
                for result in iter_results(_observation, item):
                    if isinstance(result, Rejected):
                        result = result._replace(location=f"observations[{index}]")
                    yield result
        return
    yield from iter_results(_observation, record)
