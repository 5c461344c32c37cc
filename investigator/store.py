"""The span store: one SQLite file holding spans, rolled-up traces, labels and quarantined records.

Writes come in batches (one transaction each) from the ingest pipeline. A span is identified by
(trace_id, span_id): seen again unchanged it is a duplicate; seen again with more data it is merged
and updated; seen again saying something else it is a conflict, not stored (see `span_merge`).
Derived state — trace rollups, orphan and cycle flags, inherited agents, the
full-text index — is recomputed for the traces a batch touched, after the batch.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlite_utils import Database

from investigator.detectors.population import Timings
from investigator.evidence import quote_in_span
from investigator.ingest.base import SpanRow
from investigator.migrations import migrations
from investigator.models import (
    SCORE_DIMENSIONS,
    Issue,
    QuarantinedRecord,
    Span,
    Trace,
    TraceInfo,
    TraceScores,
)
from investigator.rollup import rollup, tree_updates
from investigator.span_merge import Conflict, differences, informative, merge_span
from investigator.timefmt import duration_ms, now_iso

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_id", "name", "kind", "start_time", "end_time", "status",
    "status_message", "input", "output", "attributes", "model", "tool_name", "tool_args",
    "tokens_in", "tokens_out", "cost", "events", "agent", "source_format", "service",
    "session_id", "user_id", "hints",
)
# The columns stored as JSON, and the empty value each reads as when blank.
_JSON_COLUMNS: dict[str, type] = {"attributes": dict, "events": list, "hints": dict}
# What a Span is read from: the stored columns and the two flags the store sets.
_SPAN_ROW = (*SPAN_COLUMNS, "orphan", "cycle_broken")
_SPAN_ROW_SQL = ", ".join(_SPAN_ROW)
_INSERT_SQL = (
    f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}, digest)"
    f" VALUES ({', '.join('?' * (len(SPAN_COLUMNS) + 1))})"
)
_FTS_COLUMNS = ("name", "input", "output", "status_message", "events")
_CHUNK = 500  # SQLite host-parameter chunk for IN (...) lists


def default_db_path() -> str:
    return os.environ.get("INVESTIGATOR_DB") or "investigator.db"


@dataclass
class BatchCounts:
    ingested: int = 0
    duplicates: int = 0
    updated: int = 0
    conflicts: list[Conflict] = field(default_factory=list)  # sightings not stored: they contradict the span
    changed: set[str] = field(default_factory=set)  # traces with a new or updated span


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# Every field is set on a stored span. Pydantic only ever adds to a model's set of fields set, and
# adding a field already in it changes nothing, so all stored spans share this one.
_SPAN_FIELDS = set(Span.model_fields)


def _trusted_span(row: dict[str, Any]) -> Span:
    """A Span from a stored row, without re-validation: rows were validated on the way in and
    the rules layer reads every span, where validation would dominate. `row` has every field."""
    span = Span.__new__(Span)
    object.__setattr__(span, "__dict__", row)
    object.__setattr__(span, "__pydantic_fields_set__", _SPAN_FIELDS)
    object.__setattr__(span, "__pydantic_extra__", None)
    object.__setattr__(span, "__pydantic_private__", None)
    return span


_START = SPAN_COLUMNS.index("start_time")


def _start_order(record: Sequence[Any]) -> tuple[bool, str, int]:
    """SQLite's `ORDER BY start_time, rowid`: spans without a start first."""
    start = record[_START]
    return (start is not None, start or "", record[-1])


def _digest(values: tuple[Any, ...]) -> bytes:
    return hashlib.blake2b(orjson.dumps(values), digest_size=16).digest()


