"""Ingest: files or in-memory records → adapters → batched writes into the store.

Each file's format is detected from its first records (or forced). Every record ends up stored or
quarantined with its (absolute) file, line and reason, and a bad record never stops the run: a record
no adapter claims, one a forced format does not fit (it looks like another format), one its adapter
finds nothing in, and a span that conflicts with the one already stored (`span_merge`) are all
quarantined; a file that cannot be read leaves a quarantine row saying so. After the last batch the
store recomputes the rollups of the traces that changed. The full-text index is built later, when it
is first searched (`Store.search_spans`), so ingest does not pay for it.
"""

from __future__ import annotations

import collections
import contextlib
import io
import itertools
import multiprocessing
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from investigator.errors import InputError
from investigator.ingest.base import Adapter, Rejected
from investigator.ingest.reader import (
    BadRecord,
    Record,
    expand_paths,
    file_size,
    is_gzip,
    is_json_lines,
    iter_records,
    open_binary,
    parse_line,
)
from investigator.ingest.registry import FORMATS, adapter_for
from investigator.models import QuarantinedRecord, TraceInfo
from investigator.span_merge import Conflict
from investigator.store import BatchCounts, Store
from investigator.store.span_rows import EncodedSpans, encode_spans

BATCH_SPANS = 5000
BATCH_BYTES = 48 * 1024 * 1024
SNIFF_RECORDS = 50
PARALLEL_MIN_BYTES = 64 * 1024 * 1024  # JSON Lines files this large are parsed by workers
BULK_MIN_BYTES = 64 * 1024 * 1024  # inputs this large go into an empty store in bulk-load mode
CHUNK_BYTES = 8 * 1024 * 1024
MAX_WORKERS = 4


@dataclass
class FileOutcome:
    """What became of the records of one input file (or in-memory source)."""

    format: str | None = None  # the format it was read as; None when none was recognised
    kept: int = 0  # spans and trace records now in the store: new, merged, or already there
    quarantined: int = 0  # records quarantined (conflicting spans are counted apart)
    conflicts: int = 0  # spans not stored: they contradict the span already stored
    problem: str | None = None  # what is wrong with the file as a whole, if anything

    def describe(self) -> str:
        parts = [self.problem] if self.problem else []
        if self.quarantined:
            parts.append(f"{self.quarantined} records quarantined")
        if self.conflicts:
            parts.append(f"{self.conflicts} spans conflict with stored spans")
        return "; ".join(parts) or "no records"


@dataclass
class IngestReport:
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    conflicts: int = 0
    quarantined: int = 0
    traces: int = 0
    outcomes: dict[str, FileOutcome] = field(default_factory=dict)  # by absolute file path, in input order
    pushdown: dict[str, int] = field(default_factory=dict)  # a query source: what it scanned, what came over

    def summary(self) -> dict[str, int]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "updated": self.updated,
            "conflicts": self.conflicts,
            "quarantined": self.quarantined,
            "traces": self.traces,
        }

    def add(self, other: IngestReport) -> None:
        """Count another ingest's spans, files and source figures in with this one's."""
        for name, value in other.summary().items():
            setattr(self, name, getattr(self, name) + value)
        self.outcomes.update(other.outcomes)
        for name, value in other.pushdown.items():
            self.pushdown[name] = self.pushdown.get(name, 0) + value

    @property
    def files(self) -> dict[str, str]:
        """Each file whose format was recognised (or forced), with that format."""
        return {path: o.format for path, o in self.outcomes.items() if o.format}

    @property
    def errors(self) -> list[str]:
        """What is wrong with each file as a whole (unreadable, empty, unknown or mismatched format)."""
        return [f"{path}: {o.problem}" for path, o in self.outcomes.items() if o.problem]

    def failure(self) -> str | None:
        """When nothing at all was ingested (not one span or trace record of the input is in the
        store, not even as a duplicate), the message naming every file and why; else None."""
        if any(o.kept for o in self.outcomes.values()):
            return None
        shown = list(self.outcomes.items())[:_FILES_NAMED]
        lines = [f"  {path}: {outcome.describe()}" for path, outcome in shown]
        if len(self.outcomes) > len(shown):
            lines.append(f"  and {len(self.outcomes) - len(shown)} more files")
        return "\n".join(["nothing ingested from:", *lines])


_FILES_NAMED = 10  # in the message when nothing was ingested

# Where a span was read: the file (or source), line and location of its record.
Origin = tuple[str, int | None, str | None]


class _Batcher:
    """Collects parsed items and writes them to the store in bounded batches."""

    def __init__(self, store: Store, report: IngestReport) -> None:
        self.store = store
        self.report = report
        self.spans: list[dict[str, Any]] = []
        self.origins: list[Origin] = []  # of each span in `spans`
        self.infos: list[TraceInfo] = []
        self.rejected: list[QuarantinedRecord] = []
        self.size = 0
        self.touched: set[str] = set()
        self.current = FileOutcome()

    def start(self, source: str, fmt: str | None = None) -> FileOutcome:
        """The items added from now on come from `source`."""
        self.current = self.report.outcomes.setdefault(source, FileOutcome(format=fmt))
        return self.current

    def add(self, item: Item) -> None:
        if isinstance(item, QuarantinedRecord):
            self.rejected.append(item)
            self.report.quarantined += 1
            self.current.quarantined += 1
        elif isinstance(item, TraceInfo):
            self.infos.append(item)
            self.touched.add(item.trace_id)
            self.current.kept += 1
        else:
            row, size, origin = item
            self.spans.append(row)
            self.origins.append(origin)
            self.touched.add(row["trace_id"])
            self.current.kept += 1
            self.size += size
            if len(self.spans) >= BATCH_SPANS or self.size >= BATCH_BYTES:
                self.flush()

    def add_chunk(self, chunk: ParsedChunk, source: str, first_line: int) -> None:
        """Write what a worker parsed from the lines of `source` from `first_line` on."""
        self.flush()
        offset = first_line - 1
        for record in chunk.rejected:
            record.line = record.line + offset if record.line is not None else None
        self.report.quarantined += len(chunk.rejected)
        self.current.quarantined += len(chunk.rejected)
        self.current.kept += len(chunk.spans) + len(chunk.infos)
        self.touched.update(values[0] for values in chunk.spans.values)
        self.touched.update(info.trace_id for info in chunk.infos)
        origins = [(source, line + offset, location) for line, location in chunk.origins]
        self._write(chunk.spans, origins, chunk.infos, chunk.rejected)

    def flush(self) -> None:
        if self.spans or self.infos or self.rejected:
            self._write(encode_spans(self.spans), self.origins, self.infos, self.rejected)
        self.spans, self.origins, self.infos, self.rejected, self.size = [], [], [], [], 0

    def _write(self, spans: EncodedSpans, origins: list[Origin], infos: list[TraceInfo],
               rejected: list[QuarantinedRecord]) -> None:
        counts: BatchCounts = self.store.write_encoded(spans, infos, rejected)
        self.report.ingested += counts.ingested
        self.report.duplicates += counts.duplicates
        self.report.updated += counts.updated
        if counts.conflicts:
            self.store.write_batch([], rejected=[self._conflict(c, origins[c.index]) for c in counts.conflicts])

    def _conflict(self, conflict: Conflict, origin: Origin) -> QuarantinedRecord:
        """The quarantine row of a sighting that contradicts the stored span, counted against its file."""
        file, line, location = origin
        outcome = self.report.outcomes[file]
        outcome.kept -= 1
        outcome.conflicts += 1
        self.report.conflicts += 1
        row = conflict.row
        return QuarantinedRecord(
            file=file, line=line, location=location, format=row["source_format"] or None,
            reason=f"conflicts with the stored span {row['span_id']} of trace {row['trace_id']}:"
                   f" {'; '.join(conflict.differences)} (the stored version is kept)",
            raw=_raw_text({"trace_id": row["trace_id"], "span_id": row["span_id"], **row}),
        )

    def finish(self) -> None:
        self.flush()
        self.report.traces = len(self.touched)


# A parsed item: a span row with its share of the input bytes and where it was read, a trace
# record, or a rejection.
Item = tuple[dict[str, Any], int, Origin] | TraceInfo | QuarantinedRecord


def _raw_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\r\n").decode("utf-8", errors="replace")
    return orjson.dumps(value, default=str).decode()


def _claimant(data: Any) -> Adapter | None:
    """The first adapter, in the registry's order, that takes this record for its format."""
    return next((a for a in FORMATS.values() if a.sniff(data)), None)


def _detect(records: list[Record]) -> Adapter | None:
    return next((a for a in map(_claimant, (r.data for r in records)) if a is not None), None)


def _choose(data: Any, adapter: Adapter | None, forced: bool) -> tuple[Adapter | None, str]:
    """The adapter to read a record with, or None and why not. Unforced: the file's adapter when it
    claims the record, else whichever does. Forced: the forced one, unless it does not claim the
    record and another adapter does (the record is then that format, not the forced one)."""
    if adapter is not None and adapter.sniff(data):
        return adapter, ""
    claimant = _claimant(data)
    if forced and adapter is not None:
        if claimant is not None:
            return None, f"not in the {adapter.NAME} format: it looks like {claimant.NAME}"
        return adapter, ""
    return claimant, "" if claimant else "record matches no supported trace format"


def parse_record(record: Record | BadRecord, adapter: Adapter | None, forced: bool, source: str) -> list[Item]:
    """Normalise one record with the file's adapter (or, unforced, whichever adapter claims it).
    Never raises: whatever cannot be normalised comes back as a quarantine record, and so does a
    record the adapter finds nothing in."""
    if isinstance(record, BadRecord):
        return [QuarantinedRecord(file=source, line=record.line, location=record.location,
                                  format=adapter.NAME if adapter else None, reason=record.reason,
                                  raw=_raw_text(record.raw))]
    chosen, refusal = _choose(record.data, adapter, forced)
    if chosen is None:
        return [QuarantinedRecord(file=source, line=record.line, location=record.location,
                                  format=adapter.NAME if forced and adapter else None, reason=refusal,
                                  raw=_raw_text(record.raw if record.raw is not None else record.data))]
    size = len(record.raw) if record.raw is not None else 2048
    try:
        results = list(chosen.parse(record.data))
    except Exception as exc:  # an adapter bug must cost one record, not the run
        results = [Rejected(f"{type(exc).__name__}: {exc}", record.data)]
    if not results:
        results = [Rejected(f"no spans or trace records in this record (read as {chosen.NAME})", record.data)]
    origin = (source, record.line, record.location)
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
            items.append((result, per_span, origin))
    return items


@dataclass(slots=True)
class ParsedChunk:
    """What a worker made of a run of JSON Lines lines: the spans encoded for the store, with the
    line (counted from 1 at the run's first line) and location each was read from; the trace
    records; the rejections, their lines counted the same way."""

    lines: int
    spans: EncodedSpans
    origins: list[tuple[int | None, str | None]]
    infos: list[TraceInfo]
    rejected: list[QuarantinedRecord]


def _parse_range(job: tuple[str, int, int, str | None, bool, str]) -> ParsedChunk:
    """Worker: read bytes [start, end) of a JSON Lines file (whole lines), decode, normalise and
    encode them, so the writing process only inserts."""
    path, start, end, fmt, forced, source = job
    adapter = FORMATS[fmt] if fmt else None
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    rows: list[dict[str, Any]] = []
    origins: list[tuple[int | None, str | None]] = []
    infos: list[TraceInfo] = []
    rejected: list[QuarantinedRecord] = []
    line_no = 0
    for line_no, line in enumerate(io.BytesIO(data), 1):  # split as iterating the file would: at b"\n" only
        for record in parse_line(line_no, line):
            for item in parse_record(record, adapter, forced, source):
                if isinstance(item, QuarantinedRecord):
                    rejected.append(item)
                elif isinstance(item, TraceInfo):
                    infos.append(item)
                else:
                    rows.append(item[0])
                    origins.append(item[2][1:])
    return ParsedChunk(line_no, encode_spans(rows), origins, infos, rejected)


def _line_ranges(path: Path, start: int, size: int) -> Iterator[tuple[int, int]]:
    """Byte ranges of about CHUNK_BYTES, each of whole lines, from `start` (a line's start) to the end."""
    with open(path, "rb") as handle:
        while start < size:
            handle.seek(min(start + CHUNK_BYTES, size))
            handle.readline()
            end = max(handle.tell(), start + 1)
            yield start, end
            start = end


def _ordered(pool: Any, function: Callable[[Any], Any], jobs: Iterable[Any], ahead: int) -> Iterator[Any]:
    """`pool.imap`, but with at most `ahead` jobs submitted and not yet consumed, so results wait
    in the workers, not in this process's memory, when writing is slower than parsing."""
    pending: collections.deque[Any] = collections.deque()
    for job in jobs:
        pending.append(pool.apply_async(function, (job,)))
        if len(pending) >= ahead:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _file_adapter(outcome: FileOutcome, head: list[Record | BadRecord], forced: Adapter | None) -> Adapter | None:
    """A file's adapter, from its first records; notes it, and what is wrong with the file as given, in `outcome`."""
    records = [r for r in head if isinstance(r, Record)]
    looks = _detect(records)
    adapter = forced or looks
    outcome.format = adapter.NAME if adapter else None
    if not head:
        outcome.problem = "empty file"
    elif forced is None and looks is None and records:
        outcome.problem = f"unknown format (not one of {', '.join(FORMATS)})"
    elif forced and looks and looks is not forced and not any(forced.sniff(r.data) for r in records):
        outcome.problem = f"the forced format {forced.NAME} does not fit: the file looks like {looks.NAME}"
    return adapter


def _ingest_file(batcher: _Batcher, path: Path, source: str, forced: Adapter | None,
                 on_bytes: Callable[[int], None] | None) -> None:
    """Ingest one file, noting in its outcome its format and what is wrong with it as a whole."""
    outcome = batcher.start(source)
    parallel = file_size(path) >= PARALLEL_MIN_BYTES and not is_gzip(path) and is_json_lines(path)
    if not parallel:
        stream: Iterator[Record | BadRecord] = iter_records(path, on_bytes)
        head: list[Record | BadRecord] = []
        for item in stream:
            head.append(item)
            if sum(isinstance(h, Record) for h in head) >= SNIFF_RECORDS:
                break
        adapter = _file_adapter(outcome, head, forced)
        for record in itertools.chain(head, stream):
            for item in parse_record(record, adapter, forced is not None, source):
                batcher.add(item)
        return
    # Large JSON Lines: worker processes read, decode, normalise and encode byte ranges of the file
    # while this process writes to the store, so parsing overlaps with SQLite's work.
    with open_binary(path) as handle:
        head_lines = list(itertools.islice(handle, SNIFF_RECORDS))
    head_records = [r for n, line in enumerate(head_lines, 1) for r in parse_line(n, line)]
    adapter = _file_adapter(outcome, head_records, forced)
    for record in head_records:
        for item in parse_record(record, adapter, forced is not None, source):
            batcher.add(item)
    head_bytes = sum(map(len, head_lines))
    if on_bytes:
        on_bytes(head_bytes)
    ranges = list(_line_ranges(path, head_bytes, file_size(path)))
    job_format = adapter.NAME if adapter else None
    jobs = [(str(path), start, end, job_format, forced is not None, source) for start, end in ranges]
    line = len(head_lines) + 1
    with multiprocessing.get_context("spawn").Pool(_workers()) as pool:
        for (start, end), chunk in zip(ranges, _ordered(pool, _parse_range, jobs, 2 * _workers()), strict=True):
            batcher.add_chunk(chunk, source, line)
            line += chunk.lines
            if on_bytes:
                on_bytes(end - start)


def ingest_paths(
    store: Store,
    paths: list[str],
    fmt: str = "auto",
    on_bytes: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest files, directories and globs. Raises InputError when a path does not exist or `fmt` is
    unknown; what became of each file is in the report's `outcomes` (see `IngestReport.failure`)."""
    forced = adapter_for(fmt) if fmt != "auto" else None
    report = IngestReport()
    batcher = _Batcher(store, report)
    files = expand_paths(paths)
    bulk = sum(map(file_size, files)) >= BULK_MIN_BYTES
    with store.bulk_load() if bulk else contextlib.nullcontext():
        for path in files:
            source = str(path.resolve())
            try:
                _ingest_file(batcher, path, source, forced, on_bytes)
            except (OSError, EOFError, zlib.error) as exc:
                batcher.current.problem = f"cannot read: {exc}"
                batcher.add(QuarantinedRecord(file=source, format=batcher.current.format,
                                              reason=f"cannot read the file: {exc}", raw=""))
        batcher.finish()
    return report


def ingest_records(store: Store, records: Iterable[Any], fmt: str, source: str,
                   locate: Callable[[int, Any], str] | None = None) -> IngestReport:
    """Ingest already-parsed records (e.g. from a tracing processor) in the named format. Each
    record's location is its index, or what `locate(index, record)` says."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}")
    report = IngestReport()
    batcher = _Batcher(store, report)
    batcher.start(source, fmt)
    for index, data in enumerate(records):
        location = locate(index, data) if locate else f"[{index}]"
        for item in parse_record(Record(data, None, location), FORMATS[fmt], True, source):
            batcher.add(item)
    batcher.finish()
    return report
