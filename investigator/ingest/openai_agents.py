"""OpenAI Agents SDK traces: the SDK's own `Trace.export()` / `Span.export()` rows, and the
shapes export tools write from them.

A trace row is `{"object": "trace", "id": "trace_…", "workflow_name", "group_id", "metadata"}`;
a span row is `{"object": "trace.span", "id": "span_…", "trace_id", "parent_id", "started_at",
"ended_at", "span_data": {"type": …}, "error": {"message", "data"} | null}` with an optional
`metadata` dict. They arrive one per line, or as the SDK's `BackendSpanExporter` POSTs them
(`{"data": [row, …]}`, unwrapped by the reader). Export tools also write:
- nested exports, `{"traces": [{<trace row>, "spans": [<span row>, …]}]}` (or one such trace per
  line), whose spans may leave out the `trace_id` they share with their trace;
- flattened rows, whose `span_data` fields are top-level `span_data_<field>` keys (an object
  field, such as `span_data_usage`, may be JSON text).

`span_data.type` is one of agent, function, generation, response, handoff, guardrail, custom,
transcription, speech, speech_group or mcp_tools; each maps onto one span kind.

Generation spans carry Chat Completions messages; when the SDK streams, the output is a dumped
Responses API `Response`. The SDK exports a response span as its `response_id` and `usage` only;
a processor that also records the `Response` object and its input items (as
`InvestigatorTracingProcessor` does) gives it its model and its input and output messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, Rejected, as_int, as_text, iter_results, maybe_json, span_row
from investigator.ingest.openai_messages import content_text, from_items, is_response, messages_text
from investigator.models import TraceInfo
from investigator.timefmt import to_iso

NAME = "openai-agents"

_OBJECTS = ("trace", "trace.span")
_FLAT = "span_data_"
# span_data fields the SDK always writes as objects; a flattened export may hold them as JSON text.
_OBJECT_FIELDS = ("usage", "model_config", "response", "mcp_data", "data")

_KINDS: dict[str, str] = {
    "agent": "agent",
    "function": "tool",
    "mcp_tools": "tool",
    "generation": "llm",
    "response": "llm",
    "transcription": "llm",
    "speech": "llm",
    "handoff": "chain",
    "custom": "chain",
    "speech_group": "chain",
    "guardrail": "guardrail",
}

# Trace metadata keys that name a slice the rollup understands, with the spellings teams use.
_HINT_KEYS: dict[str, tuple[str, ...]] = {
    "agent_version": ("agent_version", "agent.version", "agentVersion"),
    "prompt_version": ("prompt_version", "prompt.version", "promptVersion"),
    "environment": ("environment", "env", "deployment.environment"),
    "service_version": ("service_version", "service.version", "app_version"),
}


def sniff(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if record.get("object") in _OBJECTS:
        return True
    traces = record.get("traces")
    first = traces[0] if isinstance(traces, list) and traces else None
    return isinstance(first, dict) and first.get("object") == "trace"


def parse(record: Any) -> Iterator[ParseResult]:
    if not isinstance(record, dict):
        yield Rejected("record is not a JSON object", record)
        return
    obj = record.get("object")
    if obj is None and "traces" in record:
        yield from _parse_export(record)
    elif obj == "trace":
        yield from _parse_nested_trace(record, None)
    elif obj == "trace.span":
        yield from iter_results(_parse_span, record)
    else:
        yield Rejected(f"object: expected 'trace' or 'trace.span', got {obj!r}", record)


def _at(location: str | None, part: str) -> str:
    return f"{location}.{part}" if location else part


def _parse_export(record: dict[str, Any]) -> Iterator[ParseResult]:
    """A nested export: `{"traces": [trace, …]}`, each trace with its `spans`."""
    traces = record["traces"]
    if not isinstance(traces, list):
        yield Rejected(f"traces: expected an array, got {type(traces).__name__}", record, "traces")
        return
    for index, trace in enumerate(traces):
        location = f"traces[{index}]"
        if not isinstance(trace, dict) or trace.get("object") != "trace":
            yield Rejected('expected a trace object ({"object": "trace", …})', trace, location)
            continue
        yield from _parse_nested_trace(trace, location)


def _parse_nested_trace(trace: dict[str, Any], location: str | None) -> Iterator[ParseResult]:
    """A trace row, and the span rows it nests under `spans` (which inherit its id when they
    leave `trace_id` out)."""
    yield from iter_results(_parse_trace, trace, location)
    spans = trace.get("spans")
    if spans is None:
        return
    if not isinstance(spans, list):
        yield Rejected(f"spans: expected an array, got {type(spans).__name__}", trace, _at(location, "spans"))
        return
    for index, span in enumerate(spans):
        where = _at(location, f"spans[{index}]")
        if isinstance(span, dict) and span.get("object", "trace.span") != "trace.span":
            yield Rejected(f"object: expected 'trace.span', got {span['object']!r}", span, where)
            continue
        if isinstance(span, dict) and span.get("trace_id") in (None, ""):
            span = {**span, "trace_id": trace.get("id")}
        yield from iter_results(_parse_span, span, where)


def _parse_trace(record: dict[str, Any]) -> TraceInfo:
    trace_id = record.get("id")
    if not isinstance(trace_id, str) or not trace_id:
        raise RecordError("missing id")
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RecordError(f"metadata: expected an object, got {type(metadata).__name__}")
    hints: dict[str, Any] = {}
    user_id = None
    service = None
    if metadata:
        hints["metadata"] = metadata
        for hint, keys in _HINT_KEYS.items():
            value = next((metadata[k] for k in keys if metadata.get(k) not in (None, "")), None)
            if value is not None:
                hints[hint] = str(value)
        tags = metadata.get("tags")
        if isinstance(tags, list):
            hints["tags"] = [str(t) for t in tags]
        elif isinstance(tags, str) and tags:
            hints["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
        user_id = as_text(metadata.get("user_id")) or None
        service = as_text(metadata.get("service") or metadata.get("service.name")) or None
    return TraceInfo(
        trace_id=trace_id,
        name=as_text(record.get("workflow_name")) or None,
        session_id=as_text(record.get("group_id")) or None,
        user_id=user_id,
        service=service,
        hints=hints,
    )


def _parse_span(record: dict[str, Any]) -> dict[str, Any]:
    span_id, trace_id = record.get("id"), record.get("trace_id")
    if not isinstance(span_id, str) or not span_id:
        raise RecordError("missing id")
    if not isinstance(trace_id, str) or not trace_id:
        raise RecordError("missing trace_id")
    data = _span_data(record)
    span_type = data.get("type")
    if not isinstance(span_type, str) or not span_type:
        raise RecordError("missing span_data_type" if "span_data" not in record else "missing span_data.type")

    fields: dict[str, Any] = {
        "parent_id": record.get("parent_id"),
        "kind": _KINDS.get(span_type, "unknown"),
        "name": span_type,
        "start_time": to_iso(record.get("started_at")),
        "end_time": to_iso(record.get("ended_at")),
        "status": "ok" if record.get("ended_at") else "unset",
        "attributes": {"span_type": span_type},
    }
    mapper = _MAPPERS.get(span_type)
    if mapper is None:
        fields["attributes"]["span_data"] = data
    else:
        mapper(data, fields)

    error = record.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise RecordError(f"error: expected an object or null, got {type(error).__name__}")
        fields["status"] = "error"
        fields["status_message"] = as_text(error.get("message")) or "error"
        if error.get("data") is not None:
            fields["attributes"]["error.data"] = error["data"]
    if isinstance(record.get("metadata"), dict):
        fields["attributes"]["metadata"] = record["metadata"]
    return span_row(trace_id, span_id, **fields)


def _span_data(record: dict[str, Any]) -> dict[str, Any]:
    """The row's `span_data` object, with the fields a flattened export wrote as `span_data_<field>`."""
    nested = record.get("span_data")
    if nested is not None and not isinstance(nested, dict):
        raise RecordError(f"span_data: expected an object, got {type(nested).__name__}")
    flat = {key[len(_FLAT) :]: value for key, value in record.items() if key.startswith(_FLAT)}
    if nested is None and not flat:
        raise RecordError("missing span_data")
    for field in _OBJECT_FIELDS:
        decoded = maybe_json(flat.get(field))
        if isinstance(decoded, dict):
            flat[field] = decoded
    return {**flat, **(nested or {})}


