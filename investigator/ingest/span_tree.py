"""Nested span trees: spans that hold their children in `child_spans`, the shape Patronus exports
traces in (its TRAIL benchmark traces are this shape) and some trace viewers save.

A record is one trace, `{"trace_id", "spans": [root, ...]}`, or one root span. A span carries
`span_id`, `parent_span_id` (else its place in the tree says), `trace_id` (else the trace's),
`span_name`, `span_kind`, `timestamp` (its start, ISO-8601; without an offset it is UTC),
`duration` (ISO-8601, `PT1.5S`, `PT1M2.9S`), `status_code` (`Unset` / `Ok` / `Error`),
`status_message`, `span_attributes` (OpenInference or GenAI keys, flat or nested),
`resource_attributes`, `service_name`, `scope_name`, `events` and `logs` (kept in attributes).
A span that cannot be read is rejected with its path in the tree (`spans[0].child_spans[2]`);
its children are still read, under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, Rejected, as_text, flatten, maybe_json
from investigator.ingest.otel_span import event_objects, otel_span_row, status_of
from investigator.timefmt import parse_iso, to_iso

NAME = "span-tree"

_DURATION = re.compile(
    r"P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_PARSE_ERRORS = (RecordError, ValueError, TypeError, KeyError, AttributeError)


def _roots(record: Any) -> list[Any] | None:
    """The root spans of a trace record, or the record itself when it is a root span."""
    if not isinstance(record, dict):
        return None
    spans = record.get("spans")
    if isinstance(spans, list) and spans and isinstance(spans[0], dict) and "child_spans" in spans[0]:
        return spans
    if isinstance(record.get("child_spans"), list) and "span_id" in record:
        return [record]
    return None


def sniff(record: Any) -> bool:
    return _roots(record) is not None


def duration(value: Any) -> timedelta:
    """An ISO-8601 duration (`PT1.5S`, `PT1M2.912S`, `P1DT2H`) as a timedelta."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None or not any(match.groupdict().values()):
        raise RecordError(f"field 'duration' is not an ISO-8601 duration: {str(value)[:40]!r}")
    parts = {unit: float(amount) for unit, amount in match.groupdict().items() if amount is not None}
    return timedelta(**parts)


def _events(span: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for index, event in event_objects(maybe_json(span.get("events")) or []):
        try:
            time = to_iso(event.get("timestamp", event.get("Timestamp")))
        except ValueError as exc:
            raise RecordError(f"events[{index}].timestamp: {exc}") from None
        out.append({
            "name": as_text(event.get("name", event.get("Name"))) or "",
            "time": time,
            "attributes": flatten(maybe_json(event.get("attributes", event.get("Attributes"))) or {}),
        })
    return out


def _attributes(span: dict[str, Any], field: str) -> dict[str, Any]:
    value = maybe_json(span.get(field)) or {}
    if not isinstance(value, dict):
        raise RecordError(f"field '{field}' is not an object")
    return {k: v for k, v in flatten(value).items() if v is not None}


def _span(span: dict[str, Any], trace_id: Any, tree_parent: Any) -> ParseResult:
    if span.get("timestamp") in (None, ""):
        raise RecordError("field 'timestamp' is missing")
    try:
        start = to_iso(span["timestamp"])
    except ValueError as exc:
        raise RecordError(f"field 'timestamp': {exc}") from None
    end = None
    if span.get("duration") not in (None, ""):
        end = to_iso(parse_iso(start) + duration(span["duration"]))
    attributes = _attributes(span, "span_attributes")
    logs = span.get("logs")
    if logs:
        attributes["logs"] = logs
    resource = _attributes(span, "resource_attributes")
    if span.get("service_name") and "service.name" not in resource:
        resource["service.name"] = span["service_name"]
    return otel_span_row(
        span.get("trace_id") or trace_id, span.get("span_id"),
        parent_id=span.get("parent_span_id") or tree_parent,
        name=as_text(span.get("span_name")) or "",
        start=start,
        end=end,
        status=status_of(span.get("status_code"), span.get("status_message")),
        attributes=attributes,
        events=_events(span),
        resource=resource,
        scope_name=span.get("scope_name"),
        kind_hint=span.get("span_kind"),
    )


def _walk(span: Any, trace_id: Any, parent: Any, location: str | None) -> Iterator[ParseResult]:
    if not isinstance(span, dict):
        yield Rejected("span is not an object", span, location)
        return
    try:
        yield _span(span, trace_id, parent)
    except _PARSE_ERRORS as exc:  # the span alone is quarantined; its children are read below
        yield Rejected(f"{type(exc).__name__}: {exc}", {k: v for k, v in span.items() if k != "child_spans"}, location)
    children = span.get("child_spans") or []
    if not isinstance(children, list):
        yield Rejected("field 'child_spans' is not a list", children, location)
        return
    for index, child in enumerate(children):
        where = f"{location}.child_spans[{index}]" if location else f"child_spans[{index}]"
        yield from _walk(child, span.get("trace_id") or trace_id, span.get("span_id"), where)


def parse(record: Any) -> Iterator[ParseResult]:
    roots = _roots(record) or []
    if roots and roots[0] is record:  # a root span on its own
        yield from _walk(record, None, None, None)
        return
    for index, root in enumerate(roots):
        yield from _walk(root, record.get("trace_id"), None, f"spans[{index}]")
