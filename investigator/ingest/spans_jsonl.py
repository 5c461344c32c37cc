"""Flattened spans, one per record, in the shapes Phoenix-style exporters and OpenTelemetry Python write.

Three shapes are read:
- the generic flattened span: `{"trace_id", "span_id", "parent_span_id", "name", "kind",
  "start_time", "end_time", "status": {"code", "message"}, "resource": {"attributes"}, "scope",
  "attributes", "events"}`;
- Phoenix's own span records and dataframe exports: `context.trace_id` / `context.span_id` (nested
  or as flat columns), `parent_id`, `span_kind`, `status_code` / `status_message`, and
  `attributes.llm.model_name`-style columns whose list values hold dicts with dotted keys;
- OpenTelemetry Python's `ReadableSpan.to_json()` (what its ConsoleSpanExporter prints, pretty-printed
  objects one after another): `context` with `0x`-prefixed IDs, ISO times, `kind: "SpanKind.INTERNAL"`,
  `status: {"status_code", "description"}`, events with ISO `timestamp`s, `resource.attributes`.
A record may also be a page of such spans, `{"spans": [...]}`.
Attributes may be nested dicts or dotted keys; both are flattened before `semconv` maps them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import ParseResult, as_text, flatten, iter_results, maybe_json, time_field
from investigator.ingest.otel_span import otel_span_row, status_of

NAME = "spans-jsonl"

# Keys that mark another adapter's record: OpenAI Agents ("object"), LangSmith ("run_type"),
# OTLP requests ("resourceSpans"), Langfuse trace exports ("observations"), span trees ("child_spans").
_OTHER_FORMATS = frozenset({"object", "run_type", "resourceSpans", "observations", "child_spans"})


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


def _is_span(record: Any) -> bool:
    if not isinstance(record, dict) or not _OTHER_FORMATS.isdisjoint(record):
        return False
    if "traceId" in record and "type" in record:  # a Langfuse observation
        return False
    trace_id, span_id = _ids(record)
    return bool(trace_id and span_id)


def _page(record: Any) -> list[Any] | None:
    """The spans of a `{"spans": [...]}` page (how a list of `to_json()` dumps is often saved)."""
    spans = record.get("spans") if isinstance(record, dict) else None
    return spans if isinstance(spans, list) and spans and _is_span(spans[0]) else None


def sniff(record: Any) -> bool:
    return _is_span(record) or _page(record) is not None


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    """Nested or dotted `attributes` plus Phoenix's `attributes.*` columns, as flat dotted keys."""
    attrs = maybe_json(record.get("attributes"))
    if attrs is not None and not isinstance(attrs, dict):
        raise RecordError("field 'attributes' is not an object")
    flat = flatten(attrs, drop_none=True) if attrs else {}
    for key, value in record.items():
        if key.startswith("attributes.") and value is not None:
            flatten(value, key.removeprefix("attributes."), flat, drop_none=True)
    return flat


def _status(record: dict[str, Any]) -> tuple[str, str | None]:
    status = record.get("status")
    if isinstance(status, dict):
        code, message = status.get("code", status.get("status_code")), status.get("message", status.get("description"))
        return status_of(code, message)
    code = status if status is not None else record.get("status_code")
    return status_of(code, record.get("status_message"))


def _events(record: dict[str, Any]) -> list[dict[str, Any]]:
    events = maybe_json(record.get("events"))
    if events is None:
        return []
    if not isinstance(events, list):
        raise RecordError("field 'events' is not a list")
    out = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise RecordError("an event is not an object")
        try:
            time = time_field(event, "timestamp" if "timestamp" in event else "time")
        except RecordError as exc:
            raise RecordError(f"events[{index}]: {exc}") from None
        out.append({"name": event.get("name") or "", "time": time,
                    "attributes": flatten(maybe_json(event.get("attributes")) or {})})
    return out


def _parse(record: dict[str, Any]) -> ParseResult:
    trace_id, span_id = _ids(record)
    context = _context(record)
    parent = record.get("parent_span_id") or record.get("parent_id") or context.get("parent_id")
    start = time_field(record, "start_time", required=True)
    resource = record.get("resource")
    scope = record.get("scope")
    return otel_span_row(
        trace_id, span_id,
        parent_id=_clean_id(parent),
        name=as_text(record.get("name")) or "",
        start=start,
        end=time_field(record, "end_time"),
        status=_status(record),
        attributes=_attributes(record),
        events=_events(record),
        resource=flatten(resource.get("attributes") or {}) if isinstance(resource, dict) else {},
        scope_name=scope.get("name") if isinstance(scope, dict) else scope,
        kind_hint=record.get("span_kind") or record.get("kind"),
    )


def parse(record: Any) -> Iterator[ParseResult]:
    page = _page(record)
    if page is None:
        yield from iter_results(_parse, record)
        return
    for index, span in enumerate(page):
        yield from iter_results(_parse, span, f"spans[{index}]")
