"""The ingest safety net: a record that cannot be read costs that record alone, is kept exactly as
it was written with where it sits in its file, and nothing already stored is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from investigator.ingest import reader, spans_jsonl
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

TRACE = "5c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"


def _phoenix(span_id: str, parent: str | None = None, name: str = "step") -> dict:
    return {
        "trace_id": "t-refunds",
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "start_time": "2025-03-01T10:00:00.000000Z",
        "end_time": "2025-03-01T10:00:01.000000Z",
        "status": {"code": "OK", "message": ""},
        "attributes": {"openinference.span.kind": "CHAIN"},
    }


def _otlp_span(span_id: str, **overrides: object) -> dict:
    span = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": "lookup_order",
        "kind": 1,
        "startTimeUnixNano": "1740823200000000000",
        "endTimeUnixNano": "1740823201000000000",
        "attributes": [{"key": "openinference.span.kind", "value": {"stringValue": "TOOL"}}],
    }
    span.update(overrides)
    return {k: v for k, v in span.items() if v is not None}


def _otlp(*scopes: list[dict]) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "orders"}}]},
                "scopeSpans": [{"scope": {"name": "openinference"}, "spans": spans} for spans in scopes],
            }
        ]
    }


def _stored_span_ids(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT span_id FROM spans")}


def test_an_adapter_that_raises_costs_one_record_and_the_rest_of_the_file_ingests(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse = spans_jsonl.parse

    def parse_with_a_bug(record: object):
        if isinstance(record, dict) and record.get("span_id") == "s2":
            raise RuntimeError("adapter bug on this record")
        return real_parse(record)

    monkeypatch.setattr(spans_jsonl, "parse", parse_with_a_bug)
    lines = [json.dumps(_phoenix(f"s{n}", "s1" if n > 1 else None)) for n in (1, 2, 3, 4)]
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = ingest_paths(store, [str(path)])

    assert (report.ingested, report.quarantined) == (3, 1)
    assert _stored_span_ids(store) == {"s1", "s3", "s4"}
    [bad] = store.quarantined()
    assert (bad.file, bad.line, bad.format) == (str(path), 2, "spans-jsonl")
    assert bad.reason == "RuntimeError: adapter bug on this record"
    assert bad.raw == lines[1]


@pytest.mark.parametrize(
    "line",
    [
        '{ "trace_id" : "t-refunds",   "name": "caf\\u00e9 lookup", "attributes": {"b": 1, "a": 2.50} }',
        '{"trace_id": "t-refunds", "span_id": "s9", "start_time": "not a time", "name": "x"}',
        '{"trace_id": "t-refunds", "span_id": "s9", "note": "tabs\\tand  spaces kept",    "name": 7}',
        "{not json at all",
        '   {"trace_id": "t-refunds", "name": "indented, no span id"}  ',
    ],
)
def test_a_quarantined_line_keeps_the_text_exactly_as_written(store: Store, tmp_path: Path, line: str) -> None:
    path = tmp_path / "spans.jsonl"
    good = json.dumps(_phoenix("s1"))
    path.write_bytes(f"{good}\n{line}\r\n".encode())

    report = ingest_paths(store, [str(path)])

    assert (report.ingested, report.quarantined) == (1, 1)
    [bad] = store.quarantined()
    assert bad.line == 2 and bad.raw == line


def test_a_bad_span_deep_in_an_otlp_document_is_located_by_its_path(store: Store, tmp_path: Path) -> None:
    document = _otlp(
        [_otlp_span("a1b2c3d4e5f60718")],
        [
            _otlp_span("b1b2c3d4e5f60718"),
            _otlp_span("c1b2c3d4e5f60718"),
            _otlp_span("d1b2c3d4e5f60718", startTimeUnixNano=None),
        ],
    )
    path = tmp_path / "export.json"
    path.write_text(json.dumps(document, indent=2))

    report = ingest_paths(store, [str(path)])

    assert (report.ingested, report.quarantined) == (3, 1)
    [bad] = store.quarantined()
    assert bad.location == "document.resourceSpans[0].scopeSpans[1].spans[2]"
    assert "startTimeUnixNano" in bad.reason
    assert json.loads(bad.raw)["spanId"] == "d1b2c3d4e5f60718"


def test_a_bad_span_in_a_line_of_otlp_requests_keeps_its_line_and_its_path(store: Store, tmp_path: Path) -> None:
    lines = [
        _otlp([_otlp_span("a1b2c3d4e5f60718")]),
        _otlp([_otlp_span("b1b2c3d4e5f60718"), _otlp_span("c1b2c3d4e5f60718", spanId=12345)]),
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")

    report = ingest_paths(store, [str(path)])

    assert (report.ingested, report.quarantined) == (2, 1)
    [bad] = store.quarantined()
    assert (bad.line, bad.location) == (2, "resourceSpans[0].scopeSpans[0].spans[1]")


def test_the_element_of_a_json_array_prefixes_the_nested_location(store: Store, tmp_path: Path) -> None:
    requests = [_otlp([_otlp_span("a1b2c3d4e5f60718")]), _otlp([_otlp_span("b1b2c3d4e5f60718", traceId=None)])]
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(requests))

    ingest_paths(store, [str(path)])

    [bad] = store.quarantined()
    assert bad.location == "[1].resourceSpans[0].scopeSpans[0].spans[0]"


def test_a_streamed_document_locates_a_bad_span_by_its_resource_and_path(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "WHOLE_DOCUMENT_LIMIT", 10)  # stream even this small file
    document = _otlp([_otlp_span("a1b2c3d4e5f60718")])
    document["resourceSpans"].append(
        _otlp([_otlp_span("b1b2c3d4e5f60718", startTimeUnixNano=None)])["resourceSpans"][0]
    )
    path = tmp_path / "big.json"
    path.write_text(json.dumps(document))

    report = ingest_paths(store, [str(path)])

    assert (report.ingested, report.quarantined) == (1, 1)
    [bad] = store.quarantined()
    assert bad.location == "resourceSpans[1].scopeSpans[0].spans[0]"


def test_a_file_that_cannot_be_read_at_all_loses_nothing_already_stored(store: Store, tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_phoenix("s1")) + "\n" + json.dumps(_phoenix("s2", "s1")) + "\n")
    ingest_paths(store, [str(good)])
    broken = tmp_path / "broken.json"
    broken.write_text('{"resourceSpans": [ {"scopeSpans": ')

    report = ingest_paths(store, [str(broken)])

    assert report.ingested == 0 and report.quarantined == 1
    assert _stored_span_ids(store) == {"s1", "s2"}
    [bad] = store.quarantined()
    assert bad.file == str(broken) and "invalid JSON" in bad.reason


def test_ingesting_the_same_bad_record_again_quarantines_it_once(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(json.dumps(_phoenix("s1")) + "\n{broken\n")
    ingest_paths(store, [str(path)])
    ingest_paths(store, [str(path)])
    assert [(q.line, q.raw) for q in store.quarantined()] == [(2, "{broken")]
