"""Writers for the OpenTelemetry family: OTLP/JSON with OpenInference attributes, OTLP/JSON with
GenAI semantic-convention attributes, and Phoenix-style span rows.

Each writer takes rendered traces (`RTrace`) and emits records shaped as the real exporter writes
them: the OTLP protobuf-JSON mapping (hex IDs, nanosecond times and 64-bit integers as strings,
typed attribute values, status code 2 with exception events), one export request per line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .script import ErrorInfo, RSpan, RTrace, dumps, provider_of

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRICES = {"gpt-4o-2024-08-06": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6), "claude-sonnet-4-5": (3.0, 15.0)}


def cost(model: str | None, tokens_in: int, tokens_out: int) -> float:
    pin, pout = PRICES.get(model or "", (1.0, 1.0))
    return round((tokens_in * pin + tokens_out * pout) / 1e6, 6)


def iso(ns: int, precision: str = "us", tz: str = "+00:00") -> str:
    """An ISO-8601 UTC time from epoch nanoseconds, at micro- or millisecond precision."""
    dt = _EPOCH + timedelta(microseconds=ns // 1000)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if precision == "ms":
        text = text[:-3]
    return text + tz


def slice_meta(rt: RTrace) -> dict[str, Any]:
    s = rt.script
    return {"agent_version": s.agent_version, "prompt_version": s.prompt_version, "environment": "production"}


class Writer:
    """One output format. `records(rt)` yields the JSON values written for one trace."""

    name = ""
    ingest_format = ""
    filename = ""
    id_style = "otel"
    root_span = True

    def records(self, rt: RTrace) -> list[Any]:
        raise NotImplementedError


# --- OTLP helpers --------------------------------------------------------------------


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)}


def kv(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in attrs.items() if v is not None]


def exception_event(span: RSpan, error: ErrorInfo) -> dict[str, Any]:
    return {"timeUnixNano": str(span.end_ns - 1000), "name": "exception",
            "attributes": kv({"exception.type": error.type, "exception.message": error.message,
                              "exception.stacktrace": error.stacktrace or None, "exception.escaped": "False"})}


def otlp_span(rt: RTrace, span: RSpan, attrs: dict[str, Any], kind: int, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": rt.trace_id, "spanId": span.span_id, "parentSpanId": span.parent_id or "",
        "name": name, "kind": kind, "startTimeUnixNano": str(span.start_ns), "endTimeUnixNano": str(span.end_ns),
        "attributes": kv(attrs), "droppedAttributesCount": 0, "events": [], "droppedEventsCount": 0,
        "links": [], "droppedLinksCount": 0, "status": {"code": 1},
    }
    if span.error:
        out["status"] = {"code": 2, "message": f"{span.error.type.split('.')[-1]}: {span.error.message}"}
        out["events"].append(exception_event(span, span.error))
    return out


def request(
    rt: RTrace, resource: dict[str, Any], scope: tuple[str, str], spans: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"resourceSpans": [{"resource": {"attributes": kv(resource), "droppedAttributesCount": 0},
                               "scopeSpans": [{"scope": {"name": scope[0], "version": scope[1]}, "spans": spans}],
                               "schemaUrl": ""}]}


def base_resource(rt: RTrace) -> dict[str, Any]:
    s = rt.script
    return {"service.name": s.service, "service.version": s.agent_version.lstrip("v") + ".0",
            "deployment.environment": "production", "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.27.0"}


# --- OpenInference -------------------------------------------------------------------


def oi_message(prefix: str, message: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}.message.role": message["role"]}
    if message.get("content") is not None:
        out[f"{prefix}.message.content"] = message["content"]
    if message.get("tool_call_id"):
        out[f"{prefix}.message.tool_call_id"] = message["tool_call_id"]
    if message.get("role") == "tool" and message.get("name"):
        out[f"{prefix}.message.name"] = message["name"]
    for j, call in enumerate(message.get("tool_calls") or []):
        base = f"{prefix}.message.tool_calls.{j}.tool_call"
        out[f"{base}.id"] = call["id"]
        out[f"{base}.function.name"] = call["name"]
        out[f"{base}.function.arguments"] = call["arguments"]
    return out


def openinference_attributes(rt: RTrace, span: RSpan) -> dict[str, Any]:
    """The flat OpenInference attribute dict of one span."""
    s = rt.script
    attrs: dict[str, Any] = {}
    if span.kind == "llm":
        attrs["openinference.span.kind"] = "LLM"
        provider = provider_of(span.model or "")
        attrs["llm.provider"] = provider
        attrs["llm.system"] = provider
        attrs["llm.model_name"] = span.model
        attrs["llm.invocation_parameters"] = dumps({"model": span.model, "temperature": span.temperature})
        for i, message in enumerate(span.input_messages):
            attrs.update(oi_message(f"llm.input_messages.{i}", message))
        if span.output_message:
            attrs.update(oi_message("llm.output_messages.0", span.output_message))
        for i, tool in enumerate(span.tools):
            attrs[f"llm.tools.{i}.tool.json_schema"] = dumps(tool.openai_tool())
        if not span.error:
            attrs["llm.token_count.prompt"] = span.tokens_in
            attrs["llm.token_count.completion"] = span.tokens_out
            attrs["llm.token_count.total"] = span.tokens_in + span.tokens_out
        attrs["llm.prompt_template.version"] = s.prompt_version
    elif span.kind == "tool":
        attrs["openinference.span.kind"] = "TOOL"
        attrs["tool.name"] = span.tool_name
        attrs["tool.description"] = span.tool_description
        attrs["tool_call.id"] = span.call_id
        attrs["input.value"] = span.args
        attrs["input.mime_type"] = "application/json"
        attrs["output.value"] = span.result
        is_json = (span.result or "")[:1] in "{[" and span.result
        attrs["output.mime_type"] = "application/json" if is_json else "text/plain"
    elif span.kind == "handoff":
        attrs["openinference.span.kind"] = "TOOL"
        attrs["tool.name"] = span.tool_name
        attrs["input.value"] = span.args
        attrs["output.value"] = span.result
    elif span.kind == "agent":
        attrs["openinference.span.kind"] = "AGENT"
        attrs["agent.name"] = span.agent
        attrs["input.value"] = span.text_in
        attrs["output.value"] = span.text_out
        attrs["metadata"] = dumps(slice_meta(rt))
    else:
        attrs["openinference.span.kind"] = "CHAIN"
        attrs["input.value"] = span.text_in
        attrs["output.value"] = span.text_out
        if span.parent_id is None:
            attrs["metadata"] = dumps(slice_meta(rt))
            attrs["tag.tags"] = s.tags
    if span.parent_id is None or span.kind == "agent":
        attrs["session.id"] = s.session_id
        attrs["user.id"] = s.user_id
    return {k: v for k, v in attrs.items() if v is not None}


def span_name(span: RSpan, style: str) -> str:
    if span.kind == "llm":
        if style == "genai":
            return f"chat {span.model}"
        return "Messages" if provider_of(span.model or "") == "anthropic" else "ChatCompletion"
    if span.kind == "tool":
        return f"execute_tool {span.tool_name}" if style == "genai" else str(span.tool_name)
    if span.kind == "agent":
        return f"invoke_agent {span.agent}" if style == "genai" else span.agent
    if span.kind == "handoff":
        return f"execute_tool {span.tool_name}" if style == "genai" else str(span.tool_name)
    return span.name


class OpenInferenceWriter(Writer):
    name = "otlp-openinference"
    ingest_format = "otlp-json"
    filename = "otlp_openinference.jsonl"

    def records(self, rt: RTrace) -> list[Any]:
        spans = [otlp_span(rt, s, openinference_attributes(rt, s), 1, span_name(s, "oi")) for s in rt.spans]
        return [request(rt, base_resource(rt), ("openinference.instrumentation.openai", "0.1.18"), spans)]


# --- GenAI semantic conventions ------------------------------------------------------


def genai_parts(message: dict[str, Any]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if message["role"] == "tool":
        parts.append({"type": "tool_call_response", "id": message.get("tool_call_id"),
                      "response": message.get("content")})
    elif message.get("content") is not None:
        parts.append({"type": "text", "content": message["content"]})
    for call in message.get("tool_calls") or []:
        parts.append({"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": call["arguments"]})
    return {"role": message["role"], "parts": parts}


def genai_attributes(rt: RTrace, span: RSpan) -> dict[str, Any]:
    s = rt.script
    attrs: dict[str, Any] = {}
    if span.kind == "llm":
        provider = provider_of(span.model or "")
        finish = "tool_calls" if span.output_message and span.output_message.get("tool_calls") else "stop"
        attrs.update({"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
                      "gen_ai.request.model": span.model, "gen_ai.request.temperature": span.temperature})
        attrs["gen_ai.input.messages"] = dumps([genai_parts(m) for m in span.input_messages])
        attrs["gen_ai.tool.definitions"] = dumps([t.openai_tool() for t in span.tools]) if span.tools else None
        if span.output_message:
            out = genai_parts(span.output_message)
            out["finish_reason"] = finish
            attrs["gen_ai.output.messages"] = dumps([out])
            attrs["gen_ai.response.model"] = span.model
            attrs["gen_ai.response.finish_reasons"] = [finish]
            attrs["gen_ai.usage.input_tokens"] = span.tokens_in
            attrs["gen_ai.usage.output_tokens"] = span.tokens_out
        attrs["gen_ai.agent.name"] = span.agent
    elif span.kind in ("tool", "handoff"):
        attrs.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": span.tool_name,
                      "gen_ai.tool.type": "function", "gen_ai.tool.call.id": span.call_id,
                      "gen_ai.tool.description": span.tool_description,
                      "gen_ai.tool.call.arguments": span.args, "gen_ai.tool.call.result": span.result})
    elif span.kind == "agent":
        attrs.update({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": span.agent,
                      "gen_ai.conversation.id": s.session_id})
    else:
        attrs.update({"traceloop.span.kind": "workflow" if span.parent_id is None else "task",
                      "traceloop.entity.name": span.name, "traceloop.entity.input": span.text_in,
                      "traceloop.entity.output": span.text_out})
        if span.parent_id is None:
            attrs["gen_ai.conversation.id"] = s.session_id
            attrs["enduser.id"] = s.user_id
    if span.error:
        attrs["error.type"] = span.error.type if not span.error.http_status else str(span.error.http_status)
    return {k: v for k, v in attrs.items() if v is not None}


class GenAIWriter(Writer):
    name = "otlp-genai"
    ingest_format = "otlp-json"
    filename = "otlp_genai.jsonl"

    def records(self, rt: RTrace) -> list[Any]:
        resource = base_resource(rt)
        resource.update({"agent.version": rt.script.agent_version, "prompt.version": rt.script.prompt_version})
        spans = [otlp_span(rt, s, genai_attributes(rt, s), 3 if s.kind == "llm" else 1, span_name(s, "genai"))
                 for s in rt.spans]
        return [request(rt, resource, ("opentelemetry.instrumentation.openai_agents", "0.40.2"), spans)]


# --- Phoenix span rows -----------------------------------------------------------------


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys back into the nested form Phoenix stores; numeric segments become lists."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        node: Any = root
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt_is_index = not last and parts[i + 1].isdigit()
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append({})
                if last:
                    node[index] = value
                else:
                    if not isinstance(node[index], (dict, list)) or (nxt_is_index and node[index] == {}):
                        node[index] = [] if nxt_is_index else {}
                    node = node[index]
            else:
                if last:
                    node[part] = value
                else:
                    if part not in node:
                        node[part] = [] if nxt_is_index else {}
                    node = node[part]
    return root


class PhoenixWriter(Writer):
    name = "phoenix-spans"
    ingest_format = "spans-jsonl"
    filename = "phoenix_spans.jsonl"

    def records(self, rt: RTrace) -> list[Any]:
        rows = []
        for span in rt.spans:
            flat = openinference_attributes(rt, span)
            kind = flat["openinference.span.kind"]
            events = []
            if span.error:
                events.append({"name": "exception", "timestamp": iso(span.end_ns - 1000),
                               "attributes": {"exception.type": span.error.type,
                                              "exception.message": span.error.message,
                                              "exception.stacktrace": span.error.stacktrace,
                                              "exception.escaped": "False"}})
            rows.append({
                "name": span_name(span, "oi"), "span_kind": kind, "parent_id": span.parent_id,
                "start_time": iso(span.start_ns), "end_time": iso(span.end_ns),
                "status_code": "ERROR" if span.error else "OK",
                "status_message": f"{span.error.type.split('.')[-1]}: {span.error.message}" if span.error else "",
                "events": events, "context": {"trace_id": rt.trace_id, "span_id": span.span_id},
                "attributes": nest(flat),
            })
        return rows
