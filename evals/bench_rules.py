"""Rules-layer benchmark: traces per second through detectors, scores and compact documents.

    python -m investigator.evals.bench_rules [--traces 5000] [--db existing.db]

Uses 20-span traces (the ingest benchmark's support-agent shape: an agent, LLM steps with KBs of
messages, tool calls, 5% tool errors), or the traces of an existing store (`--db`, e.g. a
generated corpus after `investigator ingest`).
The rules layer runs in a fresh child process, so the peak memory printed is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any


def _run(db: str, queue: Any) -> None:
    from investigator.rules import run_rules
    from investigator.store import Store

    store = Store(db)
    start = time.perf_counter()
    report = run_rules(store, force=True)
    elapsed = time.perf_counter() - start
    spans = store.counts()["spans"]
    queue.put((elapsed, report.summary(), spans, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def main() -> None:
    from investigator.evals.bench_ingest import write_file
    from investigator.ingest.pipeline import ingest_paths
    from investigator.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--dir", default="/tmp/investigator-bench-rules")
    parser.add_argument("--db", default=None, help="Benchmark on this store's traces instead.")
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
    queue = context.Queue()
    child = context.Process(target=_run, args=(str(db), queue))
    child.start()
    elapsed, summary, spans, rss = queue.get()
    child.join()
    traces = summary["analysed"]
    print(f"{traces} traces ({spans} spans, {spans / max(traces, 1):.0f} per trace): rules layer {elapsed:.2f} s, {traces / elapsed:,.0f} traces/s,"
          f" {spans / elapsed:,.0f} spans/s, peak {rss / 1024:.0f} MB")
    print(f"  {summary['issues']} issues in {summary['traces_with_issues']} traces; {summary['refused']} refused")


if __name__ == "__main__":
    main()
