"""Query-source benchmark: a large `otel_traces` table in chdb (the embedded ClickHouse engine), and
how fast the investigator gets from it to the window's suspects, against the same spans from a file.

    python -m investigator.evals.bench_source [--spans 10000000] [--file-spans 1000000] [--dir /tmp/bench-source]

The table is the OpenTelemetry Collector ClickHouse exporter's, filled by ClickHouse itself from
`numbers()`: 10-span traces of a support agent with OpenInference attributes, 1% of them with a tool
span that failed. For the table, the figures are the time to the list of suspects (the engine's
scan), to the suspects and the sample stored, the spans scanned and sent, and the peak memory of
this machine's process. For the file, the same kind of spans (the first `--file-spans` of the table,
dumped as JSON lines) are ingested whole and the rules layer finds the suspects. Each phase runs in
a fresh child process, so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from investigator.evals.memory import children_peak_mb, in_child, peak_mb

SPANS_PER_TRACE = 10
SUSPECT_EVERY = 100  # one trace in this many has a failed tool span
# The exporter's own DDL for its traces table (see the file).
DDL = (Path(__file__).parent / "data" / "clickhouse" / "otel_traces.sql").read_text()
# Span n of trace t: 0 the agent, odd the model calls, even the tool calls; the tool call 4 of every
# SUSPECT_EVERY-th trace fails. One trace starts every 50 ms from 2026-01-05.
_FILL = f"""
INSERT INTO otel_traces
SELECT
    toDateTime64('2026-01-05 00:00:00', 9, 'UTC') + toIntervalMillisecond(t * 50 + n * 3) AS Timestamp,
    lower(hex(cityHash64(t, 'trace'))) || lower(hex(cityHash64(t, 'trace2'))) AS TraceId,
    lower(hex(cityHash64(t, n))) AS SpanId,
    if(n = 0, '', lower(hex(cityHash64(t, 0)))) AS ParentSpanId,
    '' AS TraceState,
    multiIf(n = 0, 'SupportAgent', n % 2 = 1, 'ChatCompletion', 'lookup_order') AS SpanName,
    multiIf(n % 2 = 1, 'Client', 'Internal') AS SpanKind,
    'support-bot' AS ServiceName,
    map('service.name', 'support-bot', 'service.version', '1.9.0') AS ResourceAttributes,
    'openinference.instrumentation.openai' AS ScopeName, '0.1.0' AS ScopeVersion,
    multiIf(
        n = 0, map('openinference.span.kind', 'AGENT', 'agent.name', 'SupportAgent',
                   'input.value', 'where is my order A' || toString(t % 9000 + 1000)),
        n % 2 = 1, map('openinference.span.kind', 'LLM', 'llm.model_name', 'gpt-4o-2024-08-06',
                       'llm.input_messages.0.message.role', 'user',
                       'llm.input_messages.0.message.content', 'customer asks about order status and refund policy',
                       'llm.output_messages.0.message.role', 'assistant',
                       'llm.output_messages.0.message.content', 'let me look that up for you',
                       'llm.token_count.prompt', toString(800 + t % 500), 'llm.token_count.completion', '40'),
        map('openinference.span.kind', 'TOOL', 'tool.name', 'lookup_order',
            'input.value', '{{"order_id": "A' || toString(t % 9000 + n) || '"}}',
            'output.value', if(n = 4 AND t % {SUSPECT_EVERY} = 0, '{{"error": "HTTP 503 upstream unavailable"}}',
                               '{{"status": "shipped"}}'))
    ) AS SpanAttributes,
    toUInt64(2000000 + (t * 7 + n) % 900000000) AS Duration,
    if(n = 4 AND t % {SUSPECT_EVERY} = 0, 'Error', 'Unset') AS StatusCode,
    if(n = 4 AND t % {SUSPECT_EVERY} = 0, 'HTTP 503 upstream unavailable', '') AS StatusMessage,
    [] AS `Events.Timestamp`, [] AS `Events.Name`, [] AS `Events.Attributes`,
    [] AS `Links.TraceId`, [] AS `Links.SpanId`, [] AS `Links.TraceState`, [] AS `Links.Attributes`
