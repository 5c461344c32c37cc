"""Spans and traces, written: batches of spans (new, duplicate, merged, or conflicting), trace-level
records, labels, quarantined records, the full-text index and the derived trace rollups.

A span is identified by (trace_id, span_id): seen again unchanged it is a duplicate; seen again with
more data it is merged and updated; seen again saying something else it is a conflict, not stored
(see `span_merge`). Derived state — trace rollups, orphan and cycle flags, inherited agents, the
full-text index — is recomputed for the traces a batch touched, after the batch.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlite_utils import Database

from investigator.ingest.base import SpanRow
from investigator.models import QuarantinedRecord, TraceInfo
from investigator.rollup import derive, label_columns
from investigator.span_merge import Conflict, differences, informative, merge_span
from investigator.store.common import chunks, dumps
from investigator.store.span_rows import EncodedSpans, encode, encode_spans
from investigator.store.span_rows import digest as span_digest
from investigator.store.traces import SPAN_COLUMNS, TRACE_COLUMNS, row_to_dict
from investigator.timefmt import now_iso

_AGENT = SPAN_COLUMNS.index("agent")
# A fresh span's columns: its own but `agent`, then the digest and the flags the batch derived.
_FLAGGED_COLUMNS = (*SPAN_COLUMNS[:_AGENT], *SPAN_COLUMNS[_AGENT + 1:], "digest", "agent", "agent_inherited",
                    "orphan", "cycle_broken")
_INSERT_SQL = (
    f"INSERT INTO spans ({', '.join(_FLAGGED_COLUMNS)}) VALUES ({', '.join('?' * len(_FLAGGED_COLUMNS))})"
)
_UPSERT_TRACE_SQL = (
    f"INSERT INTO traces ({', '.join(TRACE_COLUMNS)}) VALUES ({', '.join('?' * len(TRACE_COLUMNS))})"
    f" ON CONFLICT(trace_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in TRACE_COLUMNS[1:])}"
)
_FTS_COLUMNS = ("name", "input", "output", "status_message", "events")


def _insert_row(values: tuple[Any, ...], digest: bytes, flags: tuple[Any, int, int, int]) -> tuple[Any, ...]:
    """A span's values in `_FLAGGED_COLUMNS` order, with its (agent, agent_inherited, orphan, cycle_broken)."""
    return (*values[:_AGENT], *values[_AGENT + 1:], digest, *flags)


@dataclass
class BatchCounts:
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    conflicts: list[Conflict] = field(default_factory=list)  # sightings not stored: they contradict the span
    changed: set[str] = field(default_factory=set)  # traces with a new or updated span


