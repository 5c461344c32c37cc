"""The ingest safety net: a record that cannot be read costs that record alone, is kept exactly as
it was written with where it sits in its file, and nothing already stored is lost."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from investigator.cli import main
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


def test_a_forced_format_that_does_not_fit_quarantines_every_record_saying_what_it_looks_like(
    store: Store, tmp_path: Path
) -> None:
    lines = [json.dumps(_phoenix("s1")), json.dumps(_phoenix("s2", "s1"))]
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = ingest_paths(store, [str(path)], fmt="otlp-json")

    assert (report.ingested, report.quarantined) == (0, 2)
    assert _stored_span_ids(store) == set()
    assert report.errors == [f"{path}: the forced format otlp-json does not fit: the file looks like spans-jsonl"]
    assert [(q.file, q.line, q.format, q.reason, q.raw) for q in store.quarantined()] == [
        (str(path), n, "otlp-json", "not in the otlp-json format: it looks like spans-jsonl", line)
        for n, line in enumerate(lines, 1)
    ]


def test_under_a_forced_format_a_record_of_another_format_is_quarantined_and_the_rest_ingests(
    store: Store, tmp_path: Path
) -> None:
    run = {"id": "r1", "trace_id": "r1", "run_type": "tool", "name": "lookup", "start_time": "2025-03-01T10:00:00"}
    lines = [json.dumps(_otlp([_otlp_span("a1b2c3d4e5f60718")])), json.dumps(run)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = ingest_paths(store, [str(path)], fmt="otlp-json")

    assert (report.ingested, report.quarantined, report.errors) == (1, 1, [])
    [bad] = store.quarantined()
    assert (bad.line, bad.reason, bad.raw) == (2, "not in the otlp-json format: it looks like langsmith", lines[1])


@pytest.mark.parametrize(
    ("line", "fmt"),
    [('{"hello": "world"}', "otlp-json"), ('{"resourceSpans": []}', "auto")],
)
def test_a_record_its_adapter_finds_nothing_in_is_quarantined(
    store: Store, tmp_path: Path, line: str, fmt: str
) -> None:
    path = tmp_path / "requests.jsonl"
    path.write_text(json.dumps(_otlp([_otlp_span("a1b2c3d4e5f60718")])) + "\n" + line + "\n")

    report = ingest_paths(store, [str(path)], fmt=fmt)

    assert (report.ingested, report.quarantined) == (1, 1)
    [bad] = store.quarantined()
    assert (bad.line, bad.reason, bad.raw) == (2, "no spans or trace records in this record (read as otlp-json)", line)


def test_every_record_of_a_file_in_no_known_format_is_quarantined(store: Store, tmp_path: Path) -> None:
    lines = ['{"hello": "world"}', '{"hello": "again"}']
    path = tmp_path / "notes.jsonl"
    path.write_text("\n".join(lines) + "\n")

    report = ingest_paths(store, [str(path)])

    [error] = report.errors
    assert error.startswith(f"{path}: unknown format (not one of ")
    assert [(q.line, q.format, q.reason, q.raw) for q in store.quarantined()] == [
        (n, None, "record matches no supported trace format", line) for n, line in enumerate(lines, 1)
    ]


def test_a_file_that_breaks_off_keeps_what_was_read_and_quarantines_the_failure(store: Store, tmp_path: Path) -> None:
    lines = "".join(json.dumps(_phoenix(f"s{n}", "s0" if n else None)) + "\n" for n in range(400))
    whole = gzip.compress(lines.encode())
    path = tmp_path / "spans.jsonl.gz"
    path.write_bytes(whole[: len(whole) - 40])  # the end of the stream is lost

    report = ingest_paths(store, [str(path)])

    assert 0 < report.ingested < 400 and len(_stored_span_ids(store)) == report.ingested
    [broken] = store.quarantined()
    assert (broken.file, broken.line, broken.raw) == (str(path), None, "")
    assert broken.reason.startswith("cannot read the file: ")
    assert report.errors == [f"{path}: cannot read: {broken.reason.removeprefix('cannot read the file: ')}"]


def test_quarantine_rows_name_the_file_by_its_absolute_path_however_it_was_given(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "exports").mkdir()
    path = tmp_path / "exports" / "spans.jsonl"
    path.write_text(json.dumps(_phoenix("s1")) + "\n{broken\n")
    monkeypatch.chdir(tmp_path)

    for given in ("exports/spans.jsonl", "./exports/../exports/spans.jsonl", str(path), "exports"):
        ingest_paths(store, [given])

    assert [(q.file, q.line) for q in store.quarantined()] == [(str(path.resolve()), 2)]


def test_quarantine_clear_removes_one_files_records_or_all_and_says_how_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, bad_lines in (("a.jsonl", 2), ("b.jsonl", 1)):
        (tmp_path / name).write_text(json.dumps(_phoenix("s1")) + "\n" + "{broken\n" * bad_lines)
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "x.db")
    runner = CliRunner()
    assert runner.invoke(main, ["ingest", "a.jsonl", "b.jsonl", "--db", db]).exit_code == 0

    one = runner.invoke(main, ["quarantine", "clear", "--file", "a.jsonl", "--db", db])

    assert one.exit_code == 0 and one.stdout == f"removed 2 quarantined records of {tmp_path / 'a.jsonl'}\n"
    with Store(db) as store:
        assert [(q.file, q.line) for q in store.quarantined()] == [(str(tmp_path / "b.jsonl"), 2)]
    rest = runner.invoke(main, ["quarantine", "clear", "--db", db])
    assert rest.exit_code == 0 and rest.stdout == "removed 1 quarantined records\n"
    with Store(db) as store:
        assert store.quarantined() == []
