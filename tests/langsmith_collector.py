"""A loopback stand-in for the LangSmith API that keeps what the `langsmith` SDK sends to it.

One server answers several modes, chosen by the first path segment of the api_url a client is
given (`{url}/batch`, `{url}/manual`, `{url}/zstd`, `{url}/single`): its `GET /info` tells the SDK
to send JSON batches to `/runs/batch` (`use_multipart_endpoint: false`; `manual` is the same, for a
second client) or zstd-compressed multipart forms to `/runs/multipart` (`zstd_compression_enabled`:
what the SDK sends a current server by default); a client made with `auto_batch_tracing=False`
sends each run on its own (`POST /runs`, then `PATCH /runs/{id}`). Every ingestion request is kept
as the user saving it would keep it: a JSON body byte for byte; a multipart form as one JSON object
mapping each part's name to its JSON content (decompressed first when the SDK compressed it).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple

import zstandard
from loopback import LoopbackServer

_INGEST_CONFIG = {
    "size_limit": 100,
    "size_limit_bytes": 20_971_520,
    "scale_up_nthreads_limit": 16,
    "scale_up_qsize_trigger": 1000,
    "scale_down_nempty_trigger": 4,
}
INFO: dict[str, dict[str, Any]] = {
    "batch": {"version": "0.11.0", "batch_ingest_config": {**_INGEST_CONFIG, "use_multipart_endpoint": False}},
    "manual": {"version": "0.11.0", "batch_ingest_config": {**_INGEST_CONFIG, "use_multipart_endpoint": False}},
    "zstd": {
        "version": "0.11.0",
        "batch_ingest_config": {**_INGEST_CONFIG, "use_multipart_endpoint": True},
        "instance_flags": {"zstd_compression_enabled": True},
    },
    "single": {"version": "0.11.0"},
}


def form_fields(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {part name: the part's JSON content}, in the order sent."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields[str(name)] = json.loads(part.get_payload(decode=True))
    return fields


class Saved(NamedTuple):
    """One ingestion request: `POST /runs/batch` and the like, its content encoding, the JSON kept."""

    request: str
    encoding: str
    text: str


class LangSmithCollector(LoopbackServer):
    """Keeps every ingestion request, per mode, in the order the SDK sent them."""

    def __init__(self) -> None:
        self.saved: dict[str, list[Saved]] = {mode: [] for mode in INFO}
        self._lock = threading.Lock()
        super().__init__()

    def endpoint(self, mode: str) -> str:
        """The API URL to give a client: the mode is the first segment of the path."""
        return f"{self.url}/{mode}"

    def _keep(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        mode, _, endpoint = path.lstrip("/").partition("/")
        encoding = headers.get("content-encoding", "")
        if method == "GET" and endpoint == "info":
            return INFO[mode]
        if endpoint == "runs/multipart":
            if encoding == "zstd":
                body = zstandard.ZstdDecompressor().stream_reader(body).read()
            saved = json.dumps(form_fields(headers["content-type"], body))
        elif endpoint == "runs/batch" or (endpoint == "runs" and method == "POST") or method == "PATCH":
            saved = body.decode()
        else:
            return {}
        with self._lock:
            self.saved[mode].append(Saved(f"{method} /{endpoint}", encoding, saved))
        return {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = collector._keep(self.command, self.path, headers, body)
                payload = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = _answer  # noqa: N815 (http.server naming)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