class SpanWrites:
    """Writing spans, trace records, labels and quarantined records, and the state derived from them."""

    conn: sqlite3.Connection
    db: Database

    def write_batch(
        self,
        spans: Sequence[SpanRow],
        infos: Sequence[TraceInfo] = (),
        rejected: Sequence[QuarantinedRecord] = (),
    ) -> BatchCounts:
        """Store one batch of span rows (see `write_encoded`)."""
        return self.write_encoded(encode_spans(spans), infos, rejected)

    def write_encoded(
        self,
        batch: EncodedSpans,
        infos: Sequence[TraceInfo] = (),
        rejected: Sequence[QuarantinedRecord] = (),
    ) -> BatchCounts:
        """Store one encoded batch in one transaction, with the derived state of the traces it
        touched; returns how many spans were new, unchanged, updated, and the sightings that conflict
        with the span as first seen (those are not stored). Spans of traces the store has not seen are
        inserted with the state the batch implies; the rest are compared with what is stored, and
        their traces' state recomputed from the store."""
        counts = BatchCounts()
        with self.write_transaction():
            trace_ids = list(dict.fromkeys(values[0] for values in batch.values))
            stored = self.existing_trace_ids(trace_ids)
            if not self._write_spans(batch, stored | batch.repeated, counts):  # a span stored without its trace row
                stored = set(trace_ids)
                self._write_spans(batch, stored, counts)
            recheck = stored | batch.repeated
            fresh_traces = set(trace_ids) - recheck
            informed = {info.trace_id for info in infos if self._merge_info(info)}
            counts.changed |= informed
            for record in rejected:
                self._quarantine(record)
            refresh = (counts.changed & recheck) | informed | self._with_trace_records(fresh_traces)
            self._insert_traces(batch.traces[t] for t in fresh_traces - refresh)
            for chunk in chunks(sorted(refresh)):
                self._refresh_chunk(chunk)
            self.forget_analysis(counts.changed & stored)
        return counts

    def _write_spans(self, batch: EncodedSpans, recheck: set[str], counts: BatchCounts) -> bool:
        """Write the batch's spans, in batch order. Those of traces in `recheck` are compared with
        what is stored (`_checked_inserts`); the others are inserted with the flags the batch derived.
        False, with nothing written or counted, when one of those others is stored after all."""
        found = BatchCounts()
        inserts = {
            i: _insert_row(values, batch.digests[i], batch.flags[i])
            for i, values in enumerate(batch.values) if values[0] not in recheck
        }
        found.ingested, found.changed = len(inserts), {batch.values[i][0] for i in inserts}
        self.conn.execute("SAVEPOINT spans")
        try:
            checked = [i for i, values in enumerate(batch.values) if values[0] in recheck]
            for index, values, digest in self._checked_inserts(batch, checked, found):
                inserts[index] = _insert_row(values, digest, (values[_AGENT], 0, 0, 0))  # refreshed below
            self.conn.executemany(_INSERT_SQL, [inserts[i] for i in sorted(inserts)])
        except sqlite3.IntegrityError:
            self.conn.execute("ROLLBACK TO spans")
            return False
        finally:
            self.conn.execute("RELEASE spans")
        counts.ingested += found.ingested
        counts.duplicates += found.duplicates
        counts.updated += found.updated
        counts.conflicts += found.conflicts
        counts.changed |= found.changed
        return True

    def _checked_inserts(
        self, batch: EncodedSpans, indexes: list[int], counts: BatchCounts
    ) -> list[tuple[int, tuple[Any, ...], bytes]]:
        """Spans of traces already stored (or seen twice in the batch), compared with what is stored:
        an unchanged one counted as a duplicate, one with more to say merged into the stored span, one
        that contradicts it returned as a conflict; the new ones returned, to insert, with where each
        is first seen in the batch."""
        latest: dict[tuple[str, str], tuple[int, tuple[Any, ...], bytes]] = {}
        for index in indexes:
            values, digest = batch.values[index], batch.digests[index]
            key = (values[0], values[1])
            seen = latest.get(key)
            if seen is None:
                latest[key] = (index, values, digest)
            elif digest == seen[2]:
                counts.duplicates += 1
            else:
                seen_row, row = row_to_dict(seen[1]), row_to_dict(values)
                found = differences(seen_row, row)
                if found:
                    counts.conflicts.append(Conflict(index, row, found))
                else:
                    counts.duplicates += 1
                    merged = encode(merge_span(seen_row, row))
                    latest[key] = (seen[0], merged, span_digest(merged))
        existing = self._existing_digests(list(latest))
        inserts: list[tuple[int, tuple[Any, ...], bytes]] = []
        for key, (index, values, digest) in latest.items():
            old = existing.get(key)
            if old is None:
                inserts.append((index, values, digest))
                counts.ingested += 1
                counts.changed.add(key[0])
                continue
            rowid, old_digest = old
            if digest == old_digest:
                counts.duplicates += 1
                continue
            old_row, row = self._load(rowid), row_to_dict(values)
            found = differences(old_row, row)
            if found:
                counts.conflicts.append(Conflict(index, row, found))
                continue
            merged = merge_span(old_row, row)
            if merged == old_row:
                counts.duplicates += 1
            else:
                self._update(rowid, old_row, merged)
                counts.updated += 1
                counts.changed.add(key[0])
        return inserts

    def _with_trace_records(self, trace_ids: set[str]) -> set[str]:
        """Those of these traces that have a trace-level record or labels stored (their rollup reads them)."""
        found: set[str] = set()
        for chunk in chunks(sorted(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            found.update(r[0] for r in self.conn.execute(
                f"SELECT trace_id FROM trace_info WHERE trace_id IN ({marks})"
                f" UNION SELECT trace_id FROM labels WHERE trace_id IN ({marks})", [*chunk, *chunk],
            ))
        return found

    def _insert_traces(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self.conn.executemany(_UPSERT_TRACE_SQL, rows)

    def _existing_digests(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, bytes]]:
        """(rowid, digest) of the batch's spans already stored. Comparing digests lets a
        re-ingest skip unchanged spans without reading their text back."""
        if not keys or self.conn.execute("SELECT 1 FROM spans LIMIT 1").fetchone() is None:
            return {}
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS batch_keys (trace_id TEXT, span_id TEXT)"
        )
        self.conn.execute("DELETE FROM batch_keys")
        self.conn.executemany("INSERT INTO batch_keys VALUES (?, ?)", keys)
        return {
            (trace_id, span_id): (rowid, digest)
            for rowid, trace_id, span_id, digest in self.conn.execute(
                "SELECT s.rowid, s.trace_id, s.span_id, s.digest FROM batch_keys b JOIN spans s"
                " ON s.trace_id = b.trace_id AND s.span_id = b.span_id"
            )
        }

    def _load(self, rowid: int) -> dict[str, Any]:
        record = self.conn.execute(
            f"SELECT {', '.join(SPAN_COLUMNS)} FROM spans WHERE rowid = ?", [rowid]
        ).fetchone()
        return row_to_dict(record)

    def _update(self, rowid: int, old: dict[str, Any], merged: dict[str, Any]) -> None:
        if rowid <= self._fts_watermark():
            old_values = [old[c] if c != "events" else dumps(old[c]) for c in _FTS_COLUMNS]
            self.conn.execute(
                "INSERT INTO spans_fts (spans_fts, rowid, name, input, output, status_message, events)"
                " VALUES ('delete', ?, ?, ?, ?, ?, ?)",
                [rowid, *old_values],
            )
            new_values = [merged[c] if c != "events" else dumps(merged[c]) for c in _FTS_COLUMNS]
            self.conn.execute(
                "INSERT INTO spans_fts (rowid, name, input, output, status_message, events)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [rowid, *new_values],
            )
        assignments = ", ".join(f"{c} = ?" for c in SPAN_COLUMNS)
        values = encode(merged)
        self.conn.execute(
            f"UPDATE spans SET {assignments}, digest = ? WHERE rowid = ?", [*values, span_digest(values), rowid]
        )

    def _merge_info(self, info: TraceInfo) -> bool:
        """Merge a trace-level record; returns whether it changed what was stored."""
        row = self.conn.execute(
            "SELECT info FROM trace_info WHERE trace_id = ?", [info.trace_id]
        ).fetchone()
        current = orjson.loads(row[0]) if row else {}
        update = info.model_dump(exclude_none=True, exclude={"trace_id"})
        merged = {**current, **{k: v for k, v in update.items() if informative(v)}}
        if "hints" in current and "hints" in update:
            merged["hints"] = {**current["hints"], **update["hints"]}
        if row and merged == current:
            return False
        self.conn.execute(
            "INSERT INTO trace_info (trace_id, info) VALUES (?, ?) "
            "ON CONFLICT(trace_id) DO UPDATE SET info = excluded.info",
            [info.trace_id, dumps(merged)],
        )
        return True

    def _quarantine(self, record: QuarantinedRecord) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO quarantine (file, line, location, format, reason, raw, raw_hash,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.file,
                record.line,
                record.location,
                record.format,
                record.reason,
                record.raw,
                hashlib.blake2b(record.raw.encode(), digest_size=16).hexdigest(),
                now_iso(),
            ],
        )

    def _fts_watermark(self) -> int:
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'fts_indexed_rowid'").fetchone()
        return int(row[0]) if row else 0

    def index_text(self) -> int:
        """Add spans stored since the last call to the full-text index; returns how many."""
        start = self._fts_watermark()
        end = self.conn.execute("SELECT coalesce(max(rowid), 0) FROM spans").fetchone()[0]
        if end <= start:
            return 0
        with self.db.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT INTO spans_fts (rowid, name, input, output, status_message, events)"
                " SELECT rowid, name, input, output, status_message, events FROM spans"
                " WHERE rowid > ? AND rowid <= ?",
                [start, end],
            )
            self.conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'fts_indexed_rowid'", [str(end)]
            )
        return end - start

    def refresh_traces(self, trace_ids: Iterable[str]) -> None:
        """Recompute tree flags, inherited agents and the trace rollup of these traces from what is stored."""
        ids = sorted(set(trace_ids))
        for chunk in chunks(ids):
            with self.write_transaction():
                self._refresh_chunk(chunk)

    def _refresh_chunk(self, trace_ids: Sequence[str]) -> None:
        marks = ", ".join("?" * len(trace_ids))
        by_trace: dict[str, list[tuple]] = {t: [] for t in trace_ids}
        for record in self.conn.execute(
            "SELECT rowid, trace_id, span_id, parent_id, name, kind, start_time, end_time, status,"
            " agent, agent_inherited, model, service, session_id, user_id, hints, source_format,"
            f" orphan, cycle_broken FROM spans WHERE trace_id IN ({marks})",
            list(trace_ids),
        ):
            by_trace[record[1]].append(record)
        infos = {
            trace_id: orjson.loads(info)
            for trace_id, info in self.conn.execute(
                f"SELECT trace_id, info FROM trace_info WHERE trace_id IN ({marks})", list(trace_ids)
            )
        }
        labels: dict[str, dict[str, Any]] = {}
        for trace_id, name, value in self.conn.execute(
            f"SELECT trace_id, name, value FROM labels WHERE trace_id IN ({marks})", list(trace_ids)
        ):
            labels.setdefault(trace_id, {})[name] = orjson.loads(value)
        span_updates: list[tuple] = []
        trace_rows: list[tuple] = []
        for trace_id, rows in by_trace.items():
            if not rows:
                continue
            updates, trace_row = derive(trace_id, rows, infos.get(trace_id, {}), labels.get(trace_id, {}))
            span_updates.extend(updates)
            trace_rows.append(trace_row)
        if span_updates:
            self.conn.executemany(
                "UPDATE spans SET agent = ?, agent_inherited = ?, orphan = ?, cycle_broken = ?"
                " WHERE rowid = ?",
                span_updates,
            )
        self._insert_traces(trace_rows)

    def set_labels(self, rows: Iterable[tuple[str, str, Any]]) -> set[str]:
        """Attach (trace_id, name, value) labels; the name "outcome" holds the business outcome.
        Returns the stored traces among them, whose label columns are updated (nothing else of a
        trace's rollup depends on its labels)."""
        touched: set[str] = set()
        with self.write_transaction():
            for trace_id, name, value in rows:
                self.conn.execute(
                    "INSERT INTO labels (trace_id, name, value) VALUES (?, ?, ?) "
                    "ON CONFLICT(trace_id, name) DO UPDATE SET value = excluded.value",
                    [trace_id, name, dumps(value)],
                )
                touched.add(trace_id)
            known = self.existing_trace_ids(touched)
            for chunk in chunks(sorted(known)):
                labels: dict[str, dict[str, Any]] = {t: {} for t in chunk}
                for trace_id, name, value in self.conn.execute(
                    f"SELECT trace_id, name, value FROM labels WHERE trace_id IN ({', '.join('?' * len(chunk))})",
                    list(chunk),
                ):
                    labels[trace_id][name] = orjson.loads(value)
                self.conn.executemany(
                    "UPDATE traces SET labels = ?, outcome = ? WHERE trace_id = ?",
                    [(*label_columns(found), trace_id) for trace_id, found in labels.items()],
                )
        return known

    def quarantined(self, limit: int | None = None) -> list[QuarantinedRecord]:
        sql = (
            "SELECT id, file, line, location, format, reason, raw, created_at FROM quarantine"
            " ORDER BY id"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        keys = ("id", "file", "line", "location", "format", "reason", "raw", "created_at")
        return [QuarantinedRecord(**dict(zip(keys, r, strict=True))) for r in self.conn.execute(sql)]

    def clear_quarantine(self, file: str | None = None) -> int:
        """Remove the quarantined records (all, or those of one file, as stored); returns how many."""
        with self.db.conn:
            self.conn.execute("BEGIN")
            if file is None:
                return self.conn.execute("DELETE FROM quarantine").rowcount
            return self.conn.execute("DELETE FROM quarantine WHERE file = ?", [file]).rowcount
