"""End-to-end benchmark: `investigator run` (offline) from trace files to ranked findings.

    python -m investigator.evals.bench_run [--sizes 500 10000] [--max-clusters 10]

For each size a corpus is generated (seed 7, all six export formats), then one fresh child process
runs every stage into a new store, so the peak memory printed (of the process and of its workers)
is that run's own. Prints seconds per stage, traces per second overall, findings
and clusters.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

from investigator.evals.memory import children_peak_mb, peak_mb


def _run(corpus: str, db: str, max_clusters: int, queue: mp.Queue[dict]) -> None:
    from investigator.judge.settings import JudgeSettings
    from investigator.runner import RunSettings, execute_run
    from investigator.store import Store

    marks: list[tuple[str, float]] = []
    store = Store(db)
    started = time.perf_counter()
    settings = RunSettings(paths=[f"{corpus}/traces"], labels=f"{corpus}/labels.jsonl",
                           judge=JudgeSettings(max_clusters=max_clusters))
    result = execute_run(store, settings, stage=lambda name: marks.append((name, time.perf_counter())))
    finished = time.perf_counter()
    stages = {}
    for (name, at), (_, until) in zip(marks, marks[1:] + [("end", finished)], strict=True):
        stages[name] = round(until - at, 2)
    traces = result.counts["ingest"]["traces"]
    queue.put({
        "traces": traces, "spans": result.counts["ingest"]["ingested"], "seconds": round(finished - started, 2),
        "traces_per_s": round(traces / (finished - started)), "stages": stages,
        "suspects": result.counts["suspects"], "clusters": result.counts["clusters"],
        "investigated": len(result.counts["investigations"]), "findings": len(result.findings),
        "peak_rss_mb": round(peak_mb()),
        "peak_worker_rss_mb": round(children_peak_mb()),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 10_000])
    parser.add_argument("--max-clusters", type=int, default=10)
    args = parser.parse_args()
    from investigator.evals.corpus.generate import generate

    context = mp.get_context("spawn")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = str(Path(tmp) / "corpus")
            generate(seed=7, traces=size, out=corpus, variant="default")
            queue: mp.Queue[dict] = context.Queue()
            child = context.Process(target=_run, args=(corpus, str(Path(tmp) / "run.db"), args.max_clusters, queue))
            child.start()
            figures = queue.get()
            child.join()
            print(figures, flush=True)


if __name__ == "__main__":
    main()