_ISSUE_SQL = (
    "INSERT INTO issues"
    " (trace_id, span_id, category, severity, confidence, evidence, description, source, surfaced_span_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SCORES_SQL = (
    f"INSERT OR REPLACE INTO trace_scores (trace_id, source, {', '.join(SCORE_DIMENSIONS)}, reasons)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _issue_values(issue: Issue) -> list[Any]:
    return [issue.trace_id, issue.span_id, issue.category, issue.severity, issue.confidence, issue.evidence,
            issue.description, issue.source, issue.surfaced_span_id]


def _score_values(scores: TraceScores) -> list[Any]:
    reasons = {d: getattr(scores, d).reason for d in SCORE_DIMENSIONS}
    return [scores.trace_id, scores.source, *(getattr(scores, d).score for d in SCORE_DIMENSIONS), _dumps(reasons)]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first_positions(spans: Sequence[SpanRow]) -> dict[tuple[str, str], int]:
    """Where each span of a batch is first seen in it."""
    positions: dict[tuple[str, str], int] = {}
    for index, row in enumerate(spans):
        positions.setdefault((row["trace_id"], row["span_id"]), index)
    return positions


class Store:
    """The SQLite span store. Opening it applies any pending migrations."""

    # Covered by the spans_timing index (migration m007), in whose order the groups stream.
    SPAN_TIMINGS_SQL = (
        "SELECT kind, name, tool_name, model, agent,"
        " json_group_array(start_time) FILTER (WHERE start_time <> '' AND end_time <> ''),"
        " json_group_array(end_time) FILTER (WHERE start_time <> '' AND end_time <> ''),"
        " json_group_array(ifnull(tokens_in, 0) + ifnull(tokens_out, 0))"
        " FILTER (WHERE tokens_in IS NOT NULL OR tokens_out IS NOT NULL)"
        " FROM spans WHERE status <> 'error' {where} GROUP BY kind, name, tool_name, model, agent"
    )

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = str(path or default_db_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA page_size=16384")  # takes effect for a new file; big text rows
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        self.db = Database(conn)
        self.conn = conn
        migrations.apply(self.db)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- writing

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
            _dumps(row[c]) if c in _JSON_COLUMNS else row[c] for c in SPAN_COLUMNS
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
        return self._row_to_dict(record)

    @staticmethod
    def _row_to_dict(values: Sequence[Any], columns: tuple[str, ...] = SPAN_COLUMNS) -> dict[str, Any]:
        """A span row as a dict, its JSON columns decoded. `values` may run past `columns`."""
        row = dict(zip(columns, values, strict=False))
        for column, empty in _JSON_COLUMNS.items():
            value = row[column]
            row[column] = orjson.loads(value) if value else empty()
        return row

    def _update(self, rowid: int, old: dict[str, Any], merged: dict[str, Any]) -> None:
        if rowid <= self._fts_watermark():
            old_values = [old[c] if c != "events" else _dumps(old[c]) for c in _FTS_COLUMNS]
            self.conn.execute(
                "INSERT INTO spans_fts (spans_fts, rowid, name, input, output, status_message, events)"
                " VALUES ('delete', ?, ?, ?, ?, ?, ?)",
                [rowid, *old_values],
            )
            new_values = [merged[c] if c != "events" else _dumps(merged[c]) for c in _FTS_COLUMNS]
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
            [info.trace_id, _dumps(merged)],
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

    # -------------------------------------------------------------- derived state

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
        for chunk in _chunks(ids):
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
            columns = _TRACE_COLUMNS
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
            self.conn.executemany(
                f"INSERT INTO traces ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                f" ON CONFLICT(trace_id) DO UPDATE SET {updates}",
                trace_rows,
            )

    # ------------------------------------------------------------------ analysis

    def forget_analysis(self, trace_ids: Iterable[str]) -> None:
        """Traces whose spans changed must be analysed again by the next `detect`."""
        ids = list(trace_ids)
        with self.db.conn:
            self.conn.execute("BEGIN")
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                self.conn.execute(f"DELETE FROM analysis WHERE trace_id IN ({marks})", list(chunk))

    def analysed(self, rules_version: str) -> set[str]:
        """Traces already analysed by exactly this set of detector versions."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT trace_id FROM analysis WHERE rules_version = ?", [rules_version]
            )
        }

    def save_analysis(
        self,
        results: Sequence[tuple[str, Sequence[Issue], TraceScores, str]],
        rules_version: str,
    ) -> list[Issue]:
        """Replace the rules-layer issues, scores and document of each trace in one transaction.
        An issue whose span or evidence quote is not in the store is refused and returned."""
        refused: list[Issue] = []
        kept: list[Issue] = []
        for trace_id, issues, _, _ in results:
            for issue in issues:
                span = self.get_span(trace_id, issue.span_id) if issue.trace_id == trace_id else None
                (kept if span is not None and quote_in_span(span, issue.evidence) else refused).append(issue)
        now = now_iso()
        with self.db.conn:
            self.conn.execute("BEGIN IMMEDIATE")  # rules workers write side by side: wait for the lock up front
            self.conn.executemany(
                "DELETE FROM issues WHERE trace_id = ? AND source LIKE 'rule:%'", [[r[0]] for r in results]
            )
            self.conn.executemany(_ISSUE_SQL, [_issue_values(i) for i in kept])
            self.conn.executemany(_SCORES_SQL, [_score_values(r[2]) for r in results])
            self.conn.executemany(
                "INSERT INTO documents (trace_id, text) VALUES (?, ?) ON CONFLICT(trace_id)"
                " DO UPDATE SET text = excluded.text",
                [[r[0], r[3]] for r in results],
            )
            self.conn.executemany(
                "INSERT INTO analysis (trace_id, rules_version, analysed_at) VALUES (?, ?, ?)"
                " ON CONFLICT(trace_id) DO UPDATE SET rules_version = excluded.rules_version,"
                " analysed_at = excluded.analysed_at",
                [[r[0], rules_version, now] for r in results],
            )
        return refused

    def add_issue(self, issue: Issue) -> None:
        """Store one per-trace issue (call inside a transaction; the caller vouches for its quote)."""
        self.conn.execute(_ISSUE_SQL, _issue_values(issue))

    def save_scores(self, scores: TraceScores) -> None:
        """Store one trace's scores under their source (call inside a transaction)."""
        self.conn.execute(_SCORES_SQL, _score_values(scores))

    def issues(self, trace_ids: Iterable[str] | None = None) -> list[Issue]:
        """Stored per-trace issues (all, or of these traces), in trace and span order."""
        columns = "trace_id, span_id, category, severity, confidence, evidence, description, source, surfaced_span_id"
        keys = columns.split(", ")
        if trace_ids is None:
            rows = self.conn.execute(f"SELECT {columns} FROM issues ORDER BY trace_id, id").fetchall()
        else:
            rows = []
            for chunk in _chunks(list(trace_ids)):
                marks = ", ".join("?" * len(chunk))
                rows.extend(self.conn.execute(
                    f"SELECT {columns} FROM issues WHERE trace_id IN ({marks}) ORDER BY trace_id, id",
                    list(chunk),
                ))
        return [Issue(**dict(zip(keys, r, strict=True))) for r in rows]

    def scores(self) -> Iterator[TraceScores]:
        """Stored per-trace scores, in trace order."""
        for row in self.conn.execute(
            f"SELECT trace_id, source, {', '.join(SCORE_DIMENSIONS)}, reasons FROM trace_scores"
            " ORDER BY trace_id, source"
        ):
            reasons = orjson.loads(row[-1])
            yield TraceScores(
                trace_id=row[0],
                source=row[1],
                **{d: {"score": row[2 + i], "reason": reasons.get(d, "")}
                   for i, d in enumerate(SCORE_DIMENSIONS)},
            )

    def documents(self, trace_ids: Iterable[str]) -> dict[str, str]:
        """The compact documents of these traces (those that have one)."""
        out: dict[str, str] = {}
        for chunk in _chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            out.update(self.conn.execute(
                f"SELECT trace_id, text FROM documents WHERE trace_id IN ({marks})", list(chunk)
            ).fetchall())
        return out

    # -------------------------------------------------------------------- labels

    def set_labels(self, rows: Iterable[tuple[str, str, Any]]) -> set[str]:
        """Attach (trace_id, name, value) labels; the name "outcome" holds the business outcome."""
        touched: set[str] = set()
        with self.db.conn:
            self.conn.execute("BEGIN")
            for trace_id, name, value in rows:
                self.conn.execute(
                    "INSERT INTO labels (trace_id, name, value) VALUES (?, ?, ?) "
                    "ON CONFLICT(trace_id, name) DO UPDATE SET value = excluded.value",
                    [trace_id, name, _dumps(value)],
                )
                touched.add(trace_id)
        known = self.existing_trace_ids(touched)
        self.refresh_traces(known)
        return known

    # -------------------------------------------------------------------- reading

    def existing_trace_ids(self, trace_ids: Iterable[str]) -> set[str]:
        ids = list(trace_ids)
        found: set[str] = set()
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            found.update(
                r[0]
                for r in self.conn.execute(
                    f"SELECT trace_id FROM traces WHERE trace_id IN ({marks})", list(chunk)
                )
            )
        return found

    def counts(self) -> dict[str, int]:
        return {
            table: self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("spans", "traces", "quarantine", "issues")
        }

    def get_trace(self, trace_id: str) -> Trace | None:
        return self.traces_of([trace_id]).get(trace_id)

    def trace_ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` stored trace ids that start with `prefix`, in order (a range scan of the key)."""
        rows = self.conn.execute(
            "SELECT trace_id FROM traces WHERE trace_id >= ? AND trace_id < ? ORDER BY trace_id LIMIT ?",
            [prefix, prefix + "\U0010ffff", limit],
        )
        return [r[0] for r in rows]

    def model_usage(self, trace_ids: Sequence[str]) -> tuple[int, float | None]:
        """The tokens (in and out) and the cost of the model calls in these traces; the cost is None
        when no call recorded one."""
        tokens, cost, priced = 0, 0.0, False
        for chunk in _chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            row = self.conn.execute(
                "SELECT sum(coalesce(tokens_in, 0) + coalesce(tokens_out, 0)), sum(cost), count(cost) FROM spans"
                f" WHERE kind = 'llm' AND trace_id IN ({marks})", list(chunk),
            ).fetchone()
            tokens += row[0] or 0
            cost += row[1] or 0.0
            priced = priced or bool(row[2])
        return tokens, round(cost, 6) if priced else None

    def traces_of(self, trace_ids: Sequence[str]) -> dict[str, Trace]:
        """The stored traces among `trace_ids` (one query per chunk)."""
        found: dict[str, Trace] = {}
        for chunk in _chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {', '.join(_TRACE_COLUMNS)} FROM traces WHERE trace_id IN ({marks})", list(chunk)
            ):
                trace = _trace_from_row(row)
                found[trace.trace_id] = trace
        return found

    def count_traces(self, since: str | None = None, until: str | None = None) -> int:
        """How many stored traces start in [since, until)."""
        row = self.conn.execute(
            "SELECT count(*) FROM traces WHERE (? IS NULL OR start_time >= ?) AND (? IS NULL OR start_time < ?)",
            [since, since, until, until],
        ).fetchone()
        return int(row[0])

    def list_traces(
        self,
        since: str | None = None,
        until: str | None = None,
        status: str | None = None,
        service: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Trace]:
        where, params = [], []
        if since:
            where.append("start_time >= ?")
            params.append(since)
        if until:
            where.append("start_time < ?")
            params.append(until)
        if status:
            where.append("status = ?")
            params.append(status)
        if service:
            where.append("service = ?")
            params.append(service)
        sql = f"SELECT {', '.join(_TRACE_COLUMNS)} FROM traces"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_time, trace_id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        for row in self.conn.execute(sql, params):
            yield _trace_from_row(row)

    def spans(self, trace_id: str) -> list[Span]:
        """All spans of a trace, in start order."""
        return self.spans_of([trace_id])[trace_id]

    def spans_of(self, trace_ids: Sequence[str]) -> dict[str, list[Span]]:
        """The spans of many traces at once (one query per chunk), each list in start order."""
        records: dict[str, list[Sequence[Any]]] = {t: [] for t in trace_ids}
        for chunk in _chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            # Sorted here rather than by SQLite, which would copy every row, text and all, into a sorter.
            for record in self.conn.execute(
                f"SELECT {_SPAN_ROW_SQL}, rowid FROM spans WHERE trace_id IN ({marks})", list(chunk)
            ):
                records[record[0]].append(record)
        return {t: [self._span(r) for r in sorted(rows, key=_start_order)] for t, rows in records.items()}

    def span_timings(self, part: int = 0, parts: int = 1) -> Iterator[Timings]:
        """The durations and token totals of the stored spans that did not fail, one group per kind,
        name, tool, model and agent: enough for population statistics without reading span text. SQLite groups them, so
        Python handles a few values per span rather than a row. With `parts`, only one of that many
        disjoint shares of the spans."""
        where, args = ("", []) if parts == 1 else ("AND rowid % ? = ?", [parts, part])
        rows = self.conn.execute(self.SPAN_TIMINGS_SQL.format(where=where), args)
        for kind, name, tool_name, model, agent, starts, ends, tokens in rows:
            durations = list(map(duration_ms, orjson.loads(starts), orjson.loads(ends)))
            yield Timings(kind, name, tool_name, model, agent, durations, orjson.loads(tokens))

    def get_span(self, trace_id: str, span_id: str) -> Span | None:
        row = self.conn.execute(
            f"SELECT {_SPAN_ROW_SQL} FROM spans WHERE trace_id = ? AND span_id = ?",
            [trace_id, span_id],
        ).fetchone()
        return self._span(row) if row else None

    def _span(self, record: Sequence[Any]) -> Span:
        """A Span from a `_SPAN_ROW` record (anything after it is ignored)."""
        row = self._row_to_dict(record, _SPAN_ROW)
        row["orphan"] = bool(row["orphan"])
        row["cycle_broken"] = bool(row["cycle_broken"])
        return _trusted_span(row)

    def search_text(self, query: str, limit: int = 20) -> list[tuple[str, str, str]]:
        """Full-text search over span text: (trace_id, span_id, snippet), best matches first."""
        self.index_text()
        rows = self.conn.execute(
            "SELECT s.trace_id, s.span_id, snippet(spans_fts, -1, '[', ']', '…', 12)"
            " FROM spans_fts JOIN spans s ON s.rowid = spans_fts.rowid"
            " WHERE spans_fts MATCH ? ORDER BY rank LIMIT ?",
            [query, limit],
        ).fetchall()
        return [tuple(r) for r in rows]

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


_TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "name", "root_span_id", "start_time", "end_time", "duration_ms", "status",
    "span_count", "error_count", "service", "session_id", "user_id", "model", "agent_version",
    "prompt_version", "tags", "attributes", "labels", "outcome", "source_format",
)


def _trace_from_row(row: Sequence[Any]) -> Trace:
    data = dict(zip(_TRACE_COLUMNS, row, strict=True))
    for column in ("tags", "attributes", "labels", "outcome"):
        data[column] = orjson.loads(data[column]) if data[column] else ({} if column != "tags" else [])
    return Trace.model_validate(data)
