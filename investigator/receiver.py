"""`investigator serve`: an OTLP/HTTP receiver, so an app's exporter sends its spans into the store.

HTTP threads (the stdlib's `ThreadingHTTPServer`: one POST endpoint needs no framework) read and
decode each request, then hand it to a bounded queue. ONE writer thread owns the store (SQLite
has one writer): it takes whatever is queued, writes it with one `ingest_records` call, and
answers each waiting request. So a 200 means the spans are committed, and `partial_success`
counts exactly the spans that were quarantined instead. A full queue, a store that cannot be
written, or a receiver shutting down is a 503 with `Retry-After`, which exporters retry.

Stopping (`stop()`, or SIGINT/SIGTERM in the command) stops accepting, writes everything already
accepted, answers its requests, and closes the store: nothing accepted is lost.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import socket
import sys
import threading
from concurrent.futures import Future
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from investigator import __version__, otlp_http
from investigator.errors import RequestError
from investigator.ingest.otlp import NAME
from investigator.ingest.pipeline import ingest_records, parse_record
from investigator.ingest.reader import Record
from investigator.ingest.registry import FORMATS
from investigator.models import QuarantinedRecord
from investigator.store import Store

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024 * 1024
QUEUE_SIZE = 64  # requests waiting for the writer; past this, 503
RETRY_AFTER = 1  # seconds, in the Retry-After of every 503
_REASONS_SHOWN = 3


class Outcome(NamedTuple):
    """What became of one written request: how many of its spans were quarantined, and why."""

    rejected: int = 0
    message: str | None = None


class _Job(NamedTuple):
    record: dict[str, Any]
    done: Future[Outcome]


_STOP = object()  # queued by stop(), after every accepted request


@dataclasses.dataclass
class ReceiverStats:
    requests: int = 0  # requests written
    ingested: int = 0  # spans new to the store
    duplicates: int = 0
    updated: int = 0
    quarantined: int = 0
    refused: int = 0  # requests answered 503 (queue full, shutting down, store not writable)
    queued: int = 0  # requests waiting for the writer now

    @property
    def spans(self) -> int:
        return self.ingested + self.duplicates + self.updated + self.quarantined

    def summary(self) -> str:
        text = (
            f"{_count(self.spans, 'span')} in {_count(self.requests, 'request')}: {self.ingested:,} new,"
            f" {self.duplicates:,} duplicates, {self.updated:,} updated, {self.quarantined:,} quarantined"
        )
        return text + (f"; {_count(self.refused, 'request')} refused (503)" if self.refused else "")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class Receiver:
    """Listens on `host:port` (port 0: any free port) and writes what arrives into the store at
    `db_path`. Binding and opening the store happen here, so their errors raise here."""

    def __init__(
        self,
        db_path: str,
        host: str = "127.0.0.1",
        port: int = 4318,
        max_body: int = MAX_BODY,
        queue_size: int = QUEUE_SIZE,
        retry_after: int = RETRY_AFTER,
    ) -> None:
        self.db_path = db_path
        self.max_body = max_body
        self.retry_after = retry_after
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._lock = threading.Lock()  # guards _closing against the put that follows its check
        self._closing = False
        self._started = False
        self._stats = ReceiverStats()
        self._stats_lock = threading.Lock()
        self._idle = threading.Condition()
        self._in_flight = 0  # requests whose response is not written yet
        self._server = _Server((host, port), self)
        try:
            self._store = Store(db_path)
        except BaseException:
            self._server.server_close()
            raise
        self.host, self.port = self._server.server_address[:2]
        netloc = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address is bracketed
        self.url = f"http://{netloc}:{self.port}{otlp_http.TRACES_PATH}"
        self._threads = [
            threading.Thread(target=self._server.serve_forever, args=(0.1,), name="otlp-http", daemon=True),
            threading.Thread(target=self._write_loop, name="otlp-writer", daemon=True),
        ]

    def start(self) -> Receiver:
        self._started = True
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, write what was accepted, answer its requests, close. Idempotent."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        if self._started:
            self._server.shutdown()
            self._queue.put(_STOP)
            self._threads[1].join()
            with self._idle:
                self._idle.wait_for(lambda: self._in_flight == 0, timeout=10)
        self._server.server_close()
        self._store.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stats(self) -> ReceiverStats:
        with self._stats_lock:
            return dataclasses.replace(self._stats, queued=self._queue.qsize())

    # -------------------------------------------------------- the HTTP threads' side

    def _retry_later(self, message: str) -> RequestError:
        with self._stats_lock:
            self._stats.refused += 1
        return RequestError(HTTPStatus.SERVICE_UNAVAILABLE, message, {"Retry-After": str(self.retry_after)})

    def accept(self, record: dict[str, Any]) -> Outcome:
        """Queue a decoded request for the writer and wait until it is written."""
        if not otlp_http.carries_spans(record):
            return Outcome()
        job = _Job(record, Future())
        with self._lock:
            if self._closing:
                raise self._retry_later("the receiver is shutting down")
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise self._retry_later(
                    f"the receiver is busy: {self._queue.maxsize} requests are waiting to be written"
                ) from None
        try:
            return job.done.result()
        except Exception as exc:
            raise self._retry_later(f"the store could not be written: {type(exc).__name__}: {exc}") from None

    def request_started(self) -> None:
        with self._idle:
            self._in_flight += 1

    def request_finished(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    # ------------------------------------------------------------ the writer's side

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[_Job] = []
            while item is not _STOP:
                batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if item is _STOP:
                return

    def _write(self, batch: list[_Job]) -> None:
        try:
            report = ingest_records(self._store, [job.record for job in batch], NAME, self.url)
        except Exception as exc:
            if len(batch) > 1:  # write them one by one, so only the request that cannot be written fails
                for job in batch:
                    self._write([job])
                return
            log.error("could not write a request to %s: %s: %s", self._store.path, type(exc).__name__, exc)
            batch[0].done.set_exception(exc)
            return
        with self._stats_lock:
            self._stats.requests += len(batch)
            self._stats.ingested += report.ingested
            self._stats.duplicates += report.duplicates
            self._stats.updated += report.updated
            self._stats.quarantined += report.quarantined
        for job in batch:
            job.done.set_result(self._outcome(job.record) if report.quarantined else Outcome())

    def _outcome(self, record: dict[str, Any]) -> Outcome:
        """Which spans of a written request were quarantined: the adapter's verdict on it again
        (it is deterministic), since one ingest report counts a whole batch of requests."""
        items = parse_record(Record(record, None, None), FORMATS[NAME], True, self.url)
        rejected = [item for item in items if isinstance(item, QuarantinedRecord)]
        if not rejected:
            return Outcome()
        reasons = "; ".join(f"{r.location}: {r.reason}" if r.location else r.reason for r in rejected[:_REASONS_SHOWN])
        more = f"; {len(rejected) - _REASONS_SHOWN} more" if len(rejected) > _REASONS_SHOWN else ""
        return Outcome(
            len(rejected),
            f"{len(rejected)} of {len(items)} spans could not be read and were quarantined"
            f" (see `investigator quarantine list`): {reasons}{more}",
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not hold up the exit
    request_queue_size = 64  # connections waiting to be accepted (the stdlib's default is 5)

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        host, port = address
        self.address_family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                 flags=socket.AI_PASSIVE)[0][0]
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):  # a client that hung up is not the receiver's error
            log.error("error answering %s: %s: %s", client_address, type(error).__name__, error)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as exporters expect
    server_version = f"investigator/{__version__}"
    sys_version = ""
    timeout = 60  # an idle connection is closed after this many seconds
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        content_type = self.headers.get_content_type() if self.headers.get("Content-Type") else ""
        media = otlp_http.response_type(content_type)
        receiver.request_started()
        try:
            try:
                body = self._read_body(receiver.max_body)
                self._check_path()
                record = otlp_http.decode(content_type, self.headers.get("Content-Encoding"), body, receiver.max_body)
                outcome = receiver.accept(record)
            except RequestError as error:
                self.close_connection = self.close_connection or error.close
                self._reply(error.status, media, otlp_http.status_response(media, error.message), error.headers)
                return
            self._reply(HTTPStatus.OK, media, otlp_http.export_response(media, *outcome))
        finally:
            receiver.request_finished()

    def do_GET(self) -> None:
        try:
            self._check_path()
            error = RequestError(HTTPStatus.METHOD_NOT_ALLOWED, "send traces with POST", {"Allow": "POST"})
        except RequestError as not_found:
            error = not_found
        body = otlp_http.status_response(otlp_http.PROTOBUF, error.message)
        self._reply(error.status, otlp_http.PROTOBUF, body, error.headers)

    def _check_path(self) -> None:
        path = urlsplit(self.path).path
        if path != otlp_http.TRACES_PATH:
            raise RequestError(HTTPStatus.NOT_FOUND, f"no endpoint {path!r}: traces go to POST {otlp_http.TRACES_PATH}")

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not accepted: send Content-Length",
                               close=True)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required", close=True)
        try:
            length = int(length_header)
        except ValueError:
            length = -1
        if length < 0:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}", close=True)
        if length > limit:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes is over the {limit}-byte"
                               " limit", close=True)
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body ended after {len(body)} of {length} bytes", close=True)
        return body

    def _reply(self, status: HTTPStatus, media: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
