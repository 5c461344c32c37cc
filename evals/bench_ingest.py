"""Ingest benchmark: writes a large span-per-line file and measures how fast it goes into the store,
side by side with the floor: the same file read with orjson and written with `sqlite3.executemany`.

    python -m investigator.evals.bench_ingest --spans 200000 [--dir /tmp/bench] [--rounds 3]

The file is Phoenix-style flattened JSONL with OpenInference attributes; two thirds of the spans are
LLM spans carrying KBs of chat messages. The floor fills the same span columns by plain lookups of
this file's known shape (no format detection, convention mapping, message rebuilding, digests or
derived state), in one process and one transaction, into a store created by the investigator (same
table, same indexes, kept live), then adds the per-trace rollups with one GROUP BY: what writing
these rows costs on this machine. Each phase runs in a fresh child process so the peak memory
printed is that phase's own (see evals/memory.py). Floor and ingest alternate for a few rounds, and
the median ratio is printed: on a shared machine the speed of memory-heavy work drifts by a third.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from investigator.evals.memory import children_peak_mb, in_child, peak_mb, reset_peak

_WORDS = (
    "order refund policy shipping customer account invoice delivery warehouse tracking status "
    "payment card address return window days business support agent escalate ticket priority "
    "product quantity price discount coupon subscription plan cancel upgrade region europe"
).split()


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n_words))


def _span(trace: int, index: int, parent: str | None, kind: str, rng: random.Random, t0: float) -> dict[str, Any]:
    span_id = f"{trace:08x}{index:08x}"
    start = t0 + index * 0.35
    attrs: dict[str, Any] = {"openinference.span.kind": kind}
    name = {"AGENT": "SupportAgent", "LLM": "ChatCompletion", "TOOL": "lookup_order"}[kind]
    if kind == "LLM":
        attrs["llm.model_name"] = "gpt-4o-2024-08-06"
        attrs["llm.token_count.prompt"] = str(rng.randint(800, 6000))
        attrs["llm.token_count.completion"] = str(rng.randint(20, 400))
        for m in range(4):
            attrs[f"llm.input_messages.{m}.message.role"] = ("system", "user", "assistant", "tool")[m]
            attrs[f"llm.input_messages.{m}.message.content"] = _text(rng, rng.randint(50, 110))
        attrs["llm.output_messages.0.message.role"] = "assistant"
        attrs["llm.output_messages.0.message.content"] = _text(rng, rng.randint(20, 80))
    elif kind == "TOOL":
        attrs["tool.name"] = "lookup_order"
        attrs["input.value"] = json.dumps({"order_id": f"A{rng.randint(1000, 9999)}"})
        attrs["output.value"] = json.dumps({"status": "shipped", "note": _text(rng, 40)})
    else:
        attrs["input.value"] = _text(rng, 30)
        attrs["output.value"] = _text(rng, 30)
    error = kind == "TOOL" and rng.random() < 0.05
    return {
        "trace_id": f"{trace:032x}",
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + f".{int(start % 1 * 1e6):06d}Z",
        "end_time": (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + 0.3)) + f".{int((start + 0.3) % 1 * 1e6):06d}Z"
        ),
        "status": {"code": "ERROR" if error else "OK", "message": "HTTP 503 upstream unavailable" if error else ""},
        "resource": {"attributes": {"service.name": "support-bot", "service.version": "1.9.0"}},
        "scope": {"name": "openinference.instrumentation.openai"},
        "attributes": attrs,
    }


def write_file(path: Path, n_spans: int, seed: int = 1) -> int:
    """Write about n_spans spans (20 per trace: agent, then LLM/tool pairs); returns the count."""
    rng = random.Random(seed)
    written, trace = 0, 0
    t0 = 1_767_000_000.0
    with open(path, "wb") as handle:
        while written < n_spans:
            root = f"{trace:08x}{0:08x}"
            handle.write(orjson.dumps(_span(trace, 0, None, "AGENT", rng, t0)) + b"\n")
            for index in range(1, 20):
                kind = "LLM" if index % 3 != 2 else "TOOL"
                handle.write(orjson.dumps(_span(trace, index, root, kind, rng, t0)) + b"\n")
            written += 20
            trace += 1
            t0 += 30
    return written


def _run_ingest(path: str, db: str, queue: Any) -> None:
    from investigator.ingest.pipeline import ingest_paths
    from investigator.store import Store

    store = Store(db)
    phases: dict[str, float] = {"write_encoded": 0.0}
    for name in phases:
        original = getattr(store, name)

        def timed(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                phases[_name] += time.perf_counter() - start

        setattr(store, name, timed)
    start, cpu = time.perf_counter(), _cpu_seconds()
    report = ingest_paths(store, [path])
    elapsed = time.perf_counter() - start
    phases["cpu"] = _cpu_seconds() - cpu
    rss = (peak_mb(), children_peak_mb())
    reset_peak()
    start = time.perf_counter()
    store.index_text()  # deferred: built when the text is first searched
    phases["index_text (deferred)"] = time.perf_counter() - start
    queue.put((elapsed, report.summary(), phases, (*rss, peak_mb())))


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (the ingest workers)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _floor_row(record: dict[str, Any]) -> tuple[Any, ...]:
    attrs = record["attributes"]
    return (
        record["trace_id"], record["span_id"], record["parent_span_id"], record["name"],
        attrs["openinference.span.kind"].lower(), record["start_time"], record["end_time"],
        record["status"]["code"].lower(), record["status"]["message"] or None, attrs.get("input.value"),
        attrs.get("output.value"), orjson.dumps(attrs).decode(), attrs.get("llm.model_name"), attrs.get("tool.name"),
        attrs.get("input.value") if "tool.name" in attrs else None, attrs.get("llm.token_count.prompt"),
        attrs.get("llm.token_count.completion"), None, "[]", None, "spans-jsonl",
        record["resource"]["attributes"]["service.name"], None, None, "{}",
    )


def _run_floor(path: str, db: str, queue: Any) -> None:
    import sqlite3

    from investigator.store import Store
    from investigator.store.traces import SPAN_COLUMNS

    Store(db).close()  # the store's schema and indexes
    start, cpu = time.perf_counter(), _cpu_seconds()
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-65536"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("BEGIN")
    with open(path, "rb") as handle:
        conn.executemany(
            f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) VALUES ({', '.join('?' * len(SPAN_COLUMNS))})",
            (_floor_row(orjson.loads(line)) for line in handle),
        )
    conn.execute(
        "INSERT INTO traces (trace_id, start_time, end_time, span_count, error_count, status)"
        " SELECT trace_id, min(start_time), max(end_time), count(*), sum(status = 'error'),"
        " CASE WHEN sum(status = 'error') > 0 THEN 'error' ELSE 'ok' END FROM spans GROUP BY trace_id"
    )
    conn.execute("COMMIT")
    conn.close()
    queue.put((time.perf_counter() - start, _cpu_seconds() - cpu, peak_mb()))


def _run_parse_only(path: str, queue: Any) -> None:
    from investigator.ingest.reader import Record, iter_records
    from investigator.ingest.registry import FORMATS

    adapter = FORMATS["spans-jsonl"]
    start = time.perf_counter()
    n = 0
    for record in iter_records(Path(path)):
        if isinstance(record, Record):
            n += sum(1 for _ in adapter.parse(record.data))
    queue.put((time.perf_counter() - start, n, peak_mb()))


def _fresh(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--dir", default="/tmp/investigator-bench")
    parser.add_argument("--rounds", type=int, default=3,
                        help="floor and ingest, alternated this many times (the machine's speed drifts)")
    args = parser.parse_args()
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"spans-{args.spans}.jsonl"
    if not data.exists():
        write_file(data, args.spans)
    mb = data.stat().st_size / 1e6
    db = work / "bench.db"

    parse_s, parsed, parse_rss = in_child(_run_parse_only, str(data))
    print(f"file: {data} ({mb:.0f} MB, {parsed} spans)")
    print(f"parse only (read + JSON + normalise): {parse_s:.2f} s  {parsed / parse_s:,.0f} spans/s  "
          f"{mb / parse_s:.0f} MB/s  peak {parse_rss:.0f} MB")
    ratios = []
    for round_no in range(1, args.rounds + 1):
        _fresh(db)
        floor_s, floor_cpu, floor_rss = in_child(_run_floor, str(data), str(db))
        _fresh(db)
        elapsed, summary, phases, rss = in_child(_run_ingest, str(data), str(db))
        n = summary["ingested"]
        ratios.append(elapsed / floor_s)
        print(f"round {round_no}:")
        print(f"  floor (orjson + executemany, same columns): {floor_s:.2f} s  {n / floor_s:,.0f} spans/s  "
              f"{floor_cpu:.1f} CPU-s  peak {floor_rss:.0f} MB")
        print(f"  ingest into a new store:                    {elapsed:.2f} s  {n / elapsed:,.0f} spans/s  "
              f"{mb / elapsed:.0f} MB/s  {phases['cpu']:.1f} CPU-s (with the workers')  peak {rss[0]:.0f} MB,"
              f" each worker's {rss[1]:.0f} MB")
        print(f"    of which writing (write_encoded) {phases['write_encoded']:.2f} s; the rest is reading, waiting"
              f" for workers and building the deferred indexes")
        print(f"  ingest / floor: {ratios[-1]:.2f}x  (in CPU seconds: {phases['cpu'] / floor_cpu:.2f}x)")
    print(f"ingest / floor, median of {len(ratios)} rounds: {statistics.median(ratios):.2f}x")
    print(f"full-text index, built at first search:  {phases['index_text (deferred)']:.2f} s  peak {rss[2]:.0f} MB")
    again, summary2, _, _ = in_child(_run_ingest, str(data), str(db))
    print(f"re-ingest (all duplicates):           {again:.2f} s  {summary2}")
    print(f"store size: {db.stat().st_size / 1e6:.0f} MB")
    _fresh(db)


if __name__ == "__main__":
    main()
