"""OTLP protobuf: an `ExportTraceServiceRequest` (what OTLP/HTTP exporters POST with
`Content-Type: application/x-protobuf`, and what `.pb`/`.binpb` dumps hold) decoded into the
OTLP/JSON shape the `otlp-json` adapter reads, so both encodings go through one adapter.

Ids come out base64-encoded (protobuf's JSON mapping of `bytes`), which the adapter decodes;
enums come out as their names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`), which it also reads.
"""

from __future__ import annotations

from typing import Any

from investigator.errors import ProtobufError


def decode_request(data: bytes) -> dict[str, Any]:
    """The OTLP/JSON form (`{"resourceSpans": [...]}`) of a serialized ExportTraceServiceRequest."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise ProtobufError(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    return MessageToDict(request)
