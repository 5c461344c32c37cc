"""What every OpenTelemetry-shaped adapter does once it has read a span's parts.

OTLP requests, flattened span lines, OpenTelemetry JS spans and nested span trees differ in where
they keep a span's ids, times, status, attributes and events, not in what those mean. Each adapter
reads its own layout and hands the parts here: the attributes are mapped by `semconv`, GenAI content
carried in events fills a missing input or output, an error's message falls back to its exception
event, and resource attributes become the service and the trace-level hints.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.errors import RecordError
from investigator.ingest.base import SpanRow, as_text, span_row
from investigator.ingest.semconv import content_from_events, hints_from, map_attributes

_ERROR_CODES = ("2", "ERROR", "STATUS_CODE_ERROR")


def event_objects(events: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """A span record's events with their index, each checked to be an object (none when absent);
    a RecordError names the one that is not."""
    if events is None:
        return
    if not isinstance(events, list):
        raise RecordError("field 'events' is not a list")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise RecordError(f"events[{index}] is not an object")
        yield index, event
_OK_CODES = ("1", "OK", "STATUS_CODE_OK")


def status_of(code: Any, message: Any = None) -> tuple[str, str | None]:
    """A status code in any encoding (2, "2", "ERROR", "STATUS_CODE_ERROR", "StatusCode.ERROR",
    "Error") as "error" / "ok" / "unset", with its message (empty is none)."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    word = str(code).upper().removeprefix("STATUSCODE.") if code is not None else ""
    text = as_text(message) or None
    if word in _ERROR_CODES:
        return "error", text
    if word in _OK_CODES:
        return "ok", text
    return "unset", text


def otel_span_row(
    trace_id: Any,
    span_id: Any,
    *,
    parent_id: Any,
    name: str,
    start: str | None,
    end: str | None,
    status: tuple[str, str | None],
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
    resource: dict[str, Any],
    scope_name: Any = None,
    kind_hint: Any = None,
) -> SpanRow:
    """A span row from flat dotted `attributes`, normalised `events` (`{"name", "time", "attributes"}`)
    and flat `resource` attributes. `kind_hint` is the format's own kind word, used when no
    convention key names the kind."""
    fields = map_attributes(attributes, name=name, kind_hint=kind_hint)
    if fields["input"] is None or fields["output"] is None:
        event_in, event_out = content_from_events(events)
        fields["input"] = fields["input"] or event_in
        fields["output"] = fields["output"] or event_out
        if fields["kind"] == "unknown" and fields["model"] and (event_in or event_out):
            fields["kind"] = "llm"
    state, message = status
    if state == "error" and not message:
        message = next(
            (e["attributes"].get("exception.message") for e in events if e["name"] == "exception"), None
        )
    if scope_name:
        fields["attributes"].setdefault("otel.scope.name", as_text(scope_name))
    fields["hints"] = {**hints_from(resource), **fields["hints"]}
    return span_row(
        trace_id, span_id,
        parent_id=parent_id,
        name=name,
        start_time=start,
        end_time=end,
        status=state,
        status_message=message,
        events=events,
        service=as_text(resource.get("service.name")),
        **fields,
    )
