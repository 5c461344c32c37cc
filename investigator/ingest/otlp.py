"""OTLP/JSON trace export requests (`resourceSpans → scopeSpans → spans`).

The protobuf JSON mapping: attributes are `[{"key", "value": {"stringValue" | "intValue" | ...}}]`,
64-bit integers arrive as strings, IDs are hex (the OTLP spec) or base64 (the generic protobuf JSON
mapping some exporters use), times are nanoseconds as numbers or strings. Attributes follow the
OpenInference or the GenAI conventions (see `semconv`).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Iterator

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    Rejected,
    as_text,
    span_row,
)
from investigator.ingest.semconv import map_attributes
from investigator.timefmt import to_iso

NAME = "otlp-json"

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def sniff(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("resourceSpans"), list)


def any_value(value: Any) -> Any:
    """Decode an OTLP AnyValue into a plain Python value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value"))
    return out


def otlp_id(value: Any, field: str, length: int) -> str | None:
    """A trace or span ID as lowercase hex, whether written as hex or base64."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"field '{field}' is not a string")
    if len(value) == length and _HEX.match(value):
        return value.lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) * 2 == length:
        return raw.hex()
    if _HEX.match(value):
        return value.lower()
    raise RecordError(f"field '{field}' is neither hex nor base64: {value[:40]!r}")


def _status(status: Any) -> tuple[str, str | None]:
    if not isinstance(status, dict):
        return "unset", None
    code = str(status.get("code", "0")).upper()
    message = status.get("message") or None
    if code in ("2", "STATUS_CODE_ERROR"):
        return "error", message
    if code in ("1", "STATUS_CODE_OK"):
        return "ok", message
    return "unset", message


def _events(items: Any) -> list[dict[str, Any]]:
    events = []
    for event in items or []:
        time = event.get("timeUnixNano")
        events.append({
            "name": event.get("name", ""),
            "time": to_iso(time) if time not in (None, "", "0", 0) else None,
            "attributes": attributes(event.get("attributes")),
        })  # fmt: skip
    return events


def _content_from_events(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """GenAI content carried as span events (gen_ai.user.message, gen_ai.choice, ...)."""
    inputs, outputs = [], []
    for event in events:
        name, attrs = event["name"], event["attributes"]
        if name == "gen_ai.content.prompt":
            inputs.append(attrs.get("gen_ai.prompt"))
        elif name == "gen_ai.content.completion":
            outputs.append(attrs.get("gen_ai.completion"))
        elif name.startswith("gen_ai.") and name.endswith(".message"):
            role = name.removeprefix("gen_ai.").removesuffix(".message")
            inputs.append({"role": role, "content": attrs.get("content", attrs.get("gen_ai.event.content"))})
        elif name == "gen_ai.choice":
            outputs.append({"role": "assistant", "content": attrs.get("message", attrs.get("content"))})
    def joined(parts: list[Any]) -> str | None:
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        if all(isinstance(p, str) for p in parts):
            return "\n".join(parts)
        return as_text(parts)
    return joined(inputs), joined(outputs)


def _span(span: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    trace_id = otlp_id(span.get("traceId"), "traceId", 32)
    span_id = otlp_id(span.get("spanId"), "spanId", 16)
    parent_id = otlp_id(span.get("parentSpanId"), "parentSpanId", 16)
    start = span.get("startTimeUnixNano")
    if start in (None, "", "0", 0):
        raise RecordError("field 'startTimeUnixNano' is missing")
    end = span.get("endTimeUnixNano")
    attrs = attributes(span.get("attributes"))
    fields, rest = map_attributes({**resource, **attrs})
    rest = {k: v for k, v in rest.items() if k in attrs}
    events = _events(span.get("events"))
    if fields["kind"] == "llm" and (fields["input"] is None or fields["output"] is None):
        event_in, event_out = _content_from_events(events)
        fields["input"] = fields["input"] or event_in
        fields["output"] = fields["output"] or event_out
    status, message = _status(span.get("status"))
    if status == "error" and not message:
        message = next(
            (e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None
        )
    if scope.get("name"):
        rest.setdefault("otel.scope.name", scope["name"])
    return span_row(
        trace_id, span_id,
        parent_id=parent_id,
        name=span.get("name") or "",
        start_time=to_iso(start),
        end_time=to_iso(end) if end not in (None, "", "0", 0) else None,
        status=status,
        status_message=message,
        attributes=rest,
        events=events,
        service=as_text(resource.get("service.name")),
        **fields,
    )  # fmt: skip


def parse(record: Any) -> Iterator[ParseResult]:
    for i, resource_spans in enumerate(record.get("resourceSpans") or []):
        resource = attributes(((resource_spans or {}).get("resource") or {}).get("attributes"))
        scopes = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
        for j, scope_spans in enumerate(scopes):
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            for k, span in enumerate(scope_spans.get("spans") or []):
                location = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                try:
                    if not isinstance(span, dict):
                        raise RecordError("span is not an object")
                    yield _span(span, resource, scope)
                except (RecordError, ValueError, TypeError, KeyError, AttributeError) as exc:
                    yield Rejected(f"{type(exc).__name__}: {exc}", span, location)
