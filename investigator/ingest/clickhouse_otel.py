"""Rows of the OpenTelemetry Collector's ClickHouse exporter table (`otel_traces`), one span a row,
as ClickHouse writes them in JSON (`SELECT * FROM otel_traces FORMAT JSONEachRow`).

The exporter keeps a span's start in `Timestamp` (DateTime64(9), written as
`YYYY-MM-DD HH:MM:SS.fffffffff` in the server's time zone, which is UTC unless set otherwise) and its
length in `Duration` (nanoseconds; 64-bit integers are quoted by default). Every attribute value is
text (`pcommon.Value.AsString`: numbers in decimal, maps and lists as JSON). Events are the nested
columns `Events.Timestamp`, `Events.Name` and `Events.Attributes`. Older exporter versions wrote
`SPAN_KIND_*`/`STATUS_CODE_*` where newer ones write `Internal`/`Error`, and put the scope in the
span attributes (`otel.scope.name`) rather than in `ScopeName`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, Rejected, as_text
from investigator.ingest.otel_span import otel_span_row, status_of
from investigator.timefmt import from_epoch

NAME = "clickhouse-otel"

_REQUIRED = ("TraceId", "SpanId", "Timestamp", "SpanAttributes")


def sniff(record: Any) -> bool:
    return isinstance(record, dict) and all(key in record for key in _REQUIRED)


def nanoseconds(value: Any, field: str) -> int:
    """A DateTime64(9) as ClickHouse writes it (text, UTC), or epoch nanoseconds, as epoch nanoseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"field {field!r} is not a time: {value!r}")
    text = value.strip().removesuffix("Z")
    whole, _, fraction = text.partition(".")
    if whole.isdigit():
        return int(whole) * 10**9 + int((fraction + "000000000")[:9])
    try:
        moment = datetime.fromisoformat(whole)
    except ValueError:
        raise RecordError(f"field {field!r} is not a time: {value!r}") from None
    if not fraction.isdigit() and fraction:
        raise RecordError(f"field {field!r} is not a time: {value!r}")
    seconds = int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())
    return seconds * 10**9 + int((fraction + "000000000")[:9])


def _map(record: dict[str, Any], field: str) -> dict[str, Any]:
    value = record.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"field {field!r} is not a map")
    return value


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    times = record.get("Events.Timestamp") or []
    names = record.get("Events.Name") or []
    attributes = record.get("Events.Attributes") or []
    if not (isinstance(times, list) and isinstance(names, list) and isinstance(attributes, list)):
        raise RecordError("the Events columns are not arrays")
    if not len(times) == len(names) == len(attributes):
        raise RecordError("the Events columns differ in length")
    return [
        {"name": as_text(name) or "", "time": from_epoch(nanoseconds(time, "Events.Timestamp")),
         "attributes": dict(attrs or {})}
        for time, name, attrs in zip(times, names, attributes, strict=True)
    ]


def _span(record: dict[str, Any]) -> ParseResult:
    trace_id, span_id = as_text(record.get("TraceId")), as_text(record.get("SpanId"))
    if not trace_id:
        raise RecordError("field 'TraceId' is empty")
    if not span_id:
        raise RecordError("field 'SpanId' is empty")
    start = nanoseconds(record.get("Timestamp"), "Timestamp")
    duration = record.get("Duration")
    try:
        length = int(duration) if duration not in (None, "") else None
    except (TypeError, ValueError):
        raise RecordError(f"field 'Duration' is not a number of nanoseconds: {duration!r}") from None
    resource = _map(record, "ResourceAttributes")
    if record.get("ServiceName") and "service.name" not in resource:
        resource = {**resource, "service.name": record["ServiceName"]}
    attributes = _map(record, "SpanAttributes")
    return otel_span_row(
        trace_id, span_id,
        parent_id=as_text(record.get("ParentSpanId")) or None,
        name=as_text(record.get("SpanName")) or "",
        start=from_epoch(start),
        end=from_epoch(start + length) if length is not None else None,
        status=status_of(record.get("StatusCode"), record.get("StatusMessage")),
        attributes=attributes,
        events=_events(record),
        resource=resource,
        scope_name=record.get("ScopeName") or attributes.get("otel.scope.name"),
    )


def parse(record: Any) -> Iterator[ParseResult]:
    try:
        yield _span(record)
    except (RecordError, ValueError, TypeError) as exc:
        yield Rejected(f"{type(exc).__name__}: {exc}", record)
