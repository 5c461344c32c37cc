"""Turning paths into a stream of JSON records, one at a time, whatever the file's shape.

A path may be a file, a directory (every trace file below it) or a glob. Files may be gzip'd.
JSON Lines files are read line by line; a JSON document is loaded whole when small and streamed
with ijson when large, so memory stays bounded by the largest single record, not the file.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson

TRACE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
WHOLE_DOCUMENT_LIMIT = 256 * 1024 * 1024  # bytes; larger JSON documents are streamed


class InputError(Exception):
    """A path that cannot be read at all (missing, unreadable, not a trace file)."""


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


def open_binary(path: Path, on_bytes: Callable[[int], None] | None = None) -> BinaryIO:
    raw = _Counting(open(path, "rb"), on_bytes)
    buffered = io.BufferedReader(raw, buffer_size=1 << 20)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
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
        first = b""
        while not first.strip():
            first = stream.readline()
            if not first:
                return
        try:
            head = orjson.loads(first)
        except orjson.JSONDecodeError:
            head = None
        if head is None and first.lstrip()[:1] in (b"{", b"["):
            yield from _iter_document(path, first, stream)
            return
        yield from _iter_lines(first, stream)


def _iter_lines(first: bytes, stream: BinaryIO) -> Iterator[Record | BadRecord]:
    for line_no, line in enumerate(_chain_first(first, stream), 1):
        yield from parse_line(line_no, line)


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
    """Whether the file's first non-blank line is a complete JSON value (JSON Lines)."""
    with open_binary(path) as stream:
        for line in stream:
            if line.strip():
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    return False
                return True
    return False


def _chain_first(first: bytes, stream: BinaryIO) -> Iterator[bytes]:
    yield first
    yield from stream


def _iter_document(path: Path, first: bytes, stream: BinaryIO) -> Iterator[Record | BadRecord]:
    size = path.stat().st_size
    if size <= WHOLE_DOCUMENT_LIMIT:
        body = first + stream.read()
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            yield BadRecord(1, None, f"invalid JSON document: {exc}", body[:1_000_000])
            return
        for item, location in _unwrap(value, None):
            yield Record(item, None, location or "document")
        return
    yield from _stream_document(first, stream)


def _stream_document(first: bytes, stream: BinaryIO) -> Iterator[Record | BadRecord]:
    """A document too large to load: stream the elements of its top-level array, of its
    OTLP `resourceSpans`, or of a `data` page, one at a time."""
    source = io.BufferedReader(_Prefixed(first, stream), buffer_size=1 << 20)
    lead = first.lstrip()[:1]
    if lead == b"[":
        prefix, wrap = "item", None
    else:
        probe = source.peek(1 << 16)
        if b'"resourceSpans"' in probe:
            prefix, wrap = "resourceSpans.item", "resourceSpans"
        else:
            prefix, wrap = "data.item", None
    try:
        for index, item in enumerate(ijson.items(source, prefix, use_float=True)):
            location = f"{prefix.split('.')[0] if wrap or prefix != 'item' else ''}[{index}]"
            yield Record({wrap: [item]} if wrap else item, None, location)
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
