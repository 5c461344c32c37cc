"""Run every framework's scenarios and write the labelled dataset `investigator eval` reads:
`traces/<sink>.jsonl` (one trace document per line, as the framework's exporter wrote it),
`truth.jsonl` (per trace: the planted faults and where they sit) and `manifest.json`."""

from __future__ import annotations

import gzip
import importlib
import random
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from .model_server import ScriptedModel
from .record import RecordedRun

# Framework name → module in this package with `record(server, rng, variants) -> list[RecordedRun]`.
FRAMEWORKS = {
    "smolagents": "smolagents_runs",
    "langgraph": "langgraph_runs",
    "openai-agents": "agents_sdk_runs",
    "pydantic-ai": "pydantic_ai_runs",
}


def record_framework(name: str, server: ScriptedModel, rng: random.Random, variants: int) -> list[RecordedRun]:
    module = importlib.import_module(f"{__package__}.{FRAMEWORKS[name]}")
    return module.record(server, rng, variants)


def generate(
    out: str | Path,
    seed: int = 7,
    variants: int = 2,
    frameworks: Iterable[str] | None = None,
    compress: bool = False,
) -> dict[str, Any]:
    """Record every framework's runs and write the dataset; `compress` gzips the trace files."""
    out = Path(out)
    runs: list[RecordedRun] = []
    skipped: dict[str, str] = {}
    with ScriptedModel() as server:
        for name in frameworks or FRAMEWORKS:
            try:
                runs.extend(record_framework(name, server, random.Random(f"{seed}:{name}"), variants))
            except ImportError as exc:
                skipped[name] = f"not installed ({exc.name or exc}); pip install 'trace-investigator[frameworks]'"
    write_dataset(out, runs, compress)
    manifest = {
        "seed": seed,
        "variants": variants,
        "runs": len(runs),
        "frameworks": dict(Counter(r.framework for r in runs)),
        "outcomes": dict(Counter(r.outcome for r in runs)),
        "scenarios": dict(Counter(f"{r.framework}:{r.scenario}" for r in runs)),
        "skipped": skipped,
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return manifest


def write_dataset(out: Path, runs: list[RecordedRun], compress: bool = False) -> None:
    traces = out / "traces"
    traces.mkdir(parents=True, exist_ok=True)
    for old in [*traces.glob("*.jsonl"), *traces.glob("*.jsonl.gz")]:
        old.unlink()
    sinks: dict[str, list[bytes]] = {}
    for run in runs:
        sinks.setdefault(run.sink, []).append(orjson.dumps(run.document))
    for sink, lines in sinks.items():
        body = b"\n".join(lines) + b"\n"
        if compress:  # mtime 0: the same runs give the same bytes
            (traces / f"{sink}.jsonl.gz").write_bytes(gzip.compress(body, mtime=0))
        else:
            (traces / f"{sink}.jsonl").write_bytes(body)
    (out / "truth.jsonl").write_bytes(b"".join(orjson.dumps(r.truth_row()) + b"\n" for r in runs))
