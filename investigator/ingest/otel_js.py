"""OpenTelemetry JS spans, as `@opentelemetry/sdk-trace-base` (1.x and 2.x) records them.

Two layouts, one span per record:
- what its ConsoleSpanExporter prints (read from Node.js `util.inspect` text by the reader):
  `traceId`, `id`, `parentSpanContext` (2.x) or `parentId` (1.x), `timestamp` and `duration` in
  microseconds, `instrumentationScope`, `resource.attributes`;
- a finished span (`ReadableSpan`) written with `JSON.stringify`: ids in `spanContext` (the result of
  `spanContext()`) or `_spanContext` (the span object itself), `parentSpanContext` (2.x) or
  `parentSpanId` (1.x), `startTime` / `endTime` as HrTime `[seconds, nanoseconds]`,
  `instrumentationScope` or `instrumentationLibrary`, and `resource` with `attributes`, or as the
  SDK's resource object serialises: `_rawAttributes` pairs (2.x) or `_attributes` (1.x).
Both carry `kind` as the JS enum's number (it says nothing the attributes do not: OpenInference or
GenAI keys decide the kind), `status: {code, message}` (2 is an error), flat `attributes`, and
`events: [{name, attributes, time}]` with HrTime times.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, as_text, iter_results
from investigator.ingest.otel_span import event_objects, otel_span_row, status_of
from investigator.timefmt import to_iso

NAME = "otel-js"


def _context(record: dict[str, Any]) -> dict[str, Any]:
    for key in ("spanContext", "_spanContext"):
        if isinstance(record.get(key), dict):
            return record[key]
    return record


def sniff(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("kind"), int) or "startTimeUnixNano" in record:
        return False
    context = _context(record)
    return bool(context.get("traceId") and (context.get("spanId") or record.get("id")))


def _hr_time(value: Any, field: str) -> int | None:
    """Epoch nanoseconds from an HrTime `[seconds, nanoseconds]`."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise RecordError(f"field '{field}' is not an HrTime [seconds, nanoseconds]: {str(value)[:40]}")
    return value[0] * 1_000_000_000 + value[1]


def _micros(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RecordError(f"field '{field}' is not a number of microseconds: {str(value)[:40]}")
    return value


def _times(record: dict[str, Any]) -> tuple[str | None, str | None]:
    if "startTime" in record:
        start, end = _hr_time(record["startTime"], "startTime"), _hr_time(record.get("endTime"), "endTime")
        return to_iso(start), to_iso(end)
    start_us, duration_us = _micros(record.get("timestamp"), "timestamp"), _micros(record.get("duration"), "duration")
    if start_us is None:
        return None, None
    end_us = None if duration_us is None else round(start_us + duration_us)
    return to_iso(start_us), to_iso(end_us)


def _resource(record: dict[str, Any]) -> dict[str, Any]:
    resource = record.get("resource")
    if not isinstance(resource, dict):
        return {}
    if isinstance(resource.get("attributes"), dict):
        return resource["attributes"]
    if isinstance(resource.get("_rawAttributes"), list):
        return {pair[0]: pair[1] for pair in resource["_rawAttributes"] if isinstance(pair, list) and len(pair) == 2}
    if isinstance(resource.get("_attributes"), dict):
        return resource["_attributes"]
    return {}


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for index, event in event_objects(record.get("events") or []):
        attributes = event.get("attributes")
        out.append({
            "name": as_text(event.get("name")) or "",
            "time": to_iso(_hr_time(event.get("time"), f"events[{index}].time")),
            "attributes": attributes if isinstance(attributes, dict) else {},
        })
    return out


def _parse(record: dict[str, Any]) -> ParseResult:
    context = _context(record)
    parent = record.get("parentSpanContext")
    parent_id = parent.get("spanId") if isinstance(parent, dict) else record.get("parentSpanId", record.get("parentId"))
    start, end = _times(record)
    if start is None:
        raise RecordError("field 'startTime' (or 'timestamp') is missing")
    status = record.get("status")
    attributes = record.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise RecordError("field 'attributes' is not an object")
    scope = record.get("instrumentationScope") or record.get("instrumentationLibrary")
    return otel_span_row(
        context.get("traceId"), context.get("spanId") or record.get("id"),
        parent_id=parent_id,
        name=as_text(record.get("name")) or "",
        start=start,
        end=end,
        status=status_of(status.get("code"), status.get("message")) if isinstance(status, dict) else ("unset", None),
        attributes=attributes,
        events=_events(record),
        resource=_resource(record),
        scope_name=scope.get("name") if isinstance(scope, dict) else None,
    )


def parse(record: Any) -> Iterator[ParseResult]:
    yield from iter_results(_parse, record)
