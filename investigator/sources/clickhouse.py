"""Spans read where the OpenTelemetry Collector's ClickHouse exporter keeps them (`otel_traces`).

    clickhouse://USER@HOST:PORT/DB?table=otel_traces      a ClickHouse server over HTTP (clickhouse-connect;
                                                          the password from $CLICKHOUSE_PASSWORD; &secure=1
                                                          for HTTPS)
    chdb:///PATH/TO/DATA?table=otel_traces                 a ClickHouse data directory, read in
                                                          process by the embedded engine (chdb)

The engine does the heavy part. For the window asked for it counts the spans and traces, and picks
the traces worth reading whole: the suspects (a span with error status, an exception event, a tool
result shaped like an error, or the same call repeated) and a seeded sample of the others, which
gives the rules layer its baselines. Only those traces' spans come over, streamed in batches of
traces, as the exporter stored them; they are read with the `clickhouse-otel` format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from investigator.errors import InputError
from investigator.ingest.pipeline import IngestReport, ingest_records
from investigator.store import Store
from investigator.timefmt import parse_iso

SCHEMES = ("clickhouse", "chdb")
_EXTRA = "pip install 'trace-investigator[clickhouse]'"
PASSWORD_ENV = "CLICKHOUSE_PASSWORD"
DEFAULT_SAMPLE = 0.05  # share of the window's other traces read whole, for baselines
SAMPLE_MAX = 2000  # at most about this many of them: enough for baselines, however large the window
FETCH_TRACES = 5000  # traces per fetch query (their ids travel in the query's parameters)
FETCH_MARGIN_HOURS = 24  # a chosen trace's spans are looked for this long either side of the window
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Attributes where a tool's result or a step's output is recorded, and the shapes of an error in them.
_RESULT_KEYS = ("output.value", "gen_ai.tool.call.result", "ai.toolCall.result", "tool_response")
_ERROR_SHAPE = (r"(?i)(\"(error|exception|error_message)\"\s*:|traceback \(most recent call last\)"
                r"|^\s*(error|exception)\b)")
REPEATS = 3  # the same call (span name and input) this many times in a trace makes it a suspect
# Rendered as ClickHouse writes it, the engine's output is UTC and its 64-bit numbers are numbers.
_SETTINGS = " SETTINGS session_timezone = 'UTC', output_format_json_quote_64bit_integers = 0"


Window = tuple[str | None, str | None]  # [since, until); None leaves that side open


class Engine(Protocol):
    def lines(self, sql: str, params: dict[str, Any]) -> Iterator[bytes]:
        """The rows of a query as JSON objects, one line each (JSONEachRow)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ClickHouseSource:
    scheme: str
    host: str
    port: int | None
    user: str
    database: str
    table: str
    path: str = ""  # chdb: the data directory
    sample: float = DEFAULT_SAMPLE
    seed: int = 0
    secure: bool = False  # HTTPS (`&secure=1`)

    @property
    def url(self) -> str:
        """The source as given, without a password: what quarantine rows and reports name."""
        if self.scheme == "chdb":
            return f"chdb://{self.path}?table={self.table}"
        port = f":{self.port}" if self.port else ""
        return f"clickhouse://{self.user}@{self.host}{port}/{self.database}?table={self.table}"

    @property
    def qualified_table(self) -> str:
        return f"{self.database}.{self.table}" if self.database else self.table

    def engine(self) -> Engine:
        if self.scheme == "chdb":
            return EmbeddedEngine(self.path)
        return ServerEngine(self)


def is_clickhouse(spec: str) -> bool:
    return spec.split("://", 1)[0] in SCHEMES and "://" in spec