# ---- span_data mappers: each fills `fields` from one span_data type ----


def _agent(data: dict[str, Any], fields: dict[str, Any]) -> None:
    name = as_text(data.get("name")) or "agent"
    fields["name"] = name
    fields["agent"] = name
    attrs = fields["attributes"]
    for key in ("handoffs", "tools", "output_type"):
        if data.get(key) is not None:
            attrs[key] = data[key]


def _function(data: dict[str, Any], fields: dict[str, Any]) -> None:
    name = as_text(data.get("name")) or "function"
    fields["name"] = name
    fields["tool_name"] = name
    fields["tool_args"] = as_text(data.get("input"))
    fields["input"] = fields["tool_args"]
    fields["output"] = as_text(data.get("output"))
    if data.get("mcp_data") is not None:
        fields["attributes"]["mcp_data"] = data["mcp_data"]


def _generation(data: dict[str, Any], fields: dict[str, Any]) -> None:
    model = as_text(data.get("model")) or None
    fields["name"] = f"generation {model}" if model else "generation"
    fields["model"] = model
    fields["input"] = messages_text(data.get("input"))
    output = data.get("output")
    if isinstance(output, list) and output and all(is_response(o) for o in output):
        # A streamed Chat Completions call records the synthesised Responses API object.
        response = output[-1]
        fields["output"] = as_text(from_items(response.get("output") or []))
        fields["model"] = model or as_text(response.get("model")) or None
        _usage(response.get("usage"), fields)
    else:
        fields["output"] = messages_text(output)
    _model_config(data.get("model_config"), fields)
    _usage(data.get("usage"), fields)


