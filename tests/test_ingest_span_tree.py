"""Nested span trees (`child_spans`), the shape Patronus exports traces in (its TRAIL benchmark traces):
`{"trace_id", "spans": [root]}`, each span with `span_id`, `parent_span_id`, `span_name`, `span_kind`,
a start `timestamp`, an ISO-8601 `duration`, `status_code`, `span_attributes`, `resource_attributes`,
`events`, `logs` and its `child_spans`.

No library writes this shape offline (it comes from Patronus's hosted service), so the tree is built
here to that documented shape from the spans the real OpenTelemetry Python SDK recorded for one
refund-agent run (`otel_sdk_run`), and the store is checked against what the SDK recorded."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from otel_sdk_run import RESOURCE, assert_stored_as_recorded, expected_from_sdk, record_run

from investigator.errors import RecordError
from investigator.ingest import span_tree
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

SERVICE = RESOURCE["service.name"]


@pytest.fixture(scope="module")
def spans() -> tuple[ReadableSpan, ...]:
    return record_run()


def _naive_iso(nanoseconds: int) -> str:
    """Patronus writes start times as ISO-8601 without an offset (UTC)."""
    moment = datetime(1970, 1, 1) + timedelta(microseconds=nanoseconds // 1000)
    return moment.isoformat(timespec="microseconds")


def _duration(start_ns: int, end_ns: int) -> str:
    micros = end_ns // 1000 - start_ns // 1000
    return f"PT{micros // 1_000_000}.{micros % 1_000_000:06d}S"


def _tree_span(span: ReadableSpan, children: list[dict[str, Any]]) -> dict[str, Any]:
    assert span.start_time is not None and span.end_time is not None
    return {
        "timestamp": _naive_iso(span.start_time),
        "trace_id": f"{span.context.trace_id:032x}",
        "span_id": f"{span.context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "trace_state": "",
        "span_name": span.name,
        "span_kind": span.kind.name.title(),
        "service_name": span.resource.attributes["service.name"],
        "resource_attributes": dict(span.resource.attributes),
        "scope_name": span.instrumentation_scope.name if span.instrumentation_scope else "",
        "scope_version": span.instrumentation_scope.version if span.instrumentation_scope else "",
        "span_attributes": dict(span.attributes or {}),
        "duration": _duration(span.start_time, span.end_time),
        "status_code": span.status.status_code.name.title(),
        "status_message": span.status.description or "",
        "events": [
            {"timestamp": _naive_iso(e.timestamp), "name": e.name, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "links": [],
        "logs": [],
        "child_spans": children,
    }


def _trace(spans: tuple[ReadableSpan, ...]) -> dict[str, Any]:
    (root,) = [s for s in spans if s.parent is None]
    children = sorted((s for s in spans if s.parent is not None), key=lambda s: s.start_time or 0)
    return {
        "trace_id": f"{root.context.trace_id:032x}",
        "spans": [_tree_span(root, [_tree_span(child, []) for child in children])],
    }


def _ingest(store: Store, tmp_path: Path, document: Any) -> Any:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(document, indent=2))
    return ingest_paths(store, [str(path)])


def test_a_trace_tree_reads_as_the_spans_the_sdk_recorded(
    spans: tuple[ReadableSpan, ...], store: Store, tmp_path: Path
) -> None:
    report = _ingest(store, tmp_path, _trace(spans))
    assert (report.ingested, report.quarantined) == (len(spans), 0)
    assert set(report.files.values()) == {"span-tree"}
    assert_stored_as_recorded(store, expected_from_sdk(spans), SERVICE)
    root = next(s for s in store.spans(f"{spans[0].context.trace_id:032x}") if s.parent_id is None)
    assert root.attributes["otel.scope.name"] == "refund.agent"
    assert root.hints["environment"] == RESOURCE["deployment.environment.name"]


def test_children_take_their_parent_and_trace_from_the_tree_when_they_do_not_say(
    spans: tuple[ReadableSpan, ...], store: Store, tmp_path: Path
) -> None:
    trace = _trace(spans)
    for child in trace["spans"][0]["child_spans"]:
        del child["parent_span_id"], child["trace_id"]
    report = _ingest(store, tmp_path, [trace])  # a list of traces
    assert (report.ingested, report.quarantined) == (len(spans), 0)
    assert_stored_as_recorded(store, expected_from_sdk(spans), SERVICE)


def test_a_bad_span_is_quarantined_with_its_path_and_its_children_are_still_read(
    spans: tuple[ReadableSpan, ...], store: Store, tmp_path: Path
) -> None:
    trace = _trace(spans)
    root = trace["spans"][0]
    root["duration"] = "1.5 seconds"
    root["child_spans"][1]["timestamp"] = "not a time"
    report = _ingest(store, tmp_path, trace)
    assert (report.ingested, report.quarantined) == (len(spans) - 2, 2)
    bad = {q.location: q for q in store.quarantined()}
    assert set(bad) == {"document.spans[0]", "document.spans[0].child_spans[1]"}
    assert "'duration'" in bad["document.spans[0]"].reason and "1.5 seconds" in bad["document.spans[0]"].reason
    assert "child_spans" not in json.loads(bad["document.spans[0]"].raw)  # its children are stored apart
    assert "'timestamp'" in bad["document.spans[0].child_spans[1]"].reason
    stored = store.spans(trace["trace_id"])
    assert {s.parent_id for s in stored} == {root["span_id"]}  # under the quarantined root


def test_a_root_span_on_its_own_is_a_record() -> None:
    trace = {
        "span_id": "a1",
        "trace_id": "t1",
        "span_name": "agent",
        "timestamp": "2025-03-19T16:44:04.883697",
        "duration": "PT1M2.9S",
        "status_code": "Error",
        "status_message": "boom",
        "span_attributes": {"openinference": {"span": {"kind": "AGENT"}}},
        "child_spans": [{"span_id": "b2", "span_name": "tool", "timestamp": "2025-03-19T16:44:05Z"}],
    }
    rows = list(span_tree.parse(trace))
    assert [(r["span_id"], r["trace_id"], r["parent_id"]) for r in rows] == [("a1", "t1", None), ("b2", "t1", "a1")]
    assert (rows[0]["start_time"], rows[0]["end_time"]) == (
        "2025-03-19T16:44:04.883697Z",
        "2025-03-19T16:45:07.783697Z",
    )
    assert (rows[0]["kind"], rows[0]["status"], rows[0]["status_message"]) == ("agent", "error", "boom")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1.5S", 1.5), ("PT1M2.912S", 62.912), ("P1DT2H", 93_600), ("PT0S", 0), ("PT0.000123S", 0.000123)],
)
def test_iso_8601_durations(text: str, seconds: float) -> None:
    assert span_tree.duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["1.5", "PT", "P", "PT1.5", "-PT1S", 1.5, None])
def test_what_is_no_iso_8601_duration_is_refused(text: object) -> None:
    with pytest.raises(RecordError, match="'duration' is not an ISO-8601 duration"):
        span_tree.duration(text)
