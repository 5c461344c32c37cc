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

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, Rejected, as_text
from investigator.ingest.otel_span import otel_span_row, status_of
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
    if "intValue" in value:  # null: what JS serialisers write for a value that is not a number
        return None if value["intValue"] is None else int(value["intValue"])
    if "doubleValue" in value:
        return None if value["doubleValue"] is None else float(value["doubleValue"])
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
            try:
                out[str(item["key"])] = any_value(item.get("value"))
            except (TypeError, ValueError) as exc:
                raise RecordError(f"attribute {item['key']!r}: {exc}") from None
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
    return status_of(status.get("code", "0"), status.get("message"))


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
    return otel_span_row(
        trace_id, span_id,
        parent_id=parent_id,
        name=as_text(span.get("name")) or "",
        start=start,
        end=_time(span.get("endTimeUnixNano")),
        status=_status(span.get("status")),
        attributes=attributes(span.get("attributes")),
        events=_events(span.get("events")),
        resource=resource,
        scope_name=scope.get("name"),
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