def _response(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = "response"
    attrs = fields["attributes"]
    if data.get("response_id"):
        attrs["response_id"] = data["response_id"]
    response = data.get("response") if isinstance(data.get("response"), dict) else {}
    messages: list[dict[str, Any]] = []
    if response.get("instructions"):
        messages.append({"role": "system", "content": content_text(response["instructions"])})
    given = data.get("input")
    if isinstance(given, str):
        messages.append({"role": "user", "content": given})
    elif isinstance(given, list):
        messages.extend(from_items(given))
    fields["input"] = as_text(messages) if messages else None
    if response:
        attrs.setdefault("response_id", response.get("id"))
        fields["output"] = as_text(from_items(response.get("output") or []))
        fields["model"] = as_text(response.get("model")) or None
        if response.get("status") not in (None, "completed"):
            attrs["response_status"] = response["status"]
        _usage(response.get("usage"), fields)
    if fields.get("model"):
        fields["name"] = f"response {fields['model']}"
    _usage(data.get("usage"), fields)


def _handoff(data: dict[str, Any], fields: dict[str, Any]) -> None:
    source, target = as_text(data.get("from_agent")), as_text(data.get("to_agent"))
    fields["name"] = f"handoff {source or '?'} -> {target or '?'}"
    fields["input"] = source
    fields["output"] = target
    fields["attributes"].update({"from_agent": source, "to_agent": target})


def _guardrail(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = as_text(data.get("name")) or "guardrail"
    triggered = bool(data.get("triggered"))
    fields["attributes"]["triggered"] = triggered
    fields["output"] = as_text({"triggered": triggered})


def _custom(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = as_text(data.get("name")) or "custom"
    payload = data.get("data")
    if payload is not None:
        fields["attributes"]["data"] = payload
        fields["output"] = as_text(payload)
    # Runner task/turn spans are exported as custom spans; a turn names the agent it ran.
    if isinstance(payload, dict) and payload.get("sdk_span_type") == "turn":
        fields["agent"] = as_text(payload.get("agent_name")) or None


def _transcription(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = "transcription"
    fields["model"] = as_text(data.get("model")) or None
    audio = data.get("input") if isinstance(data.get("input"), dict) else {}
    fields["input"] = _audio_placeholder(audio.get("data"), audio.get("format"))
    fields["output"] = as_text(data.get("output"))
    _model_config(data.get("model_config"), fields)


def _speech(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = "speech"
    fields["model"] = as_text(data.get("model")) or None
    fields["input"] = as_text(data.get("input"))
    audio = data.get("output") if isinstance(data.get("output"), dict) else {}
    fields["output"] = _audio_placeholder(audio.get("data"), audio.get("format"))
    _model_config(data.get("model_config"), fields)
    if data.get("first_content_at"):
        fields["attributes"]["first_content_at"] = data["first_content_at"]


def _speech_group(data: dict[str, Any], fields: dict[str, Any]) -> None:
    fields["name"] = "speech_group"
    fields["input"] = as_text(data.get("input"))


def _mcp_tools(data: dict[str, Any], fields: dict[str, Any]) -> None:
    server = as_text(data.get("server"))
    fields["name"] = f"mcp_tools {server}" if server else "mcp_tools"
    fields["tool_name"] = "mcp_list_tools"
    fields["input"] = server
    fields["output"] = as_text(data.get("result"))
    fields["attributes"]["server"] = server


_MAPPERS = {
    "agent": _agent,
    "function": _function,
    "generation": _generation,
    "response": _response,
    "handoff": _handoff,
    "guardrail": _guardrail,
    "custom": _custom,
    "transcription": _transcription,
    "speech": _speech,
    "speech_group": _speech_group,
    "mcp_tools": _mcp_tools,
}


def _usage(usage: Any, fields: dict[str, Any]) -> None:
    """Token counts; the first source that has them wins (span usage over response usage)."""
    if not isinstance(usage, dict):
        return
    tokens_in = as_int(usage.get("input_tokens", usage.get("prompt_tokens")))
    tokens_out = as_int(usage.get("output_tokens", usage.get("completion_tokens")))
    if tokens_in is not None:
        fields["tokens_in"] = tokens_in
    if tokens_out is not None:
        fields["tokens_out"] = tokens_out
    details = usage.get("input_tokens_details")
    if isinstance(details, dict) and as_int(details.get("cached_tokens")):
        fields["attributes"]["cached_tokens"] = as_int(details["cached_tokens"])


def _model_config(config: Any, fields: dict[str, Any]) -> None:
    """The model settings that were set; `ModelSettings.to_traceable_dict()` lists every
    setting, most of them null."""
    if isinstance(config, dict):
        kept = {k: v for k, v in config.items() if v is not None}
        if kept:
            fields["attributes"]["model_config"] = kept


def _audio_placeholder(data: Any, fmt: Any) -> str | None:
    """Audio is base64 in the export; the store keeps a marker, not the bytes."""
    if not data:
        return None
    return f"<audio {fmt or 'unknown'}: {len(str(data))} base64 chars>"
