"""Release diff ranks the failure that changed between two versions first."""

from __future__ import annotations

from pathlib import Path

from investigator.diff import diff_cohorts
from investigator.ingest.base import span_row
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Issue, TraceScores
from investigator.rules import run_rules
from investigator.store import Store

DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo" / "traces"


def test_corpus_release_drift_ranks_first_for_its_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "d.db")
    ingest_paths(store, [str(DEMO)])
    run_rules(store)
    result = diff_cohorts(store, "agent_version", "v1.8", "v1.9")
    top = result.categories[0]
    assert top.category == "reasoning.invalid_tool_arguments"
    assert top.rate_b > top.rate_a and top.p_value < 0.05


def test_rates_counts_and_significance(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    rows, issues = [], []
    for i in range(40):
        version = "v1" if i < 20 else "v2"
        rows.append(
            span_row(
                f"t{i}",
                "s",
                kind="tool",
                name="refund",
                output="HTTP 500 error",
                start_time="2025-01-01T00:00:00Z",
                hints={"agent_version": version},
            )
        )
        if version == "v2" and i % 2 == 0 or i == 3:
            issues.append(
                Issue(
                    trace_id=f"t{i}",
                    span_id="s",
                    category="execution.service_error",
                    severity="high",
                    confidence=0.9,
                    evidence="HTTP 500",
                    description="d",
                    source="rule:x",
                )
            )
    store.write_batch(rows)
    store.refresh_traces([f"t{i}" for i in range(40)])
    ok = {"score": 5, "reason": "fine"}
    store.save_analysis(
        [
            (
                f"t{i}",
                [x for x in issues if x.trace_id == f"t{i}"],
                TraceScores(
                    trace_id=f"t{i}",
                    source="rules",
                    factual_grounding=ok,
                    privacy_and_safety=ok,
                    instruction_adherence=ok,
                    optimal_plan_execution=ok,
                ),
                "doc",
            )
            for i in range(40)
        ],
        "v",
    )
    result = diff_cohorts(store, "agent_version", "v1", "v2")
    row = result.categories[0]
    assert (result.traces_a, result.traces_b) == (20, 20)
    assert (row.count_a, row.count_b, row.rate_a, row.rate_b) == (1, 10, 0.05, 0.5)
    assert row.p_value < 0.01
