"""`investigator serve`, tested with the real OpenTelemetry exporters as its clients: the SDK's
OTLP/HTTP protobuf exporter (plain, gzip, deflate) and the official OTLP/JSON exporter send spans
over loopback; what the store holds is compared with what the SDK recorded alongside."""

from __future__ import annotations

import gzip
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JSONSpanExporter
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from sdk_spans import agent_run, assert_stored_as_recorded, span_ids

from investigator import otlp_http
from investigator import receiver as receiver_module
from investigator.ingest.pipeline import IngestReport, ingest_records
from investigator.receiver import Receiver
from investigator.store import Store

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
LIMIT = 1024 * 1024  # the module receiver's body limit


def _recording_session(responses: list[requests.Response]) -> requests.Session:
    """A requests session (the protobuf exporter's transport) that keeps every response it gets."""
    session = requests.Session()
    session.hooks["response"].append(lambda response, *args, **kwargs: responses.append(response))
    return session


def _post(url: str, body: bytes, content_type: str = PROTOBUF, **headers: str) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type, **headers}, timeout=10)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    with Receiver(str(tmp_path_factory.mktemp("receiver") / "store.db"), port=0, max_body=LIMIT) as running:
        yield running


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip, Compression.Deflate])
def test_spans_the_sdk_exports_as_protobuf_are_stored_with_their_ids_parents_names_status_and_attributes(
    receiver: Receiver, compression: Compression
) -> None:
    spans = agent_run()
    responses: list[requests.Response] = []
    exporter = OTLPSpanExporter(endpoint=receiver.url, compression=compression, session=_recording_session(responses))
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    [response] = responses
    assert response.request.headers.get("Content-Encoding") == (
        None if compression is Compression.NoCompression else compression.value
    )
    assert (response.status_code, response.headers["Content-Type"]) == (200, PROTOBUF)
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert_stored_as_recorded(receiver.db_path, spans)


def test_spans_the_official_json_exporter_sends_gzipped_are_stored_like_protobuf_ones(receiver: Receiver) -> None:
    from opentelemetry.exporter.otlp.common.http import Compression as JSONCompression

    spans = agent_run("B-2")
    exporter = JSONSpanExporter(endpoint=receiver.url, compression=JSONCompression.GZIP)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert_stored_as_recorded(receiver.db_path, spans)
    response = _post(receiver.url, encode_json(agent_run("B-3")).to_json().encode(), JSON)
    assert (response.status_code, response.headers["Content-Type"], response.json()) == (200, JSON, {})


