"""OTLP protobuf files: one serialized ExportTraceServiceRequest (a `.pb` / `.binpb` dump), or the
OpenTelemetry Collector file exporter's `format: proto` output, where each message is preceded by
its length as a 4-byte big-endian unsigned integer.

The two are told apart by the first byte: a request opens with the tag of its only field
(`resource_spans`, 0x0A), a framed file with the high byte of a length. Each request becomes one
record in the OTLP/JSON shape (`otlp_proto.decode_request`), read by the `otlp-json` adapter. Bytes
that cannot be decoded are one bad record saying where they sit; after a frame that cannot be
decoded the file is not read further, since its framing can no longer be trusted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import BinaryIO

from investigator.errors import ProtobufError
from investigator.ingest.otlp_proto import decode_request
from investigator.ingest.reader import BadRecord, Record

_REQUEST_TAG = 0x0A
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_RAW_BYTES = 64 * 1024  # of an undecodable message, kept (base64) in its quarantine row


def iter_protobuf(stream: BinaryIO) -> Iterator[Record | BadRecord]:
    """The requests in a binary file: the whole file, or each length-prefixed frame."""
    head = stream.peek(4)[:4]  # type: ignore[attr-defined]
    if head[:1] == bytes([_REQUEST_TAG]):
        yield _decoded(stream.read(), "request", 0)
    elif head == _ZSTD_MAGIC:
        yield _bad(head + stream.read(_RAW_BYTES), "file", "zstd-compressed; decompress it first (zstd -d FILE)")
    else:
        yield from _frames(stream)


def _frames(stream: BinaryIO) -> Iterator[Record | BadRecord]:
    offset = 0
    index = 0
    while prefix := stream.read(4):
        location = f"message[{index}]"
        if len(prefix) < 4:
            yield _bad(prefix, location, f"truncated length prefix at byte {offset}: {len(prefix)} of 4 bytes")
            return
        size = int.from_bytes(prefix, "big")
        body = stream.read(size)
        if len(body) < size:
            yield _bad(body, location, f"truncated message at byte {offset}: its length prefix says {size} bytes,"
                                       f" {len(body)} follow (not a collector proto file?)")
            return
        item = _decoded(body, location, offset + 4)
        yield item
        if isinstance(item, BadRecord):
            return
        offset += 4 + size
        index += 1


def _decoded(data: bytes, location: str, offset: int) -> Record | BadRecord:
    if data.startswith(_ZSTD_MAGIC):
        return _bad(data, location, "zstd-compressed; decompress it first (zstd -d FILE)")
    try:
        return Record(decode_request(data), None, location)
    except ProtobufError as exc:
        return _bad(data, location, f"{exc} ({len(data)} bytes at byte {offset})")


def _bad(data: bytes, location: str, reason: str) -> BadRecord:
    return BadRecord(None, location, reason, b"base64:" + base64.b64encode(data[:_RAW_BYTES]))
