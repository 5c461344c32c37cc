"""Ingest: files or in-memory records → adapters → batched writes into the store.

Each file's format is detected from its first records (or forced). Every record ends up stored or
quarantined with its file, line and reason; a bad record never stops the run. After the last batch
the store recomputes the rollups of the traces that changed. The full-text index is built later,
when it is first searched (`Store.search_text`), so ingest does not pay for it.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from investigator.ingest.base import Adapter, Rejected
from investigator.ingest.reader import (
    BadRecord,
    InputError,
    Record,
    expand_paths,
    file_size,
    is_json_lines,
    iter_records,
    open_binary,
    parse_line,
)
from investigator.ingest.registry import FORMATS, adapter_for
from investigator.models import QuarantinedRecord, TraceInfo
from investigator.store import BatchCounts, Store

BATCH_SPANS = 5000
BATCH_BYTES = 48 * 1024 * 1024
SNIFF_RECORDS = 50
PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # JSON Lines files this large are parsed by workers
CHUNK_LINES = 2000
CHUNK_BYTES = 8 * 1024 * 1024
MAX_WORKERS = 4


@dataclass
class IngestReport:
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    quarantined: int = 0
    traces: int = 0
    files: dict[str, str] = field(default_factory=dict)  # file → detected format
    errors: list[str] = field(default_factory=list)  # files that could not be read at all

    def summary(self) -> dict[str, int]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "quarantined": self.quarantined,
            "traces": self.traces,
        }

    @property
    def anything_read(self) -> bool:
        return bool(self.ingested or self.duplicates or self.updated or self.quarantined)


class _Batcher:
    """Collects parsed items and writes them to the store in bounded batches."""

    def __init__(self, store: Store, report: IngestReport) -> None:
        self.store = store
        self.report = report
        self.spans: list[dict[str, Any]] = []
        self.infos: list[TraceInfo] = []
        self.rejected: list[QuarantinedRecord] = []
        self.size = 0
        self.touched: set[str] = set()
        self.changed: set[str] = set()

    def add(self, item: Item) -> None:
        if isinstance(item, QuarantinedRecord):
            self.rejected.append(item)
            self.report.quarantined += 1
        elif isinstance(item, TraceInfo):
            self.infos.append(item)
            self.touched.add(item.trace_id)
        else:
            row, size = item
            self.spans.append(row)
            self.touched.add(row["trace_id"])
            self.size += size
            if len(self.spans) >= BATCH_SPANS or self.size >= BATCH_BYTES:
                self.flush()

    def flush(self) -> None:
        if not (self.spans or self.infos or self.rejected):
            return
        counts: BatchCounts = self.store.write_batch(self.spans, self.infos, self.rejected)
        self.report.ingested += counts.ingested
        self.report.duplicates += counts.duplicates
        self.report.updated += counts.updated
        self.changed |= counts.changed
        self.spans, self.infos, self.rejected, self.size = [], [], [], 0

    def finish(self) -> None:
        self.flush()
        self.store.refresh_traces(self.changed)
        self.store.forget_analysis(self.changed)
        self.report.traces = len(self.touched)


# A parsed item: a span row with its share of the input bytes, a trace record, or a rejection.
Item = tuple[dict[str, Any], int] | TraceInfo | QuarantinedRecord


def _raw_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\r\n").decode("utf-8", errors="replace")
    return orjson.dumps(value, default=str).decode()


def _detect(records: list[Record]) -> Adapter | None:
    for record in records:
        for adapter in FORMATS.values():
            if adapter.sniff(record.data):
                return adapter
    return None


def parse_record(record: Record | BadRecord, adapter: Adapter | None, forced: bool, source: str) -> list[Item]:
    """Normalise one record with the file's adapter (or, unforced, whichever adapter claims it).
    Never raises: whatever cannot be normalised comes back as a quarantine record."""
    if isinstance(record, BadRecord):
        return [QuarantinedRecord(file=source, line=record.line, location=record.location,
                                  format=adapter.NAME if adapter else None, reason=record.reason,
                                  raw=_raw_text(record.raw))]
    chosen = adapter
    if chosen is None or (not forced and not chosen.sniff(record.data)):
        chosen = next((a for a in FORMATS.values() if a.sniff(record.data)), None)
    if chosen is None:
        return [QuarantinedRecord(file=source, line=record.line, location=record.location, format=None,
                                  reason="record matches no supported trace format",
                                  raw=_raw_text(record.raw if record.raw is not None else record.data))]
    size = len(record.raw) if record.raw is not None else 2048
    try:
        results = list(chosen.parse(record.data))
    except Exception as exc:  # an adapter bug must cost one record, not the run
        results = [Rejected(f"{type(exc).__name__}: {exc}", record.data)]
    per_span = max(size // max(len(results), 1), 1)
    items: list[Item] = []
    for result in results:
        if isinstance(result, Rejected):
            location = record.location
            if result.location:
                location = f"{location}.{result.location}" if location else result.location
            raw = result.raw if result.raw is not record.data or record.raw is None else record.raw
            items.append(QuarantinedRecord(file=source, line=record.line, location=location,
                                           format=chosen.NAME, reason=result.reason, raw=_raw_text(raw)))
        elif isinstance(result, TraceInfo):
            items.append(result)
        else:
            result["source_format"] = result.get("source_format") or chosen.NAME
            items.append((result, per_span))
    return items


def _parse_lines(job: tuple[str | None, bool, str, list[tuple[int, bytes]]]) -> list[Item]:
    """Worker: JSON-decode and normalise a chunk of JSON Lines lines."""
    fmt, forced, source, lines = job
    adapter = FORMATS[fmt] if fmt else None
    return [
        item
        for line_no, line in lines
        for record in parse_line(line_no, line)
        for item in parse_record(record, adapter, forced, source)
    ]


def _line_chunks(stream: Iterable[bytes], start: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    size = 0
    for line_no, line in enumerate(stream, start):
        chunk.append((line_no, line))
        size += len(line)
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _workers() -> int:
    return max(1, min(MAX_WORKERS, (os.cpu_count() or 2) - 1))


def _ingest_file(batcher: _Batcher, path: Path, forced_adapter: Adapter | None, forced: bool,
                 on_bytes: Callable[[int], None] | None) -> str | None:
    """Ingest one file; returns an error message when its format cannot be recognised."""
    source = str(path)
    parallel = file_size(path) >= PARALLEL_MIN_BYTES and is_json_lines(path)
    if not parallel:
        stream: Iterator[Record | BadRecord] = iter_records(path, on_bytes)
        head: list[Record | BadRecord] = []
        for item in stream:
            head.append(item)
            if sum(isinstance(h, Record) for h in head) >= SNIFF_RECORDS:
                break
        adapter = forced_adapter or _detect([h for h in head if isinstance(h, Record)])
        if adapter is None and any(isinstance(h, Record) for h in head):
            return f"{source}: unknown format (not one of {', '.join(FORMATS)})"
        if adapter is None and not head:
            return f"{source}: empty file"
        batcher.report.files[source] = adapter.NAME if adapter else "unreadable"
        for record in itertools.chain(head, stream):
            for item in parse_record(record, adapter, forced, source):
                batcher.add(item)
        return None
    # Large JSON Lines: worker processes decode and normalise chunks of lines while this
    # process writes to the store, so parsing overlaps with SQLite's work.
    with open_binary(path, on_bytes) as handle:
        lines = iter(handle)
        head_lines = list(itertools.islice(lines, SNIFF_RECORDS))
        head_records = [r for n, line in enumerate(head_lines, 1) for r in parse_line(n, line)]
        adapter = forced_adapter or _detect([r for r in head_records if isinstance(r, Record)])
        if adapter is None:
            return f"{source}: unknown format (not one of {', '.join(FORMATS)})"
        batcher.report.files[source] = adapter.NAME
        for record in head_records:
            for item in parse_record(record, adapter, forced, source):
                batcher.add(item)
        jobs = ((adapter.NAME, forced, source, chunk) for chunk in _line_chunks(lines, len(head_lines) + 1))
        context = multiprocessing.get_context("spawn")
        with context.Pool(_workers()) as pool:
            for items in pool.imap(_parse_lines, jobs):
                for item in items:
                    batcher.add(item)
    return None


def ingest_paths(
    store: Store,
    paths: list[str],
    fmt: str = "auto",
    on_bytes: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest files, directories and globs. Raises InputError when a path does not exist or
    `fmt` is unknown; a file whose format cannot be recognised is reported in `errors`."""
    forced = fmt != "auto"
    forced_adapter = adapter_for(fmt) if forced else None
    files = expand_paths(paths)
    report = IngestReport()
    batcher = _Batcher(store, report)
    for path in files:
        try:
            error = _ingest_file(batcher, path, forced_adapter, forced, on_bytes)
        except (OSError, EOFError) as exc:
            error = f"{path}: cannot read: {exc}"
        if error:
            report.errors.append(error)
    batcher.finish()
    return report


def ingest_records(store: Store, records: Iterable[Any], fmt: str, source: str) -> IngestReport:
    """Ingest already-parsed records (e.g. from a tracing processor) in the named format."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}")
    report = IngestReport()
    batcher = _Batcher(store, report)
    for index, data in enumerate(records):
        for item in parse_record(Record(data, None, f"[{index}]"), FORMATS[fmt], True, source):
            batcher.add(item)
    batcher.finish()
    return report
