"""The rules layer over the store: incremental, parallel-safe, and every citation real."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from quotes import assert_quoted_as_a_reader_finds_it

from investigator.cli import main
from investigator.ingest.pipeline import ingest_paths
from investigator.rules import run_rules
from investigator.store import Store

DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo" / "traces"


@pytest.fixture()
def demo_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "demo.db")
    ingest_paths(store, [str(DEMO / "otlp_openinference.jsonl"), str(DEMO / "openai_agents_export.jsonl")])
    return store


def test_every_stored_issue_cites_a_real_span_and_a_verbatim_quote(demo_store: Store) -> None:
    report = run_rules(demo_store)
    issues = demo_store.issues()
    assert report.issues == len(issues) > 20
    for issue in issues:
        span = demo_store.get_span(issue.trace_id, issue.span_id)
        assert span is not None
        assert_quoted_as_a_reader_finds_it(span, issue)


def test_detect_is_incremental_and_reanalyses_changed_traces(demo_store: Store, tmp_path: Path) -> None:
    first = run_rules(demo_store)
    again = run_rules(demo_store)
    assert first.analysed > 0 and again.analysed == 0 and again.skipped == first.analysed
    trace_id = demo_store.issues()[0].trace_id
    span = demo_store.spans(trace_id)[-1]
    demo_store.write_batch([{**span.model_dump(exclude={"orphan", "cycle_broken"}), "status_message": "late detail"}])
    demo_store.forget_analysis([trace_id])
    assert run_rules(demo_store).analysed == 1


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_give_the_same_analysis(
    demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    import multiprocessing

    import investigator.rules as rules

    copy = tmp_path / "copy.db"
    demo_store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(demo_store.path, copy)
    monkeypatch.setattr(rules, "PARALLEL_MIN_TRACES", 10**9)
    run_rules(demo_store)  # in this process
    monkeypatch.setattr(rules, "PARALLEL_MIN_TRACES", 1)
    monkeypatch.setattr(rules, "CHUNK_TRACES", 40)
    monkeypatch.setattr(rules, "_workers", lambda: 2)
    monkeypatch.setattr(rules, "_context", lambda: multiprocessing.get_context(start_method))
    parallel = Store(copy)
    run_rules(parallel)
    assert parallel.issues() == demo_store.issues()
    assert list(parallel.scores()) == list(demo_store.scores())


def test_analysis_leaves_no_reference_cycles(demo_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers collect garbage only between chunks: sound while everything analysis allocates is
    freed by reference counting, so a chunk's garbage never waits for the collector."""
    import gc

    import investigator.rules as rules

    monkeypatch.setattr(rules, "PARALLEL_MIN_TRACES", 10**9)  # analysed in this process, where gc can see it
    run_rules(demo_store)  # the first run fills caches and compiles patterns, which are kept
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector frees is kept in gc.garbage to look at
    try:
        report = run_rules(demo_store, force=True)
        assert report.analysed > 100 and report.issues > 20
        gc.collect()
        # Only what analysis made counts: the test runner and libraries may leave cycles of their own.
        ours = [o for o in gc.garbage if _made_by_the_investigator(o)]
        assert ours == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _made_by_the_investigator(obj: object) -> bool:
    import investigator

    package = str(Path(investigator.__file__).parent)
    code = getattr(obj, "f_code", None) or getattr(obj, "__code__", None) or getattr(obj, "gi_code", None)
    if code is not None:
        return code.co_filename.startswith(package)
    return type(obj).__module__.startswith("investigator")


def test_detect_and_export_commands(demo_store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["detect", "--json", "--db", demo_store.path])
    assert result.exit_code == 0, result.output
    assert '"analysed"' in result.output
    out = tmp_path / "scores.jsonl"
    result = runner.invoke(main, ["export", "scores", "-o", str(out), "--db", demo_store.path])
    assert result.exit_code == 0
    import json

    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == demo_store.counts()["traces"]
    assert all(
        1 <= rows[0][d] <= 5
        for d in ("factual_grounding", "privacy_and_safety", "instruction_adherence", "optimal_plan_execution")
    )


def test_workers_are_forked_only_from_a_single_threaded_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import investigator.rules as rules

    monkeypatch.setattr(rules.threading, "active_count", lambda: 1)
    assert rules._context().get_start_method() == "fork"
    monkeypatch.setattr(rules.threading, "active_count", lambda: 2)
    assert rules._context().get_start_method() == "spawn"
