"""A whole `investigator run` with a model reached over HTTP, replayed from the judge_run cassette
(recorded by tests/record_cassettes.py against the local fake server): no key, no network, the same
bytes every time, and a clear failure for a request that was never recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from click.testing import CliRunner

from investigator.cli import main as cli
from investigator.evidence import quote_in_span
from investigator.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from record_cassettes import JUDGE_RUN_MODEL, judge_run_args  # noqa: E402


def _replay(db: Path, extra: list[str] | None = None):
    return CliRunner().invoke(cli, judge_run_args(str(db), "replay") + (extra or []))


def test_a_replayed_run_gives_the_same_report_with_every_citation_in_the_store(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    first, second = _replay(tmp_path / "a.db"), _replay(tmp_path / "b.db")

    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    report = orjson.loads(first.stdout)
    assert report["findings"]
    with Store(tmp_path / "a.db") as store:
        for finding in report["findings"]:
            assert finding["source"] == f"llm:{JUDGE_RUN_MODEL}"
            for evidence in finding["evidence"]:
                span = store.get_span(evidence["trace_id"], evidence["span_id"])
                assert span is not None and quote_in_span(span, evidence["quote"])
        calls = store.conn.execute("SELECT model, tokens_in, error FROM llm_calls").fetchall()
    assert calls and all(model == JUDGE_RUN_MODEL and tokens > 0 and error is None for model, tokens, error in calls)


def test_a_request_missing_from_the_cassettes_fails_the_run_clearly(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = _replay(tmp_path / "c.db", ["--max-turns", "29"])  # a different system prompt

    assert result.exit_code == 2
    assert "request not in cassettes" in result.output and "judge_run" in result.output
