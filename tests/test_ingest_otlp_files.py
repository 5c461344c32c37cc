"""OTLP files as the OpenTelemetry Python SDK and the Collector's file exporter write them, told apart
by their content: a protobuf ExportTraceServiceRequest (`.pb`), the Collector's `format: proto` stream,
and OTLP/JSON lines from the SDK's own file exporter.

The SDK records one refund-agent run once per module (`otel_sdk_run`). Requests are encoded with the
SDK's OTLP encoder (`encode_spans(...).SerializeToString()`); the Collector's proto framing (each
message preceded by its length, a 4-byte big-endian unsigned integer) is built here as the
fileexporter's README and `exportMessageAsBuffer` write it, since no Collector runs in the tests."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard
from opentelemetry.exporter.otlp.json.file import FileSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from otel_sdk_run import RESOURCE, assert_stored_as_recorded, expected_from_sdk, record_run

from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store

SERVICE = RESOURCE["service.name"]


@dataclass(frozen=True)
class Run:
    spans: tuple[ReadableSpan, ...]
    json_lines: str  # what the SDK's OTLP/JSON file exporter wrote


@pytest.fixture(scope="module")
def run() -> Run:
    written = io.StringIO()
    spans = record_run(FileSpanExporter(stream=written))
    return Run(spans, written.getvalue())


def _request(spans: tuple[ReadableSpan, ...]) -> bytes:
    return encode_spans(spans).SerializeToString()


def _framed(*messages: bytes) -> bytes:
    return b"".join(len(m).to_bytes(4, "big") + m for m in messages)


def test_a_protobuf_request_is_read_by_its_content_whatever_the_file_is_called(
    run: Run, store: Store, tmp_path: Path
) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    (dumps / "export.binpb").write_bytes(_request(run.spans))
    named_as_json = tmp_path / "export.json"
    named_as_json.write_bytes(_request(run.spans))

    report = ingest_paths(store, [str(dumps), str(named_as_json)])

    assert (report.ingested, report.duplicates, report.quarantined) == (len(run.spans), len(run.spans), 0)
    assert set(report.files.values()) == {"otlp-json"} and len(report.files) == 2
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_collector_proto_file_yields_every_length_prefixed_request(
    run: Run, store: Store, tmp_path: Path, compress: bool
) -> None:
    data = _framed(_request(run.spans[:2]), _request(run.spans[2:]))
    path = tmp_path / "traces.proto"
    path.write_bytes(gzip.compress(data) if compress else data)
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE)


def test_a_truncated_collector_file_keeps_the_requests_before_the_cut(run: Run, store: Store, tmp_path: Path) -> None:
    first, second = _request(run.spans[:1]), _request(run.spans[1:])
    data = _framed(first, second)
    path = tmp_path / "traces.proto"
    path.write_bytes(data[:-10])  # the collector was killed mid-write
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (1, 1)
    (bad,) = store.quarantined()
    assert (bad.file, bad.line, bad.location) == (str(path), None, "message[1]")
    assert bad.reason == (
        f"truncated message at byte {4 + len(first)}: its length prefix says {len(second)} bytes,"
        f" {len(second) - 10} follow (not a collector proto file?)"
    )
    assert [s.span_id for s in store.spans(f"{run.spans[0].context.trace_id:032x}")] == [
        f"{run.spans[0].context.span_id:016x}"
    ]


def test_a_corrupt_protobuf_file_is_one_quarantined_record_and_nothing_stored_is_lost(
    run: Run, store: Store, tmp_path: Path
) -> None:
    good = tmp_path / "good.pb"
    good.write_bytes(_request(run.spans))
    ingest_paths(store, [str(good)])
    request = _request(run.spans)
    broken = tmp_path / "broken.pb"
    broken.write_bytes(request[: len(request) // 2])

    report = ingest_paths(store, [str(broken)])

    assert (report.ingested, report.quarantined) == (0, 1)
    (bad,) = store.quarantined()
    assert (bad.file, bad.location) == (str(broken), "request")
    assert bad.reason.startswith("not an OTLP ExportTraceServiceRequest: ")
    assert bad.raw.startswith("base64:")
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE)


def test_zstd_compressed_collector_output_is_refused_with_the_remedy(run: Run, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "traces.proto.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(_framed(_request(run.spans))))
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (0, 1)
    (bad,) = store.quarantined()
    assert bad.reason == "zstd-compressed; decompress it first (zstd -d FILE)"


def test_otlp_json_lines_from_the_sdk_file_exporter_read_as_the_sdk_recorded(
    run: Run, store: Store, tmp_path: Path
) -> None:
    lines = run.json_lines.splitlines()
    assert len(lines) == len(run.spans)  # one export request per finished span
    assert all("resourceSpans" in json.loads(line) for line in lines)
    path = tmp_path / "traces.jsonl"
    path.write_text(run.json_lines)
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert report.files == {str(path): "otlp-json"}
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE)


def test_a_large_sdk_file_read_by_workers_in_bulk_load_mode_is_stored_as_the_sdk_recorded(
    run: Run, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from investigator.ingest import pipeline

    path = tmp_path / "traces.jsonl"
    path.write_text(run.json_lines)
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)  # the worker path, byte range by byte range
    monkeypatch.setattr(pipeline, "BULK_MIN_BYTES", 0)  # into the empty store in bulk-load mode
    monkeypatch.setattr(pipeline, "SNIFF_RECORDS", 1)
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 1)  # a range per line: the run's trace split across all
    indexes_of = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
    indexes = store.conn.execute(indexes_of).fetchall()
    report = ingest_paths(store, [str(path)])
    assert (report.ingested, report.quarantined) == (len(run.spans), 0)
    assert_stored_as_recorded(store, expected_from_sdk(run.spans), SERVICE)
    assert store.conn.execute(indexes_of).fetchall() == indexes
    serial = Store(":memory:")
    ingest_paths(serial, [str(path)])
    for rows_of in ("SELECT * FROM spans ORDER BY rowid", "SELECT * FROM traces ORDER BY trace_id"):
        assert store.conn.execute(rows_of).fetchall() == serial.conn.execute(rows_of).fetchall()
