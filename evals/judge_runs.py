"""Recorded judge runs: whole `investigator run`s over the demo corpus with a model reached over
HTTP, kept as vcrpy cassettes in evals/data/cassettes/ and replayed by the tests and by
bench_judge with no key and no network.

They were recorded by tests/record_cassettes.py against a local fake server that speaks each
provider's wire format, not against a real provider: the server's replies come from the offline
investigator's policy, and its token counts are estimates (about four characters per token). What
the recordings measure is the product's side of the exchange: the requests it builds, how it
marks the stable prefix for caching, and what it reads back.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

CASSETTES = Path(str(files("investigator.evals").joinpath("data", "cassettes")))
DEMO = Path(str(files("investigator.evals").joinpath("data", "demo")))
CLUSTERS = 10
MODELS = {"openai": "openai/gpt-4o-mini", "anthropic": "anthropic/claude-sonnet-4-6"}


def cassette_dir(provider: str) -> Path:
    return CASSETTES / f"judge_run_{provider}"


def judge_run_args(db: str, mode: str, provider: str = "openai") -> list[str]:
    """The `investigator run` arguments whose model traffic the cassette of `provider` holds."""
    return ["run", "--db", db, str(DEMO / "traces"), "--labels", str(DEMO / "labels.jsonl"),
            "--model", MODELS[provider], "--max-clusters", str(CLUSTERS), "--format", "json",
            f"--{mode}", str(cassette_dir(provider))]