def parse_source(spec: str) -> ClickHouseSource:
    """A ClickHouse source from its URL; InputError naming what is wrong with it."""
    parts = urlsplit(spec)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    table = query.get("table", "otel_traces")
    if parts.password:
        raise InputError(f"{parts.scheme}:// URL: give the password in ${PASSWORD_ENV}, not in the URL")
    database = parts.path.strip("/") if parts.scheme == "clickhouse" else ""
    for what, name in (("table", table), ("database", database)):
        if name and not _IDENTIFIER.match(name):
            raise InputError(f"{spec}: {what} {name!r} is not a plain identifier")
    try:
        sample = float(query.get("sample", DEFAULT_SAMPLE))
        seed = int(query.get("seed", 0))
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{spec}: {exc}") from None
    if not 0 <= sample <= 1:
        raise InputError(f"{spec}: sample must be between 0 and 1, not {sample}")
    if parts.scheme == "chdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise InputError(f"{spec}: name the chdb data directory (chdb:///path?table=…)")
        return ClickHouseSource("chdb", "", None, "", "", table, path=path, sample=sample, seed=seed)
    if not parts.hostname:
        raise InputError(f"{spec}: name the host (clickhouse://USER@HOST:PORT/DB?table=…)")
    return ClickHouseSource("clickhouse", parts.hostname, port, unquote(parts.username or "default"),
                            database or "default", table, sample=sample, seed=seed,
                            secure=query.get("secure", "0") in ("1", "true"))


class ServerEngine:
    """A ClickHouse server over HTTP(S), through clickhouse-connect."""

    def __init__(self, source: ClickHouseSource) -> None:
        try:
            import clickhouse_connect
        except ImportError:
            raise InputError(f"reading from ClickHouse needs clickhouse-connect: {_EXTRA}") from None
        self.client = clickhouse_connect.get_client(
            host=source.host, port=source.port or (8443 if source.secure else 8123), username=source.user,
            password=os.environ.get(PASSWORD_ENV, ""), database=source.database, secure=source.secure,
        )

    def lines(self, sql: str, params: dict[str, Any]) -> Iterator[bytes]:
        stream = self.client.raw_stream(sql, parameters=params, fmt="JSONEachRow")
        try:
            yield from _split_lines(iter(lambda: stream.read(1 << 16), b""))
        finally:
            stream.close()

    def close(self) -> None:
        self.client.close()


class EmbeddedEngine:
    """A ClickHouse data directory, in this process (chdb)."""

    def __init__(self, path: str) -> None:
        try:
            from chdb import session
        except ImportError:
            raise InputError(f"reading a chdb data directory needs chdb: {_EXTRA}") from None
        self.session = session.Session(path)

    def lines(self, sql: str, params: dict[str, Any]) -> Iterator[bytes]:
        text = {name: _parameter_text(value) for name, value in params.items()}
        result = self.session.send_query(sql, "JSONEachRow", params=text)
        try:
            yield from _split_lines(chunk.bytes() for chunk in result)
        finally:
            result.close()

    def close(self) -> None:
        self.session.close()  # chdb holds one session per process


def _parameter_text(value: Any) -> str:
    """A query parameter as ClickHouse reads it from text (as clickhouse-connect sends them)."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_quoted(str(v)) for v in value) + "]"
    return str(value)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        yield from (line for line in whole if line)
    if rest.strip():
        yield rest


@dataclass
class Pushdown:
    """What the engine scanned for the window and what came over."""

    scanned_spans: int = 0
    scanned_traces: int = 0
    suspect_traces: int = 0
    sampled_traces: int = 0
    transferred_spans: int = 0


def _window(since: str | None, until: str | None, margin_hours: int = 0) -> tuple[str, dict[str, Any]]:
    """The SQL condition for spans starting in [since, until), widened by `margin_hours` each side."""
    conditions, params = ["1"], {}
    margin = f" - toIntervalHour({margin_hours})" if margin_hours else ""
    if since:
        conditions.append(f"Timestamp >= parseDateTime64BestEffort({{since:String}}, 9, 'UTC'){margin}")
        params["since"] = _engine_time(since)
    if until:
        margin = margin.replace(" - ", " + ")
        conditions.append(f"Timestamp < parseDateTime64BestEffort({{until:String}}, 9, 'UTC'){margin}")
        params["until"] = _engine_time(until)
    return " AND ".join(conditions), params


def _engine_time(iso: str) -> str:
    return parse_iso(iso).strftime("%Y-%m-%d %H:%M:%S.%f")


def _suspect_condition() -> str:
    """Per trace (in a GROUP BY TraceId): whether any span says it failed, in SQL."""
    results = " OR ".join(
        f"(mapContains(SpanAttributes, '{key}') AND match(SpanAttributes['{key}'], {{shape:String}}))"
        for key in _RESULT_KEYS
    )
    return (
        "max(lower(StatusCode) IN ('error', 'status_code_error'))"
        " OR max(has(`Events.Name`, 'exception'))"
        f" OR max({results})"
    )


def _chosen_sql(table: str, window: str) -> str:
    """The traces of the window to read whole: suspects, and the seeded sample of the rest."""
    repeated = (
        f"SELECT DISTINCT TraceId FROM {table} WHERE {window}"
        " AND SpanAttributes['input.value'] || SpanAttributes['gen_ai.tool.call.arguments'] != ''"
        " GROUP BY TraceId, SpanName, SpanAttributes['input.value'], SpanAttributes['gen_ai.tool.call.arguments']"
        " HAVING count() >= {repeats:UInt32}"
    )
    return (
        f"SELECT TraceId, ({_suspect_condition()}) OR TraceId IN ({repeated}) AS suspect"
        f" FROM {table} WHERE {window} GROUP BY TraceId"
        " HAVING suspect OR cityHash64(TraceId, {seed:UInt64}) % 1000000 < {sample:UInt32}"
        " ORDER BY TraceId" + _SETTINGS
    )


def _rows(engine: Engine, sql: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for line in engine.lines(sql, params):
        yield orjson.loads(line)


def pull(store: Store, source: ClickHouseSource, since: str | None = None, until: str | None = None,
         windows: Sequence[Window] = (), engine: Engine | None = None) -> IngestReport:
    """Ingest the suspect traces and sampled clean traces of [since, until) from the table; the
    report's `pushdown` says what the engine scanned and what came over. The store keeps what the
    engine counted in that window, or in each of `windows` (consecutive parts of it that runs will
    analyse one by one), since only part of their traces is stored."""
    if engine is None:
        engine = source.engine()
        try:
            return pull(store, source, since, until, windows, engine)
        finally:
            engine.close()
    table = source.qualified_table
    traces, spans = census(engine, table, since, until)
    for part in windows or [(since, until)]:
        counted = (traces, spans) if part == (since, until) else census(engine, table, *part)
        store.record_source_window(source.url, part[0] or "", part[1] or "", *counted)
    pushdown = Pushdown(scanned_spans=spans, scanned_traces=traces)
    chosen = chosen_traces(engine, source, since, until, traces)
    pushdown.suspect_traces = sum(suspect for _, suspect in chosen)
    pushdown.sampled_traces = len(chosen) - pushdown.suspect_traces
    spans = _spans_of(engine, table, [trace_id for trace_id, _ in chosen], since, until, pushdown)
    report = ingest_records(store, spans, "clickhouse-otel", source.url, locate=_location)
    report.pushdown = vars(pushdown)
    return report


def chosen_traces(engine: Engine, source: ClickHouseSource, since: str | None,
                  until: str | None, traces: int) -> list[tuple[str, bool]]:
    """The traces of [since, until) (which holds `traces`) to read whole, by id, each with whether
    it is a suspect (else it is in the sample): the one query that scans the window's spans. The
    sample's share is the source's, or less where that would pass SAMPLE_MAX traces."""
    window, params = _window(since, until)
    share = min(source.sample, SAMPLE_MAX / max(traces, 1))
    rows = _rows(engine, _chosen_sql(source.qualified_table, window), {
        **params, "shape": _ERROR_SHAPE, "repeats": REPEATS, "seed": source.seed,
        "sample": round(share * 1_000_000),
    })
    return [(row["TraceId"], bool(row["suspect"])) for row in rows]


def census(engine: Engine, table: str, since: str | None, until: str | None) -> tuple[int, int]:
    """(traces, spans) the table holds in [since, until)."""
    window, params = _window(since, until)
    sql = f"SELECT uniqExact(TraceId) AS traces, count() AS spans FROM {table} WHERE {window}" + _SETTINGS
    counted = next(_rows(engine, sql, params))
    return int(counted["traces"]), int(counted["spans"])


def _spans_of(engine: Engine, table: str, trace_ids: Sequence[str], since: str | None, until: str | None,
              pushdown: Pushdown) -> Iterator[dict[str, Any]]:
    """The chosen traces' spans, a batch of traces a query; the window, widened by a margin for
    spans that started before it or ended after it, keeps each query to the partitions it needs."""
    near, params = _window(since, until, margin_hours=FETCH_MARGIN_HOURS)
    for start in range(0, len(trace_ids), FETCH_TRACES):
        batch = list(trace_ids[start:start + FETCH_TRACES])
        sql = (f"SELECT * FROM {table} WHERE {near} AND TraceId IN {{ids:Array(String)}}"
               " ORDER BY TraceId, Timestamp, SpanId" + _SETTINGS)
        for row in _rows(engine, sql, {**params, "ids": batch}):
            pushdown.transferred_spans += 1
            yield row


def _location(index: int, row: Any) -> str:
    """Where a row is in the table: the span's ids, as a user would look it up."""
    if isinstance(row, dict):
        return f"TraceId={row.get('TraceId')} SpanId={row.get('SpanId')}"
    return f"[{index}]"
