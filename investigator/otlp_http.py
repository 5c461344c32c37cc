"""OTLP/HTTP on the wire: reading a trace export request's body, writing the responses.

Per the OTLP specification (OTLP/HTTP): a request body is an `ExportTraceServiceRequest`, binary
protobuf (`Content-Type: application/x-protobuf`) or its JSON encoding (`application/json`),
optionally compressed (`Content-Encoding: gzip`; the Python exporter also offers `deflate`). Its
size is limited after decompression too (413). Every response is in the request's encoding: an
`ExportTraceServiceResponse` on success, with `partial_success` set only when spans were rejected,
and a `google.rpc.Status` carrying the reason for every 4xx and 5xx.
"""

from __future__ import annotations

import zlib
from http import HTTPStatus
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)

from investigator.errors import ProtobufError, RequestError
from investigator.ingest.otlp_proto import decode_request

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Content-Encoding → zlib window bits (gzip framing, zlib framing); "identity" is no coding.
_CODINGS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def response_type(content_type: str) -> str:
    """The response encoding for a request's media type: JSON for JSON, else protobuf."""
    return JSON if content_type == JSON else PROTOBUF


def _inflate(body: bytes, coding: str | None, limit: int) -> bytes:
    """The body with its Content-Encoding undone, refused once it grows past `limit` bytes."""
    name = (coding or "identity").strip().lower()
    if name == "identity":
        return body
    if name not in _CODINGS:
        raise RequestError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"unsupported Content-Encoding {coding!r}: send gzip, deflate or none"
        )
    out = bytearray()
    rest = body
    while rest:  # gzip allows several members, one after another
        stream = zlib.decompressobj(_CODINGS[name])
        try:
            out += stream.decompress(rest, limit + 1 - len(out))
        except zlib.error as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not valid {name} data: {exc}") from None
        if len(out) > limit:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body is over {limit} bytes once decompressed")
        if not stream.eof:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body ends inside its {name} stream (truncated)")
        rest = stream.unused_data
    return bytes(out)


def decode(content_type: str, content_encoding: str | None, body: bytes, limit: int) -> dict[str, Any]:
    """An export request's body (of this media type and Content-Encoding, at most `limit` bytes
    once decompressed) as the OTLP/JSON dict the `otlp-json` adapter reads."""
    if content_type not in (PROTOBUF, JSON):
        given = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"unsupported: {given}; send {PROTOBUF} or {JSON}")
    body = _inflate(body, content_encoding, limit)
    if content_type == PROTOBUF:
        try:
            return decode_request(body)
        except ProtobufError as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "body is not an ExportTraceServiceRequest JSON object")
    if not isinstance(request.get("resourceSpans", []), list):
        raise RequestError(HTTPStatus.BAD_REQUEST, "field 'resourceSpans' is not a list")
    return request


def carries_spans(request: dict[str, Any]) -> bool:
    """Whether a decoded request holds any span, or anything malformed for the adapter to quarantine.
    An empty request is answered with success and not written (the spec: receivers may ignore it)."""
    for resource in request.get("resourceSpans") or []:
        if not isinstance(resource, dict):
            return True
        for scope in resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []:
            if not isinstance(scope, dict) or scope.get("spans"):
                return True
    return False


def _encode(message: Message, media: str) -> bytes:
    return orjson.dumps(MessageToDict(message)) if media == JSON else message.SerializeToString()


def export_response(media: str, rejected: int = 0, error_message: str | None = None) -> bytes:
    """An ExportTraceServiceResponse; `partial_success` is set only when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=error_message or "")
        )
    return _encode(response, media)


def status_response(media: str, message: str) -> bytes:
    """A google.rpc.Status with the reason (OTLP does not use its `code`, so it is left unset)."""
    return _encode(Status(message=message), media)
