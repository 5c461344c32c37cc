"""Judge benchmark: per investigated cluster, turns, tokens and the share of input tokens served
from the prompt cache, for the recorded judge runs replayed (see investigator/evals/judge_runs.py:
recorded against a local fake server, so token counts are estimates and the cache behaviour is the
fake server's simulation of Anthropic's rules; no real model was called), and for the offline
investigator on the same corpus.

    python -m investigator.evals.bench_judge
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import orjson


def _replay(provider: str, db: str) -> float:
    from click.testing import CliRunner

    from investigator.cli import main as cli
    from investigator.evals.judge_runs import judge_run_args

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        os.environ.pop(name, None)
    started = time.perf_counter()
    result = CliRunner().invoke(cli, judge_run_args(db, "replay", provider))
    if result.exit_code != 0:
        raise SystemExit(f"replay of {provider} failed: {result.output}")
    return time.perf_counter() - started


def _offline(db: str) -> float:
    from investigator.evals.judge_runs import CLUSTERS, DEMO
    from investigator.judge.settings import JudgeSettings
    from investigator.runner import RunSettings, execute_run
    from investigator.store import Store

    started = time.perf_counter()
    with Store(db) as store:
        execute_run(store, RunSettings(paths=[str(DEMO / "traces")], labels=str(DEMO / "labels.jsonl"),
                                       judge=JudgeSettings(max_clusters=CLUSTERS)))
    return time.perf_counter() - started


def _report(label: str, db: str, seconds: float) -> None:
    from investigator.store import Store

    with Store(db) as store:
        counts = orjson.loads(store.conn.execute("SELECT counts FROM runs").fetchone()[0])
    print(f"{label}: run {seconds:.1f} s (all stages), judge cost ${counts.get('cost_usd', 0):.4f}")
    for c in counts["investigations"]:
        share = c["cached_tokens"] / c["tokens_in"] if c["tokens_in"] else 0.0
        print(f"  {c['cluster_id']}: {c['turns']} turns, {c['tokens_in']} tokens in ({c['cached_tokens']} cached,"
              f" {share:.0%}), {c['tokens_out']} out, {c['findings']} findings, stopped by {c['stopped_by']}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for provider in ("openai", "anthropic"):
            db = str(Path(tmp) / f"{provider}.db")
            _report(f"replayed {provider}", db, _replay(provider, db))
        db = str(Path(tmp) / "offline.db")
        _report("offline", db, _offline(db))


if __name__ == "__main__":
    main()
