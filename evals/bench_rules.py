"""Rules-layer benchmark: traces per second through detectors, scores and compact documents.

    python -m investigator.evals.bench_rules [--traces 5000] [--db existing.db] [--repeat 3]

Uses 20-span traces (the ingest benchmark's support-agent shape: an agent, LLM steps with KBs of
messages, tool calls, 5% tool errors), or the traces of an existing store (`--db`, e.g. a
generated corpus after `investigator ingest`).
The rules layer runs in a fresh child process, so the peak memory printed is its own (and its
largest worker's), and so is the CPU time per trace (its own and its workers', on all cores).
Each repeat is a fresh process; on a shared machine the runs vary, so every run is printed along
with the median.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from investigator.evals.memory import children_peak_mb, peak_mb


def _run(db: str, queue: Any) -> None:
    from investigator.rules import run_rules
    from investigator.store import Store

    store = Store(db)
    start, cpu = time.perf_counter(), _cpu_seconds()
    report = run_rules(store, force=True)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    spans = store.counts()["spans"]
    peaks = (peak_mb(), children_peak_mb())
    queue.put((elapsed, cpu, report.summary(), spans, peaks))


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the workers): less disturbed than wall
    time by whatever else the machine runs, so comparable between sessions."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    from investigator.evals.bench_ingest import write_file
    from investigator.ingest.pipeline import ingest_paths
    from investigator.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--dir", default="/tmp/investigator-bench-rules")
    parser.add_argument("--db", default=None, help="Benchmark on this store's traces instead.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs, each in a fresh process.")
    args = parser.parse_args()
    if args.db:
        db = Path(args.db)
    else:
        work = Path(args.dir)
        work.mkdir(parents=True, exist_ok=True)
        data = work / f"traces-{args.traces}.jsonl"
        if not data.exists():
            write_file(data, args.traces * 20)
        db = work / f"rules-{args.traces}.db"
        if not db.exists():
            ingest_paths(Store(str(db)), [str(data)])
    context = mp.get_context("spawn")
    rates = []
    for _ in range(max(1, args.repeat)):
        queue = context.Queue()
        child = context.Process(target=_run, args=(str(db), queue))
        child.start()
        elapsed, cpu, summary, spans, (rss, worker_rss) = queue.get()
        child.join()
        traces = summary["analysed"]
        rates.append(traces / elapsed)
        print(f"{traces} traces ({spans} spans, {spans / max(traces, 1):.0f} per trace): rules layer {elapsed:.2f} s,"
              f" {traces / elapsed:,.0f} traces/s, {spans / elapsed:,.0f} spans/s,"
              f" CPU {cpu * 1000 / max(traces, 1):.2f} ms per trace,"
              f" peak {rss:.0f} MB" + (f" (largest worker {worker_rss:.0f} MB)" if worker_rss else " (one process)"))
    print(f"  {summary['issues']} issues in {summary['traces_with_issues']} traces; {summary['refused']} refused")
    print(f"  median {statistics.median(rates):,.0f} traces/s, best {max(rates):,.0f} over {len(rates)} runs")


if __name__ == "__main__":
    main()
