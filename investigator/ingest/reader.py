"""Turning paths into a stream of JSON records, one at a time, whatever the file's shape.

A path may be a file, a directory (every trace file below it) or a glob. Files may be gzip'd.
What a file holds is told from its content, not its name:
- JSON Lines are read line by line;
- a JSON document is loaded whole when small and streamed with ijson when large, so memory stays
  bounded by the largest single record, not the file;
- values printed one after another (OpenTelemetry Python's ConsoleSpanExporter writes each span as an
  indented JSON object; OpenTelemetry JS's writes Node.js `util.inspect` text, see `node_inspect`) are
  records at the line each starts on;
- binary content is OTLP protobuf (`protobuf_files`).
"""

from __future__ import annotations

import glob
import gzip
import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson

from investigator.errors import InputError
from investigator.ingest import node_inspect

TRACE_SUFFIXES = (
    ".json", ".jsonl", ".ndjson", ".pb", ".binpb",
    ".json.gz", ".jsonl.gz", ".ndjson.gz", ".pb.gz", ".binpb.gz",
)
WHOLE_DOCUMENT_LIMIT = 256 * 1024 * 1024  # bytes; larger JSON documents are streamed
_RAW_LIMIT = 1_000_000  # characters of an unreadable document kept in its quarantine row
# JSON text holds no raw control character but tab, newline and carriage return (and a captured log
# may hold ANSI colour escapes). A protobuf message holds one within its first bytes: the tag of a
# second field (0x12), or a frame's length prefix (0x00).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
_HEAD_BYTES = 512
_GZIP_MAGIC = b"\x1f\x8b"
_NON_SPACE = re.compile(r"\S")
_VALUE_LINE = re.compile(r"^[{\[]", re.MULTILINE)  # a line that opens an object or array


@dataclass(slots=True)
class Record:
    """One JSON value from a file, with where it came from."""

    data: Any
    line: int | None
    location: str | None
    raw: bytes | None = None  # the original line, kept for quarantine


@dataclass(slots=True)
class BadRecord:
    line: int | None
    location: str | None
    reason: str
    raw: bytes


