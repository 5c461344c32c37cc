"""Span-per-line JSONL in the flattened shapes Phoenix-style exporters write.

Three shapes are read, all one span per line:
- the generic flattened span: `{"trace_id", "span_id", "parent_span_id", "name", "kind",
  "start_time", "end_time", "status": {"code", "message"}, "resource": {"attributes"}, "scope",
  "attributes", "events"}`;
- Phoenix's own span records and dataframe exports: `context.trace_id` / `context.span_id` (nested
  or as flat columns), `parent_id`, `span_kind`, `status_code` / `status_message`, and
  `attributes.llm.model_name`-style columns whose list values hold dicts with dotted keys;
- OpenTelemetry Python's `Span.to_json()`: `context` with `0x`-prefixed IDs and
  `status: {"status_code", "description"}`.
Attributes may be nested dicts or dotted keys; both are flattened before `semconv` maps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.ingest.base import (
    ParseResult,
    RecordError,
    as_text,
    flatten,
    iter_results,
    maybe_json,
    span_row,
)
from investigator.ingest.semconv import content_from_events, hints_from, map_attributes
from investigator.timefmt import to_iso

NAME = "spans-jsonl"

# Keys that mark another adapter's record: OpenAI Agents ("object"), LangSmith ("run_type"),
# OTLP requests ("resourceSpans"), Langfuse trace exports ("observations").
_OTHER_FORMATS = ("object", "run_type", "resourceSpans", "observations")


def _context(record: dict[str, Any]) -> dict[str, Any]:
    context = record.get("context")
    return context if isinstance(context, dict) else {}


def _clean_id(value: Any) -> str | None:
    """An ID as written, minus the `0x` prefix OpenTelemetry Python's JSON puts on hex IDs."""
    if value in (None, ""):
        return None
    text = str(value)
    return text[2:] if text[:2] in ("0x", "0X") else text


def _ids(record: dict[str, Any]) -> tuple[str | None, str | None]:
    context = _context(record)
    trace_id = record.get("trace_id") or context.get("trace_id") or record.get("context.trace_id")
    span_id = record.get("span_id") or context.get("span_id") or record.get("context.span_id")
    return _clean_id(trace_id), _clean_id(span_id)


def sniff(record: Any) -> bool:
    if not isinstance(record, dict) or any(key in record for key in _OTHER_FORMATS):
        return False
    if "traceId" in record and "type" in record:  # a Langfuse observation
        return False
    trace_id, span_id = _ids(record)
    return bool(trace_id and span_id)


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    """Nested or dotted `attributes` plus Phoenix's `attributes.*` columns, as flat dotted keys."""
    attrs = maybe_json(record.get("attributes"))
    if attrs is not None and not isinstance(attrs, dict):
        raise RecordError("field 'attributes' is not an object")
    flat = flatten(attrs) if attrs else {}
    for key, value in record.items():
        if key.startswith("attributes.") and value is not None:
            flatten(value, key.removeprefix("attributes."), flat)
    return {k: v for k, v in flat.items() if v is not None}


def _status(record: dict[str, Any]) -> tuple[str, str | None]:
    status = record.get("status")
    if isinstance(status, dict):
        code = status.get("code", status.get("status_code"))
        message = status.get("message", status.get("description"))
    else:
        code = status if status is not None else record.get("status_code")
        message = record.get("status_message")
    word = str(code).upper().removeprefix("STATUSCODE.") if code is not None else ""
    if word in ("2", "ERROR", "STATUS_CODE_ERROR"):
        return "error", as_text(message) or None
    if word in ("1", "OK", "STATUS_CODE_OK"):
        return "ok", as_text(message) or None
    return "unset", as_text(message) or None


def _time(value: Any) -> str | None:
    return None if value in (None, "") else to_iso(value)


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    events = maybe_json(record.get("events"))
    if events is None:
        return []
    if not isinstance(events, list):
        raise RecordError("field 'events' is not a list")
    out = []
    for event in events:
        if not isinstance(event, dict):
            raise RecordError("an event is not an object")
        out.append({
            "name": event.get("name") or "",
            "time": _time(event.get("timestamp", event.get("time"))),
            "attributes": flatten(maybe_json(event.get("attributes")) or {}),
        })
    return out


def _parse(record: dict[str, Any]) -> ParseResult:
    trace_id, span_id = _ids(record)
    context = _context(record)
    parent = record.get("parent_span_id") or record.get("parent_id") or context.get("parent_id")
    start = _time(record.get("start_time"))
    if start is None:
        raise RecordError("field 'start_time' is missing")
    name = as_text(record.get("name")) or ""
    kind_word = record.get("span_kind") or record.get("kind")
    fields = map_attributes(_attributes(record), name=name, kind_hint=kind_word)
    resource = record.get("resource")
    resource_attrs = flatten(resource.get("attributes") or {}) if isinstance(resource, dict) else {}
    events = _events(record)
    if fields["input"] is None or fields["output"] is None:
        event_in, event_out = content_from_events(events)
        fields["input"] = fields["input"] or event_in
        fields["output"] = fields["output"] or event_out
    status, message = _status(record)
    if status == "error" and not message:
        message = next(
            (e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None
        )
    scope = record.get("scope")
    scope_name = scope.get("name") if isinstance(scope, dict) else scope
    if scope_name:
        fields["attributes"].setdefault("otel.scope.name", as_text(scope_name))
    fields["hints"] = {**hints_from(resource_attrs), **fields["hints"]}
    return span_row(
        trace_id, span_id,
        parent_id=_clean_id(parent),
        name=name,
        start_time=start,
        end_time=_time(record.get("end_time")),
        status=status,
        status_message=message,
        events=events,
        service=as_text(resource_attrs.get("service.name")),
        **fields,
    )


def parse(record: Any) -> Iterator[ParseResult]:
    yield from iter_results(_parse, record)
