"""An OpenTelemetry SDK span exporter writing rows into the ClickHouse exporter's `otel_traces`
table in chdb, the way the Collector's ClickHouse exporter fills them (exporter_traces.go): start
time and length in nanoseconds, ids in hex (empty when absent), `Kind().String()` and
`Code().String()` words, the service from the resource, scope name and version in their columns,
and every attribute value as `pcommon.Value.AsString` writes it (numbers in decimal, booleans as
true/false, lists and maps as JSON).

The Collector itself (Go) cannot run here; the table is created from the exporter's own DDL
(`investigator/evals/data/clickhouse/otel_traces.sql`) and the rows come from the real SDK's spans.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

import investigator.evals

DDL = (Path(investigator.evals.__file__).parent / "data" / "clickhouse" / "otel_traces.sql").read_text()
_KINDS = {SpanKind.INTERNAL: "Internal", SpanKind.SERVER: "Server", SpanKind.CLIENT: "Client",
          SpanKind.PRODUCER: "Producer", SpanKind.CONSUMER: "Consumer"}
_CODES = {StatusCode.UNSET: "Unset", StatusCode.OK: "Ok", StatusCode.ERROR: "Error"}


def as_string(value: Any) -> str:
    """`pcommon.Value.AsString` of an attribute value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), separators=(",", ":"))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _time(nanoseconds: int) -> str:
    """A DateTime64(9) literal (UTC) for JSONEachRow input."""
    seconds, fraction = divmod(nanoseconds, 10**9)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{fraction:09d}"


def row(span: ReadableSpan, shift: timedelta = timedelta(0)) -> dict[str, Any]:
    """The exporter's row of a span (its times moved by `shift`, for tests of windows)."""
    moved = (shift // timedelta(microseconds=1)) * 1000
    resource = {k: as_string(v) for k, v in span.resource.attributes.items()}
    scope = span.instrumentation_scope
    return {
        "Timestamp": _time(span.start_time + moved),
        "TraceId": f"{span.context.trace_id:032x}",
        "SpanId": f"{span.context.span_id:016x}",
        "ParentSpanId": f"{span.parent.span_id:016x}" if span.parent else "",
        "TraceState": span.context.trace_state.to_header(),
        "SpanName": span.name,
        "SpanKind": _KINDS[span.kind],
        "ServiceName": resource.get("service.name", ""),
        "ResourceAttributes": resource,
        "ScopeName": scope.name if scope else "",
        "ScopeVersion": (scope.version or "") if scope else "",
        "SpanAttributes": {k: as_string(v) for k, v in span.attributes.items()},
        "Duration": span.end_time - span.start_time,
        "StatusCode": _CODES[span.status.status_code],
        "StatusMessage": span.status.description or "",
        "Events.Timestamp": [_time(e.timestamp + moved) for e in span.events],
        "Events.Name": [e.name for e in span.events],
        "Events.Attributes": [{k: as_string(v) for k, v in e.attributes.items()} for e in span.events],
        "Links.TraceId": [f"{link.context.trace_id:032x}" for link in span.links],
        "Links.SpanId": [f"{link.context.span_id:016x}" for link in span.links],
        "Links.TraceState": [link.context.trace_state.to_header() for link in span.links],
        "Links.Attributes": [{k: as_string(v) for k, v in link.attributes.items()} for link in span.links],
    }


def create_table(session: Any) -> None:
    session.query(DDL)


def insert(session: Any, spans: Sequence[ReadableSpan], table: str = "otel_traces",
           shift: timedelta = timedelta(0)) -> None:
    """Insert the spans' rows, as the exporter's INSERT does, in one statement."""
    if spans:
        lines = "\n".join(json.dumps(row(span, shift)) for span in spans)
        session.query(f"INSERT INTO {table} FORMAT JSONEachRow\n{lines}")


class ClickHouseTableExporter(SpanExporter):
    """Hands each batch of finished spans to `insert`."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        insert(self.session, spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass
