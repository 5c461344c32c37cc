"""Ingest: files or in-memory records → adapters → batched writes into the store.

Each file's format is detected from its first records (or forced). Every record ends up stored or
quarantined with its file, line and reason; a bad record never stops the run. After the last batch
the store recomputes the rollups of the traces that were touched and indexes the new span text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import orjson

from investigator.ingest.registry import FORMATS, adapter_for
from investigator.ingest.base import Adapter, Rejected
from investigator.ingest.reader import BadRecord, InputError, Record, expand_paths, iter_records
from investigator.models import QuarantinedRecord, TraceInfo
from investigator.store import BatchCounts, Store

BATCH_SPANS = 5000
BATCH_BYTES = 48 * 1024 * 1024
SNIFF_RECORDS = 50


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
    """Collects adapter output and writes it to the store in bounded batches."""

    def __init__(self, store: Store, report: IngestReport) -> None:
        self.store = store
        self.report = report
        self.spans: list[dict[str, Any]] = []
        self.infos: list[TraceInfo] = []
        self.rejected: list[QuarantinedRecord] = []
        self.size = 0
        self.touched: set[str] = set()
        self.changed: set[str] = set()

    def add_span(self, row: dict[str, Any], size: int) -> None:
        self.spans.append(row)
        self.touched.add(row["trace_id"])
        self.size += size
        if len(self.spans) >= BATCH_SPANS or self.size >= BATCH_BYTES:
            self.flush()

    def add_info(self, info: TraceInfo) -> None:
        self.infos.append(info)
        self.touched.add(info.trace_id)

    def add_rejected(self, record: QuarantinedRecord) -> None:
        self.rejected.append(record)
        self.report.quarantined += 1

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
        self.store.index_text()
        self.report.traces = len(self.touched)


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


def _feed(
    batcher: _Batcher,
    records: Iterable[Record | BadRecord],
    adapter: Adapter | None,
    forced: bool,
    source: str,
) -> None:
    """Parse records with the file's adapter (or, unforced, whichever adapter claims a record)."""
    for record in records:
        if isinstance(record, BadRecord):
            batcher.add_rejected(
                QuarantinedRecord(
                    file=source, line=record.line, location=record.location,
                    format=adapter.NAME if adapter else None, reason=record.reason,
                    raw=_raw_text(record.raw),
                )
            )
            continue
        chosen = adapter
        if chosen is None or (not forced and not chosen.sniff(record.data)):
            chosen = next((a for a in FORMATS.values() if a.sniff(record.data)), None)
        if chosen is None:
            batcher.add_rejected(
                QuarantinedRecord(
                    file=source, line=record.line, location=record.location, format=None,
                    reason="record matches no supported trace format",
                    raw=_raw_text(record.raw if record.raw is not None else record.data),
                )
            )
            continue
        size = len(record.raw) if record.raw is not None else 2048
        try:
            results = list(chosen.parse(record.data))
        except Exception as exc:  # an adapter bug must cost one record, not the run
            results = [Rejected(f"{type(exc).__name__}: {exc}", record.data)]
        per_span = max(size // max(len(results), 1), 1)
        for result in results:
            if isinstance(result, Rejected):
                location = record.location
                if result.location:
                    location = f"{location}.{result.location}" if location else result.location
                raw = result.raw if result.raw is not record.data or record.raw is None else record.raw
                batcher.add_rejected(
                    QuarantinedRecord(
                        file=source, line=record.line, location=location, format=chosen.NAME,
                        reason=result.reason, raw=_raw_text(raw),
                    )
                )
            elif isinstance(result, TraceInfo):
                batcher.add_info(result)
            else:
                result["source_format"] = result.get("source_format") or chosen.NAME
                batcher.add_span(result, per_span)


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
        source = str(path)
        try:
            stream: Iterator[Record | BadRecord] = iter_records(path, on_bytes)
            head: list[Record | BadRecord] = []
            for item in stream:
                head.append(item)
                if sum(isinstance(h, Record) for h in head) >= SNIFF_RECORDS:
                    break
            adapter = forced_adapter or _detect([h for h in head if isinstance(h, Record)])
            if adapter is None and any(isinstance(h, Record) for h in head):
                report.errors.append(f"{source}: unknown format (not one of {', '.join(FORMATS)})")
                continue
            if adapter is None and not head:
                report.errors.append(f"{source}: empty file")
                continue
            report.files[source] = adapter.NAME if adapter else "unreadable"
            _feed(batcher, head, adapter, forced, source)
            _feed(batcher, stream, adapter, forced, source)
        except (OSError, EOFError) as exc:
            report.errors.append(f"{source}: cannot read: {exc}")
    batcher.finish()
    return report


def ingest_records(store: Store, records: Iterable[Any], fmt: str, source: str) -> IngestReport:
    """Ingest already-parsed records (e.g. from a tracing processor) in the named format."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}")
    report = IngestReport()
    batcher = _Batcher(store, report)
    wrapped = (Record(data, None, f"[{i}]") for i, data in enumerate(records))
    _feed(batcher, wrapped, FORMATS[fmt], True, source)
    batcher.finish()
    return report