def expand_paths(paths: list[str]) -> list[Path]:
    """Files named, found in directories (recursively) or matched by globs, in a stable order."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if any(ch in given for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(given, recursive=True))
            matched_files = [p for p in matches if p.is_file()]
            if not matched_files:
                raise InputError(f"{given}: no files match this pattern")
            files.extend(matched_files)
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(TRACE_SUFFIXES)
            )
            if not found:
                raise InputError(f"{given}: directory holds no trace files ({', '.join(TRACE_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{given}: no such file or directory")
    unique: dict[str, Path] = {}
    for file in files:
        unique.setdefault(str(file.resolve()), file)
    return list(unique.values())


class _Counting(io.RawIOBase):
    """Wraps a file to report how many bytes of it (compressed, if gzip'd) have been read."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._raw.readinto(buffer)  # type: ignore[attr-defined]
        if n and self._on_bytes:
            self._on_bytes(n)
        return n or 0

    def close(self) -> None:
        self._raw.close()
        super().close()


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_MAGIC


def open_binary(path: Path, on_bytes: Callable[[int], None] | None = None) -> BinaryIO:
    raw = _Counting(open(path, "rb"), on_bytes)
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


def _unwrap(value: Any, location: str | None) -> Iterator[tuple[Any, str | None]]:
    """Arrays and `{"data": [...]}` pages hold records; anything else is one record."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield item, f"{location or ''}[{index}]"
    elif isinstance(value, dict) and isinstance(value.get("data"), list) and len(value) <= 3:
        for index, item in enumerate(value["data"]):
            yield item, f"{location or ''}data[{index}]"
    else:
        yield value, location


def iter_records(path: Path, on_bytes: Callable[[int], None] | None = None) -> Iterator[Record | BadRecord]:
    """Every record in a file. Lines that are not JSON come back as BadRecord; reading goes on."""
    with open_binary(path, on_bytes) as stream:
        if _BINARY.search(stream.peek(_HEAD_BYTES)[:_HEAD_BYTES]):  # type: ignore[attr-defined]
            from investigator.ingest.protobuf_files import iter_protobuf  # protobuf loads only when needed

            yield from iter_protobuf(stream)
            return
        head, json_lines = _head(stream)
        if not head:
            return
        if json_lines:
            for line_no, line in enumerate(itertools.chain(head, stream), 1):
                yield from parse_line(line_no, line)
        else:  # one document, or values one after another
            yield from _iter_document(path, b"".join(head), stream)


def _head(stream: BinaryIO) -> tuple[list[bytes], bool]:
    """The lines up to the first non-blank one, and whether the file is JSON Lines: its first
    non-blank line is a JSON value, or, when that line is damaged, the next non-blank one is."""
    head: list[bytes] = []
    verdicts: list[bool] = []
    for line in stream:
        head.append(line)
        if line.strip():
            verdicts.append(_is_json(line))
            if verdicts[0] or len(verdicts) == 2:
                break
    return head, any(verdicts)


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def parse_line(line_no: int, line: bytes) -> Iterator[Record | BadRecord]:
    """The records of one JSON Lines line: one value, or the elements of an array or page."""
    if not line.strip():
        return
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        yield BadRecord(line_no, None, f"invalid JSON: {exc}", line.rstrip(b"\r\n"))
        return
    if isinstance(value, list) or (isinstance(value, dict) and isinstance(value.get("data"), list)):
        for item, location in _unwrap(value, None):
            yield Record(item, line_no, location)
    else:
        yield Record(value, line_no, None, line)


def is_json_lines(path: Path) -> bool:
    """Whether the file is JSON Lines (see `_head`)."""
    with open_binary(path) as stream:
        return _head(stream)[1]


def _iter_document(path: Path, first: bytes, stream: BinaryIO) -> Iterator[Record | BadRecord]:
    size = path.stat().st_size
    if size <= WHOLE_DOCUMENT_LIMIT:
        body = first + stream.read()
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            yield from _iter_values(body.decode("utf-8", errors="replace"))
            return
        for item, location in _unwrap(value, None):
            yield Record(item, None, location or "document")
        return
    yield from _stream_document(first, stream)


def _iter_values(text: str) -> Iterator[Record | BadRecord]:
    """Values one after another, each a record at the line it starts on. Text that is not a value
    is one bad record, up to the next line that opens an object or array, where reading goes on."""
    decoder = json.JSONDecoder()
    pos, line = 0, 1
    while match := _NON_SPACE.search(text, pos):
        start = match.start()
        line += text.count("\n", pos, start)
        value, end, reason = _decode_value(decoder, text, start)
        if reason is None:
            raw = text[start:end].encode()
            for item, location in _unwrap(value, None):
                yield Record(item, line, location, raw if location is None else None)
        else:
            resume = _VALUE_LINE.search(text, start + 1)
            end = resume.start() if resume else len(text)
            yield BadRecord(line, None, reason, text[start:end][:_RAW_LIMIT].rstrip("\r\n").encode())
        line += text.count("\n", start, end)
        pos = end


def _decode_value(decoder: json.JSONDecoder, text: str, start: int) -> tuple[Any, int, str | None]:
    """The JSON or `util.inspect` value at `start`, where it ends, and why it cannot be read, if it cannot."""
    if text[start] not in "{[":
        return None, start, "not a JSON value (text between records)"
    try:
        value, end = decoder.raw_decode(text, start)
        return value, end, None
    except json.JSONDecodeError as exc:
        if not node_inspect.looks_like(text, start):
            return None, start, f"invalid JSON: {exc}"
    try:
        value, end = node_inspect.parse(text, start)
    except ValueError as exc:
        return None, start, f"invalid Node.js console output: {exc}"
    return value, end, None


def _stream_document(first: bytes, stream: BinaryIO) -> Iterator[Record | BadRecord]:
    """A document too large to load: stream the elements of its top-level array, of its OTLP
    `resourceSpans`, or of a `data` page, one at a time; else its top-level values one after another."""
    source = io.BufferedReader(_Prefixed(first, stream), buffer_size=1 << 20)
    probe = source.peek(1 << 16)
    if first.lstrip()[:1] == b"[":
        prefix, name = "item", ""
    elif b'"resourceSpans"' in probe:
        prefix, name = "resourceSpans.item", "resourceSpans"
    elif b'"data"' in probe:
        prefix, name = "data.item", "data"
    else:
        prefix, name = "", "value"
    try:
        values = ijson.items(source, prefix, use_float=True, multiple_values=not prefix)
        for index, item in enumerate(values):
            location = f"{name}[{index}]"
            if name == "resourceSpans":
                yield Record({name: [item]}, None, location)
            elif name == "value":
                for element, inner in _unwrap(item, location):
                    yield Record(element, None, inner)
            else:
                yield Record(item, None, location)
    except ijson.JSONError as exc:
        yield BadRecord(None, "document", f"invalid JSON document: {exc}", b"")


class _Prefixed(io.RawIOBase):
    def __init__(self, first: bytes, stream: BinaryIO) -> None:
        self._pending = first
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pending:
            n = min(len(buffer), len(self._pending))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
