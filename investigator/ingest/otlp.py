"""OTLP/JSON trace export requests (`resourceSpans → scopeSpans → spans`).

The protobuf JSON mapping: attributes are `[{"key", "value": {"stringValue" | "intValue" | ...}}]`,
64-bit integers arrive as strings, IDs are hex (the OTLP spec) or base64 (the generic protobuf JSON
mapping, as `MessageToJson` writes), times are nanoseconds as numbers or strings, enums are numbers
or names. Span attributes follow the OpenInference or the GenAI conventions (see `semconv`).
One bad span costs only itself: it is rejected with its location and its siblings still parse.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    Rejected,
    as_text,
    span_row,
)
from investigator.ingest.semconv import content_from_events, hints_from, map_attributes
from investigator.timefmt import to_iso

NAME = "otlp-json"

_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PARSE_ERRORS = (RecordError, ValueError, TypeError, KeyError, AttributeError)


def sniff(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("resourceSpans"), list)


def any_value(value: Any) -> Any:
    """Decode an OTLP AnyValue into a plain Python value (kvlists become dicts)."""
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
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """An OTLP `[{"key", "value"}]` list as a flat dict."""
    if not isinstance(items, list):
        return {}
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value"))
    return out


def otlp_id(value: Any, field: str, length: int) -> str | None:
    """A trace or span ID as lowercase hex, whether written as hex or base64; all-zero is no ID."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"field '{field}' is not a string")
    if len(value) == length and _HEX.match(value):
        hex_id = value.lower()
    else:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) * 2 != length:
            raise RecordError(f"field '{field}' is neither {length}-digit hex nor base64: {value[:40]!r}")
        hex_id = raw.hex()
    return None if hex_id.strip("0") == "" else hex_id


def _status(status: Any) -> tuple[str, str | None]:
    if not isinstance(status, dict):
        return "unset", None
    code = str(status.get("code", "0")).upper()
    message = as_text(status.get("message")) or None
    if code in ("2", "STATUS_CODE_ERROR", "ERROR"):
        return "error", message
    if code in ("1", "STATUS_CODE_OK", "OK"):
        return "ok", message
    return "unset", message


def _time(value: Any) -> str | None:
    return None if value in (None, "", "0", 0) else to_iso(value)


def _events(items: Any) -> list[dict[str, Any]]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise RecordError("field 'events' is not a list")
    return [
        {"name": event.get("name") or "", "time": _time(event.get("timeUnixNano")),
         "attributes": attributes(event.get("attributes"))}
        for event in items
    ]


def _span(span: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> dict[str, Any]:
    trace_id = otlp_id(span.get("traceId"), "traceId", 32)
    span_id = otlp_id(span.get("spanId"), "spanId", 16)
    if trace_id is None:
        raise RecordError("field 'traceId' is missing")
    if span_id is None:
        raise RecordError("field 'spanId' is missing")
    parent_id = otlp_id(span.get("parentSpanId"), "parentSpanId", 16)
    start = _time(span.get("startTimeUnixNano"))
    if start is None:
        raise RecordError("field 'startTimeUnixNano' is missing")
    name = as_text(span.get("name")) or ""
    fields = map_attributes(attributes(span.get("attributes")), name=name)
    events = _events(span.get("events"))
    if fields["input"] is None or fields["output"] is None:
        event_in, event_out = content_from_events(events)
        fields["input"] = fields["input"] or event_in
        fields["output"] = fields["output"] or event_out
        if fields["kind"] == "unknown" and fields["model"] and (event_in or event_out):
            fields["kind"] = "llm"
    status, message = _status(span.get("status"))
    if status == "error" and not message:
        message = next(
            (e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None
        )
    if scope.get("name"):
        fields["attributes"].setdefault("otel.scope.name", scope["name"])
    fields["hints"] = {**hints_from(resource), **fields["hints"]}
    return span_row(
        trace_id, span_id,
        parent_id=parent_id,
        name=name,
        start_time=start,
        end_time=_time(span.get("endTimeUnixNano")),
        status=status,
        status_message=message,
        events=events,
        service=as_text(resource.get("service.name")),
        **fields,
    )


def parse(record: Any) -> Iterator[ParseResult]:
    for i, resource_spans in enumerate(record.get("resourceSpans") or []):
        if not isinstance(resource_spans, dict):
            yield Rejected("resourceSpans entry is not an object", resource_spans, f"resourceSpans[{i}]")
            continue
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        scopes = resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []
        for j, scope_spans in enumerate(scopes):
            if not isinstance(scope_spans, dict):
                location = f"resourceSpans[{i}].scopeSpans[{j}]"
                yield Rejected("scopeSpans entry is not an object", scope_spans, location)
                continue
            scope = scope_spans.get("scope") or scope_spans.get("instrumentationLibrary") or {}
            for k, span in enumerate(scope_spans.get("spans") or []):
                location = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                try:
                    if not isinstance(span, dict):
                        raise RecordError("span is not an object")
                    yield _span(span, resource, scope)
                except _PARSE_ERRORS as exc:
                    yield Rejected(f"{type(exc).__name__}: {exc}", span, location)
