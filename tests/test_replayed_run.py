"""Whole `investigator run`s with a model reached over HTTP (litellm for OpenAI, the Anthropic SDK),
replayed from the judge-run cassettes (recorded by tests/record_cassettes.py against the local
fake server): no key, no network, the same bytes every time, prompt-cache reads counted, and a
clear failure for a request that was never recorded."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from investigator.cli import main as cli
from investigator.evals.judge_runs import MODELS, cassette_dir, judge_run_args
from investigator.reports.masked import ReportMasking
from investigator.store import Store


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def _replay(db: Path, provider: str, extra: list[str] | None = None):
    return CliRunner().invoke(cli, judge_run_args(str(db), "replay", provider) + (extra or []))


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_replayed_run_gives_the_same_report_with_every_citation_in_the_store(tmp_path, provider):
    first, second = _replay(tmp_path / "a.db", provider), _replay(tmp_path / "b.db", provider)

    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    report = orjson.loads(first.stdout)
    assert report["findings"]
    with Store(tmp_path / "a.db") as store:
        masked = ReportMasking(store)  # a fresh one: placeholders depend on the trace alone
        for finding in report["findings"]:
            assert finding["source"] == f"llm:{MODELS[provider]}"
            for evidence in finding["evidence"]:
                span = store.get_span(evidence["trace_id"], evidence["span_id"])
                assert span is not None and masked.quote_in_span(span, evidence["quote"])
        calls = store.conn.execute(
            "SELECT model, tokens_in, cached_tokens, error, cluster_id FROM llm_calls ORDER BY id"
        ).fetchall()
    assert calls and all(m == MODELS[provider] and tokens > 0 and e is None for m, tokens, _, e, _ in calls)
    assert len({c[-1] for c in calls}) == len(report["run"]["stopped_by"]) >= 5  # every investigated cluster
    if provider == "anthropic":  # the first call writes the shared prefix; every later one reads from the cache
        cached = [c[2] for c in calls]
        assert cached[0] == 0 and all(c > 1024 for c in cached[1:])


def test_a_request_missing_from_the_cassettes_fails_the_run_clearly(tmp_path):
    result = _replay(tmp_path / "c.db", "openai", ["--max-turns", "29"])  # a different system prompt

    assert result.exit_code == 2
    assert f"request not in cassettes {cassette_dir('openai')}: POST " in result.output  # the path whole, unwrapped