def test_a_span_that_cannot_be_read_is_quarantined_and_counted_as_rejected(receiver: Receiver) -> None:
    spans = agent_run("C-3", unreadable=True)
    responses: list[requests.Response] = []
    exporter = OTLPSpanExporter(
        endpoint=receiver.url, compression=Compression.Gzip, session=_recording_session(responses)
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    [response] = responses  # a partial success is not retried
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert response.status_code == 200 and partial.rejected_spans == 1
    assert "1 of 4 spans" in partial.error_message and "field 'startTimeUnixNano' is missing" in partial.error_message
    readable = [span for span in spans if span.name != "cache_lookup"]
    assert_stored_as_recorded(receiver.db_path, readable)
    with Store(receiver.db_path) as store:
        quarantined = [q for q in store.quarantined() if q.file == receiver.url and "cache_lookup" in q.raw]
    assert [q.reason for q in quarantined] == ["RecordError: field 'startTimeUnixNano' is missing"]


def test_a_partial_success_in_json_is_answered_in_json(receiver: Receiver) -> None:
    body = encode_json(agent_run("C-4", unreadable=True)).to_json().encode()
    response = _post(receiver.url, body, JSON)
    assert (response.status_code, response.headers["Content-Type"]) == (200, JSON)
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "startTimeUnixNano" in partial["errorMessage"]


@pytest.mark.parametrize(
    ("content_type", "body", "answer"),
    [(PROTOBUF, b"", b""), (JSON, b"{}", b"{}"), (JSON, b'{"resourceSpans": [{"scopeSpans": []}]}', b"{}")],
)
def test_an_empty_request_succeeds_and_leaves_nothing_in_the_store(
    receiver: Receiver, content_type: str, body: bytes, answer: bytes
) -> None:
    with Store(receiver.db_path) as store:
        before = store.counts()
    response = _post(receiver.url, body, content_type)
    assert (response.status_code, response.headers["Content-Type"], response.content) == (200, content_type, answer)
    with Store(receiver.db_path) as store:
        assert store.counts() == before


@pytest.mark.parametrize(
    ("content_type", "encoding", "body", "reason"),
    [
        (PROTOBUF, None, b"\x0a\xff\xff\xff\xff\xff", "not an OTLP ExportTraceServiceRequest"),
        (JSON, None, b'{"resourceSpans": [', "body is not JSON"),
        (JSON, None, b"[]", "not an ExportTraceServiceRequest JSON object"),
        (PROTOBUF, "gzip", b"plainly not gzip", "body is not valid gzip data"),
        (PROTOBUF, "gzip", gzip.compress(b"\x0a" * 64)[:-4], "truncated"),
    ],
)
def test_a_body_that_cannot_be_decoded_gets_400_with_the_reason(
    receiver: Receiver, content_type: str, encoding: str | None, body: bytes, reason: str
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = _post(receiver.url, body, content_type, **headers)
    assert (response.status_code, response.headers["Content-Type"]) == (400, content_type)
    message = response.json()["message"] if content_type == JSON else Status.FromString(response.content).message
    assert reason in message


def test_an_unsupported_content_type_gets_415_and_another_path_404(receiver: Receiver) -> None:
    body = encode_spans(agent_run()).SerializeToString()
    wrong_type = _post(receiver.url, body, "text/plain")
    assert (
        wrong_type.status_code == 415
        and "unsupported: Content-Type 'text/plain'" in Status.FromString(wrong_type.content).message
    )
    wrong_coding = _post(receiver.url, body, PROTOBUF, **{"Content-Encoding": "br"})
    assert wrong_coding.status_code == 415 and "Content-Encoding" in Status.FromString(wrong_coding.content).message
    elsewhere = _post(receiver.url.replace("/v1/traces", "/v1/metrics"), body)
    assert elsewhere.status_code == 404 and "/v1/traces" in Status.FromString(elsewhere.content).message
    assert requests.get(receiver.url, timeout=10).status_code == 405


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_a_body_over_the_limit_gets_413_before_or_after_decompression_and_is_not_retried(
    receiver: Receiver, compression: Compression
) -> None:
    spans = agent_run("D-5", extra="x" * (LIMIT + 1))
    responses: list[requests.Response] = []
    exporter = OTLPSpanExporter(endpoint=receiver.url, compression=compression, session=_recording_session(responses))
    assert exporter.export(spans) is SpanExportResult.FAILURE
    [response] = responses
    assert response.status_code == 413 and f"{LIMIT}" in Status.FromString(response.content).message
    with Store(receiver.db_path) as store:
        assert store.get_span(*span_ids(spans[0])) is None


class HeldWriter:
    """Stands in for `ingest_records` in the receiver's writer thread: holds it until released,
    and fails any write of a request holding a span named `poison`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.receiver: Receiver

    def __call__(self, store: Store, records: list[dict[str, Any]], fmt: str, source: str) -> IngestReport:
        self.entered.set()
        if not self.released.wait(10):
            raise TimeoutError("the test never released the writer")
        if any(b'"name":"poison"' in orjson.dumps(record) for record in records):
            raise sqlite3.OperationalError("disk I/O error")
        return ingest_records(store, records, fmt, source)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HeldWriter]:
    """A receiver with room for two waiting requests, whose writer is held."""
    writer = HeldWriter()
    monkeypatch.setattr(receiver_module, "ingest_records", writer)
    writer.receiver = Receiver(str(tmp_path / "store.db"), port=0, queue_size=2).start()
    yield writer
    writer.released.set()
    writer.receiver.stop()


def _fill(held: HeldWriter, pool: ThreadPoolExecutor, runs: list[Sequence[ReadableSpan]]) -> list[Future[Any]]:
    """Export the first run (the writer takes it and is held), then the others (they wait in the queue)."""
    url = held.receiver.url
    exports = [pool.submit(OTLPSpanExporter(endpoint=url).export, runs[0])]
    assert held.entered.wait(5)
    for number, run in enumerate(runs[1:], 1):
        exports.append(pool.submit(OTLPSpanExporter(endpoint=url).export, run))
        _wait_until(lambda n=number: held.receiver.stats().queued == n, f"{number} requests are queued")
    return exports


def test_a_full_queue_answers_503_with_retry_after_and_the_exporter_retries_into_the_store(held: HeldWriter) -> None:
    runs = [agent_run(f"E-{n}") for n in range(4)]
    responses: list[requests.Response] = []
    with ThreadPoolExecutor(4) as pool:
        exports = _fill(held, pool, runs[:3])
        late = OTLPSpanExporter(endpoint=held.receiver.url, session=_recording_session(responses))
        exports.append(pool.submit(late.export, runs[3]))
        _wait_until(lambda: len(responses) >= 1, "the late request is answered")
        held.released.set()
        assert [export.result(timeout=10) for export in exports] == [SpanExportResult.SUCCESS] * 4
    refused, accepted = responses
    assert (refused.status_code, refused.headers["Retry-After"]) == (503, "1")
    assert "2 requests are waiting" in Status.FromString(refused.content).message
    assert accepted.status_code == 200 and held.receiver.stats().refused == 1
    for run in runs:
        assert_stored_as_recorded(held.receiver.db_path, run)


def test_stop_writes_every_accepted_request_before_it_returns(held: HeldWriter) -> None:
    runs = [agent_run(f"F-{n}") for n in range(2)]
    with ThreadPoolExecutor(3) as pool:
        exports = _fill(held, pool, runs)  # one request is being written, one waits
        stopping = pool.submit(held.receiver.stop)
        # stop() has queued its end marker behind the waiting request (a private look: no stat counts it)
        _wait_until(lambda: held.receiver._queue.qsize() == 2, "stop() queues its marker")
        held.released.set()
        stopping.result(timeout=5)
        assert [export.result(timeout=5) for export in exports] == [SpanExportResult.SUCCESS] * 2
    stats = held.receiver.stats()
    assert (stats.requests, stats.ingested, stats.queued) == (2, sum(len(run) for run in runs), 0)
    for run in runs:
        assert_stored_as_recorded(held.receiver.db_path, run)


def test_stop_returns_only_once_the_accepted_requests_are_answered(
    held: HeldWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering, answer = threading.Event(), threading.Event()
    encode_response = otlp_http.export_response

    def held_answer(*args: Any) -> bytes:
        answering.set()
        answer.wait(5)
        return encode_response(*args)

    monkeypatch.setattr(otlp_http, "export_response", held_answer)
    held.released.set()
    with ThreadPoolExecutor(2) as pool:
        export = pool.submit(OTLPSpanExporter(endpoint=held.receiver.url).export, agent_run("F-9"))
        assert answering.wait(5)
        stopping = pool.submit(held.receiver.stop)
        with pytest.raises(FuturesTimeout):
            stopping.result(timeout=0.3)
        answer.set()
        stopping.result(timeout=5)
        assert export.result(timeout=5) is SpanExportResult.SUCCESS


def test_a_request_the_store_cannot_write_fails_alone_with_503(held: HeldWriter) -> None:
    first, good = agent_run("G-1"), agent_run("G-2")
    poison = encode_spans(agent_run("G-3", extra="poison")).SerializeToString()
    with ThreadPoolExecutor(3) as pool:
        writing = pool.submit(OTLPSpanExporter(endpoint=held.receiver.url).export, first)
        assert held.entered.wait(5)
        refused = pool.submit(_post, held.receiver.url, poison)
        _wait_until(lambda: held.receiver.stats().queued == 1, "the poison request is queued")
        responses: list[requests.Response] = []
        exporter = OTLPSpanExporter(endpoint=held.receiver.url, session=_recording_session(responses))
        queued = pool.submit(exporter.export, good)
        _wait_until(lambda: held.receiver.stats().queued == 2, "the good request is queued")
        held.released.set()
        assert (writing.result(timeout=10), queued.result(timeout=10)) == (SpanExportResult.SUCCESS,) * 2
        response = refused.result(timeout=10)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "1")
    assert "OperationalError: disk I/O error" in Status.FromString(response.content).message
    assert [r.status_code for r in responses] == [200]  # written at once, not after a retry
    assert_stored_as_recorded(held.receiver.db_path, first)
    assert_stored_as_recorded(held.receiver.db_path, good)