FROM (SELECT intDiv(number, {SPANS_PER_TRACE}) AS t, number % {SPANS_PER_TRACE} AS n FROM numbers({{spans}}))
"""


def _fill(path: str, spans: int, queue: Any) -> None:
    from chdb import session

    start = time.perf_counter()
    s = session.Session(path)
    s.query(DDL)
    s.query(_FILL.replace("{spans}", str(spans)))
    s.close()
    queue.put(time.perf_counter() - start)


def _pull(path: str, db: str, queue: Any) -> None:
    from investigator.sources import clickhouse
    from investigator.store import Store

    source = clickhouse.parse_source(f"chdb://{path}?table=otel_traces")
    engine = source.engine()
    try:
        start = time.perf_counter()
        traces, _ = clickhouse.census(engine, source.qualified_table, None, None)
        clickhouse.chosen_traces(engine, source, None, None, traces)  # the census and the scan alone
        to_suspects = time.perf_counter() - start
        start = time.perf_counter()
        report = clickhouse.pull(Store(db), source, engine=engine)
        total = time.perf_counter() - start
    finally:
        engine.close()
    queue.put((to_suspects, total, report.pushdown, report.summary(), peak_mb()))


def _dump(path: str, file: str, spans: int, queue: Any) -> None:
    from chdb import session

    s = session.Session(path)
    s.query(f"SELECT * FROM otel_traces ORDER BY Timestamp LIMIT {spans} INTO OUTFILE '{file}' FORMAT JSONEachRow"
            " SETTINGS session_timezone = 'UTC'")
    s.close()
    queue.put(Path(file).stat().st_size)


def _files(file: str, db: str, queue: Any) -> None:
    from investigator.ingest.pipeline import ingest_paths
    from investigator.rules import run_rules
    from investigator.runs import cluster_window
    from investigator.store import Store

    store = Store(db)
    start = time.perf_counter()
    report = ingest_paths(store, [file])
    ingested = time.perf_counter() - start
    run_rules(store)
    _, traces, suspects = cluster_window(store)
    queue.put((ingested, time.perf_counter() - start, report.summary(), traces, suspects, peak_mb(),
               children_peak_mb()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--file-spans", type=int, default=1_000_000)
    parser.add_argument("--dir", default="/tmp/investigator-bench-source")
    args = parser.parse_args()
    work = Path(args.dir)
    table = work / f"chdb-{args.spans}"
    if not table.exists():
        table.parent.mkdir(parents=True, exist_ok=True)
        print(f"filling otel_traces with {args.spans:,} spans: {in_child(_fill, str(table), args.spans):.1f} s")
    db = work / "pulled.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    to_suspects, total, pushdown, summary, rss = in_child(_pull, str(table), str(db))
    print(f"table: {pushdown['scanned_spans']:,} spans in {pushdown['scanned_traces']:,} traces scanned by the engine")
    print(f"  suspects listed after {to_suspects:.2f} s: {pushdown['suspect_traces']:,} suspect traces,"
          f" {pushdown['sampled_traces']:,} sampled")
    print(f"  census, scan, fetch and store: {total:.2f} s: {pushdown['transferred_spans']:,} spans sent"
          f" ({pushdown['transferred_spans'] / max(pushdown['scanned_spans'], 1):.2%} of those scanned),"
          f" {summary['ingested']:,} ingested; peak {rss:.0f} MB")
    file = work / f"dump-{args.file_spans}.jsonl"
    if not file.exists():
        size = in_child(_dump, str(table), str(file), args.file_spans)
    else:
        size = file.stat().st_size
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    ingested, to_file_suspects, fsummary, traces, suspects, frss, wrss = in_child(_files, str(file), str(db))
    print(f"file: {fsummary['ingested']:,} spans ({size / 1e6:.0f} MB) of the same shape, read whole")
    print(f"  ingested after {ingested:.2f} s, suspects after {to_file_suspects:.2f} s: {suspects:,} of"
          f" {traces:,} traces; peak {frss:.0f} MB, each worker's {wrss:.0f} MB")
    per_span = to_file_suspects / max(fsummary["ingested"], 1)
    print(f"  at that rate, the table's {pushdown['scanned_spans']:,} spans from files would take about"
          f" {per_span * pushdown['scanned_spans']:.0f} s")


if __name__ == "__main__":
    main()
