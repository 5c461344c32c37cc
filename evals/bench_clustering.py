"""Clustering benchmark: time and peak memory to cluster 1k, 10k and 100k suspect traces.

    python -m investigator.evals.bench_clustering [--sizes 1000 10000 100000]

Documents are compact-document-shaped texts drawn from 24 failure families with varied ids,
numbers and word order, plus 10% unrelated one-offs. Each size runs in a fresh child process so
the peak memory printed is that run's own. Purity against the generating family is
printed so a fast-but-wrong result is visible.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import time
from collections import Counter

from investigator.evals.memory import peak_mb

_TOOLS = ["lookup_order", "issue_refund", "web_search", "browse", "read_file", "run_code", "get_policy",
          "escalate", "transfer_to_billing", "send_email", "update_address", "check_stock"]
_CATEGORIES = ["execution.rate_limited", "execution.timeout", "execution.silent_failure",
               "reasoning.invalid_tool_arguments", "planning.redundant_steps", "safety.pii_exposure",
               "recovery.ignored_error", "reasoning.format_violation"]
_ERRORS = ["HTTP 429 Too Many Requests", "ReadTimeout after <n>s", "empty result {}", "validation error for amount",
           "identical call repeated <n> times", "email address in output", "error ignored, answered anyway",
           "JSONDecodeError: Expecting value"]


def _documents(n: int, seed: int = 1) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    families = [(rng.choice(_TOOLS), i % len(_CATEGORIES), rng.choice(["support", "research", "orchestrator"]))
                for i in range(24)]
    docs, truth = [], []
    for _ in range(n):
        if rng.random() < 0.1:
            words = [rng.choice(_TOOLS + _ERRORS[0].split() + ["misc", "other", "note"]) for _ in range(25)]
            docs.append(" ".join(words) + f" id {rng.randint(1, 10**6)}")
            truth.append(-1)
            continue
        family = rng.randrange(len(families))
        tool, category, workflow = families[family]
        steps = " -> ".join(f"{rng.choice(_TOOLS)} x{rng.randint(1, 3)}" for _ in range(rng.randint(1, 3)))
        docs.append(
            f"workflow: {workflow}_agent agents: {workflow} tools: {steps} -> {tool} x{rng.randint(1, 4)} (error)\n"
            f"errors: {tool}: {_ERRORS[category].replace('<n>', str(rng.randint(2, 30)))}\n"
            f"issues: {_CATEGORIES[category]} at {tool} severity high\n"
            f"slices: model gpt-4o agent_version v1.{rng.randint(7, 9)}"
        )
        truth.append(family)
    return docs, truth


def _run(n: int, queue: mp.Queue[dict]) -> None:
    from investigator.clustering import ClusterSettings, cluster_traces
    from investigator.models import Trace

    docs, truth = _documents(n)
    traces = [Trace(trace_id=f"t{i:07d}", status="error") for i in range(n)]
    documents = {t.trace_id: d for t, d in zip(traces, docs, strict=True)}
    start = time.perf_counter()
    clusters = cluster_traces(traces, documents, {}, traces, ClusterSettings(min_cluster_size=max(5, n // 1000)))
    elapsed = time.perf_counter() - start
    index = {t.trace_id: i for i, t in enumerate(traces)}
    pure = 0
    for cluster in clusters:
        if cluster.noise:
            continue
        families = Counter(truth[index[t]] for t in cluster.trace_ids)
        pure += families.most_common(1)[0][1]
    clustered = sum(c.size for c in clusters if not c.noise)
    queue.put({
        "suspects": n, "seconds": round(elapsed, 2), "traces_per_s": round(n / elapsed),
        "clusters": sum(not c.noise for c in clusters), "noise": n - clustered,
        "purity": round(pure / clustered, 3) if clustered else 0.0,
        "peak_rss_mb": round(peak_mb()),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    context = mp.get_context("spawn")
    print(f"{'suspects':>9} {'seconds':>8} {'traces/s':>9} {'clusters':>8} {'noise':>6} {'purity':>6} {'peak MB':>8}")
    for n in args.sizes:
        queue = context.Queue()
        child = context.Process(target=_run, args=(n, queue))
        child.start()
        r = queue.get()
        child.join()
        print(f"{r['suspects']:>9} {r['seconds']:>8} {r['traces_per_s']:>9} {r['clusters']:>8} {r['noise']:>6}"
              f" {r['purity']:>6} {r['peak_rss_mb']:>8}")


if __name__ == "__main__":
    main()
