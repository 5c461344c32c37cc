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
from investigator.rollup import rollup, tree_updates
from investigator.span_merge import Conflict, differences, informative, merge_span
from investigator.store.common import chunks, dumps
from investigator.store.traces import JSON_COLUMNS, SPAN_COLUMNS, TRACE_COLUMNS, row_to_dict
from investigator.timefmt import now_iso

_INSERT_SQL = (
    f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}, digest)"
    f" VALUES ({', '.join('?' * (len(SPAN_COLUMNS) + 1))})"
)
_FTS_COLUMNS = ("name", "input", "output", "status_message", "events")


@dataclass
class BatchCounts:
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    conflicts: list[Conflict] = field(default_factory=list)  # sightings not stored: they contradict the span
    changed: set[str] = field(default_factory=set)  # traces with a new or updated span


def _digest(values: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(orjson.dumps(values), digest_size=16).digest()


def _first_positions(spans: Sequence[SpanRow]) -> dict[tuple[str, str], int]:
    """Where each span of a batch is first seen in it."""
    positions: dict[tuple[str, str], int] = {}
    for index, row in enumerate(spans):
        positions.setdefault((row["trace_id"], row["span_id"]), index)
    return positions


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
        """Store one batch in one transaction; returns how many spans were new, unchanged, updated, and
        the sightings that conflict with the span as first seen (those are not stored)."""
        counts = BatchCounts()
        latest: dict[tuple[str, str], SpanRow] = {}
        for index, row in enumerate(spans):
            key = (row["trace_id"], row["span_id"])
            seen = latest.get(key)
            if seen is None:
                latest[key] = row
                continue
            found = differences(seen, row)
            if found:
                counts.conflicts.append(Conflict(index, row, found))
            else:
                counts.duplicates += 1
                latest[key] = merge_span(seen, row)
        positions: dict[tuple[str, str], int] | None = None
        with self.db.conn:
            self.conn.execute("BEGIN")
            existing = self._existing_digests(list(latest))
            inserts: list[tuple[Any, ...]] = []
            for key, row in latest.items():
                values = self._to_tuple(row)
                digest = _digest(values)
                old = existing.get(key)
                if old is None:
                    inserts.append((*values, digest))
                    counts.ingested += 1
                    counts.changed.add(key[0])
                    continue
                rowid, old_digest = old
                if digest == old_digest:
                    counts.duplicates += 1
                    continue
                old_row = self._load(rowid)
                found = differences(old_row, row)
                if found:
                    positions = positions or _first_positions(spans)
                    counts.conflicts.append(Conflict(positions[key], row, found))
                    continue
                merged = merge_span(old_row, row)
                if merged == old_row:
                    counts.duplicates += 1
                else:
                    self._update(rowid, old_row, merged)
                    counts.updated += 1
                    counts.changed.add(key[0])
            if inserts:
                self.conn.executemany(_INSERT_SQL, inserts)
            for info in infos:
                if self._merge_info(info):
                    counts.changed.add(info.trace_id)
            for record in rejected:
                self._quarantine(record)
        return counts

    @staticmethod
    def _to_tuple(row: SpanRow) -> tuple[Any, ...]:
        return tuple(
            dumps(row[c]) if c in JSON_COLUMNS else row[c] for c in SPAN_COLUMNS
        )

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
        values = self._to_tuple(merged)
        self.conn.execute(
            f"UPDATE spans SET {assignments}, digest = ? WHERE rowid = ?", [*values, _digest(values), rowid]
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
        """Recompute tree flags, inherited agents and the trace rollup for these traces."""
        ids = sorted(set(trace_ids))
        for chunk in chunks(ids):
            with self.db.conn:
                self.conn.execute("BEGIN")
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
            span_updates.extend(tree_updates(rows))
            trace_rows.append(rollup(trace_id, rows, infos.get(trace_id, {}), labels.get(trace_id, {})))
        if span_updates:
            self.conn.executemany(
                "UPDATE spans SET agent = ?, agent_inherited = ?, orphan = ?, cycle_broken = ?"
                " WHERE rowid = ?",
                span_updates,
            )
        if trace_rows:
            columns = TRACE_COLUMNS
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
            self.conn.executemany(
                f"INSERT INTO traces ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT(trace_id) DO UPDATE SET {updates}",
                trace_rows,
            )

    def set_labels(self, rows: Iterable[tuple[str, str, Any]]) -> set[str]:
        """Attach (trace_id, name, value) labels; the name "outcome" holds the business outcome."""
        touched: set[str] = set()
        with self.db.conn:
            self.conn.execute("BEGIN")
            for trace_id, name, value in rows:
                self.conn.execute(
                    "INSERT INTO labels (trace_id, name, value) VALUES (?, ?, ?) "
                    "ON CONFLICT(trace_id, name) DO UPDATE SET value = excluded.value",
                    [trace_id, name, dumps(value)],
                )
                touched.add(trace_id)
        known = self.existing_trace_ids(touched)
        self.refresh_traces(known)
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
