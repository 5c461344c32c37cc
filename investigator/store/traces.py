"""Spans and traces, read: traces by id, prefix or window, a trace's spans in start order, the
timings for population statistics, and what the judge's span tools ask of them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from investigator.detectors.population import Timings
from investigator.models import Span, Trace
from investigator.store.common import chunks
from investigator.timefmt import duration_ms

SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_id", "name", "kind", "start_time", "end_time", "status",
    "status_message", "input", "output", "attributes", "model", "tool_name", "tool_args",
    "tokens_in", "tokens_out", "cost", "events", "agent", "source_format", "service",
    "session_id", "user_id", "hints",
)
# The columns stored as JSON, and the empty value each reads as when blank.
JSON_COLUMNS: dict[str, type] = {"attributes": dict, "events": list, "hints": dict}
# What a Span is read from: the stored columns and the two flags the store sets.
_SPAN_ROW = (*SPAN_COLUMNS, "orphan", "cycle_broken")
_SPAN_ROW_SQL = ", ".join(_SPAN_ROW)
TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "name", "root_span_id", "start_time", "end_time", "duration_ms", "status",
    "span_count", "error_count", "service", "session_id", "user_id", "model", "agent_version",
    "prompt_version", "tags", "attributes", "labels", "outcome", "source_format",
)
# Covered by the spans_timing index (migration m007), in whose order the groups stream.
SPAN_TIMINGS_SQL = (
    "SELECT kind, name, tool_name, model, agent,"
    " json_group_array(start_time) FILTER (WHERE start_time <> '' AND end_time <> ''),"
    " json_group_array(end_time) FILTER (WHERE start_time <> '' AND end_time <> ''),"
    " json_group_array(ifnull(tokens_in, 0) + ifnull(tokens_out, 0))"
    " FILTER (WHERE tokens_in IS NOT NULL OR tokens_out IS NOT NULL)"
    " FROM spans WHERE status <> 'error' {where} GROUP BY kind, name, tool_name, model, agent"
)


def row_to_dict(values: Sequence[Any], columns: tuple[str, ...] = SPAN_COLUMNS) -> dict[str, Any]:
    """A span row as a dict, its JSON columns decoded. `values` may run past `columns`."""
    row = dict(zip(columns, values, strict=False))
    for column, empty in JSON_COLUMNS.items():
        value = row[column]
        row[column] = orjson.loads(value) if value else empty()
    return row


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


def _trace_from_row(row: Sequence[Any]) -> Trace:
    data = dict(zip(TRACE_COLUMNS, row, strict=True))
    for column in ("tags", "attributes", "labels", "outcome"):
        data[column] = orjson.loads(data[column]) if data[column] else ({} if column != "tags" else [])
    return Trace.model_validate(data)


class SpanReads:
    """Reading spans and traces."""

    conn: sqlite3.Connection


    def existing_trace_ids(self, trace_ids: Iterable[str]) -> set[str]:
        ids = list(trace_ids)
        found: set[str] = set()
        for chunk in chunks(ids):
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
        for chunk in chunks(list(trace_ids)):
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
        for chunk in chunks(list(trace_ids)):
            marks = ", ".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {', '.join(TRACE_COLUMNS)} FROM traces WHERE trace_id IN ({marks})", list(chunk)
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
        wanted = [("start_time >= ?", since), ("start_time < ?", until), ("status = ?", status),
                  ("service = ?", service)]
        where = [condition for condition, value in wanted if value]
        params = [value for _, value in wanted if value]
        sql = f"SELECT {', '.join(TRACE_COLUMNS)} FROM traces"
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
        for chunk in chunks(list(trace_ids)):
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
        rows = self.conn.execute(SPAN_TIMINGS_SQL.format(where=where), args)
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
        row = row_to_dict(record, _SPAN_ROW)
        row["orphan"] = bool(row["orphan"])
        row["cycle_broken"] = bool(row["cycle_broken"])
        return _trusted_span(row)

    def trace_ids(self) -> list[str]:
        """Every stored trace id, in order."""
        return [r[0] for r in self.conn.execute("SELECT trace_id FROM traces ORDER BY trace_id")]

    def component_ran(self, since: str | None, until: str | None, place: str) -> bool:
        """Whether a trace starting in [since, until) ran the tool or agent `place` (any trace, when
        `place` is "")."""
        sql = "SELECT 1 FROM traces t WHERE (? IS NULL OR t.start_time >= ?) AND (? IS NULL OR t.start_time < ?)"
        params: list[str | None] = [since, since, until, until]
        if place:
            sql += (" AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id"
                    " AND (s.tool_name = ? OR s.agent = ?))")
            params += [place, place]
        return self.conn.execute(sql + " LIMIT 1", params).fetchone() is not None

    def spans_of_kind(self, kind: str, trace_ids: Sequence[str], limit: int) -> tuple[int, list[tuple[str, str]]]:
        """How many spans of this kind these traces have, and the first `limit` of them as (trace id,
        span id), by trace and start."""
        scope = orjson.dumps(list(trace_ids)).decode()
        where = "kind = ? AND trace_id IN (SELECT value FROM json_each(?))"
        total = self.conn.execute(f"SELECT count(*) FROM spans WHERE {where}", [kind, scope]).fetchone()[0]
        rows = self.conn.execute(
            f"SELECT trace_id, span_id FROM spans WHERE {where} ORDER BY trace_id, start_time, rowid LIMIT ?",
            [kind, scope, limit],
        ).fetchall() if total else []
        return total, [tuple(r) for r in rows]

    def search_spans(
        self, query: str, limit: int = 20, trace_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, str, str, str]]:
        """Full-text matches among the spans (of these traces, when given), best first: (trace id,
        span id, kind, name, snippet). Raises sqlite3.OperationalError when `query` is not valid
        full-text syntax."""
        self.index_text()
        scope = "" if trace_ids is None else " AND s.trace_id IN (SELECT value FROM json_each(?))"
        params = [query] + ([] if trace_ids is None else [orjson.dumps(list(trace_ids)).decode()]) + [limit]
        return [tuple(r) for r in self.conn.execute(
            "SELECT s.trace_id, s.span_id, s.kind, s.name, snippet(spans_fts, -1, '[', ']', '…', 16)"
            " FROM spans_fts JOIN spans s ON s.rowid = spans_fts.rowid"
            f" WHERE spans_fts MATCH ?{scope} ORDER BY rank, s.trace_id, s.span_id LIMIT ?",
            params,
        )]
