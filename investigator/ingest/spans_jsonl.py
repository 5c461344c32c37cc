"""Span-per-line JSONL in the flattened shape Phoenix-style exporters write.

A line looks like `{"trace_id", "span_id", "parent_span_id", "name", "kind", "start_time",
"end_time", "status": {"code", "message"}, "resource": {"attributes"}, "scope", "attributes",
"events"}`; Phoenix's own span exports use `context.trace_id` / `context.span_id`, `parent_id`,
`span_kind`, `status_code` and `attributes.*` columns. Attributes may be nested or dotted.
"""

from __future__ import annotations

from typing import Any, Iterator

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    as_text,
    flatten,
    iter_results,
    kind_from,
    maybe_json,
    span_row,
)
from investigator.ingest.semconv import map_attributes
from investigator.timefmt import to_iso

NAME = "spans-jsonl"

_OTHER_FORMATS = ("object", "run_type", "resourceSpans", "observations")


def _context(record: dict[str, Any]) -> dict[str, Any]:
    context = record.get("context")
    return context if isinstance(context, dict) else {}


def _ids(record: dict[str, Any]) -> tuple[Any, Any]:
    context = _context(record)
    trace_id = record.get("trace_id") or context.get("trace_id") or record.get("context.trace_id")
    span_id = record.get("span_id") or context.get("span_id") or record.get("context.span_id")
    return trace_id, span_id


def sniff(record: Any) -> bool:
    if not isinstance(record, dict) or any(key in record for key in _OTHER_FORMATS):
        return False
    if "traceId" in record and "type" in record:
        return False
    trace_id, span_id = _ids(record)
    return bool(trace_id and span_id)


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    attrs = maybe_json(record.get("attributes"))
    flat = flatten(attrs) if isinstance(attrs, dict) else {}
    for key, value in record.items():
        if key.startswith("attributes.") and value is not None:
            flat[key.removeprefix("attributes.")] = value
    return flat


def _status(record: dict[str, Any]) -> tuple[str, str | None]:
    status = record.get("status")
    if isinstance(status, dict):
        code, message = status.get("code", status.get("status_code")), status.get("message")
    else:
        code = status if status is not None else record.get("status_code")
        message = record.get("status_message")
    word = str(code).upper() if code is not None else ""
    if word in ("2", "ERROR", "STATUS_CODE_ERROR"):
        return "error", as_text(message) or None
    if word in ("1", "OK", "STATUS_CODE_OK"):
        return "ok", as_text(message) or None
    return "unset", as_text(message) or None


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    events = maybe_json(record.get("events"))
    if not isinstance(events, list):
        return []
    out = []
    for event in events:
        if not isinstance(event, dict):
            continue
        time = event.get("timestamp", event.get("time"))
        out.append({
            "name": event.get("name", ""),
            "time": to_iso(time) if time not in (None, "") else None,
            "attributes": flatten(event.get("attributes") or {}),
        })  # fmt: skip
    return out


def _parse(record: dict[str, Any]) -> ParseResult:
    trace_id, span_id = _ids(record)
    parent = record.get("parent_span_id", record.get("parent_id", _context(record).get("parent_id")))
    attrs = _attributes(record)
    resource = record.get("resource") or {}
    resource_attrs = flatten(resource.get("attributes") or {}) if isinstance(resource, dict) else {}
    fields, rest = map_attributes({**resource_attrs, **attrs})
    rest = {k: v for k, v in rest.items() if k not in resource_attrs or k in attrs}
    if fields["kind"] == "unknown":
        fields["kind"] = kind_from(record.get("span_kind") or record.get("kind"))
    status, message = _status(record)
    events = _events(record)
    if status == "error" and not message:
        message = next(
            (e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None
        )
    start, end = record.get("start_time"), record.get("end_time")
    if start in (None, ""):
        raise RecordError("field 'start_time' is missing")
    return span_row(
        trace_id, span_id,
        parent_id=parent,
        name=as_text(record.get("name")) or "",
        start_time=to_iso(start),
        end_time=to_iso(end) if end not in (None, "") else None,
        status=status,
        status_message=message,
        attributes=rest,
        events=events,
        service=as_text(resource_attrs.get("service.name")),
        **fields,
    )  # fmt: skip


def parse(record: Any) -> Iterator[ParseResult]:
    yield from iter_results(_parse, record)
