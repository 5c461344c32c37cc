"""Accuracy regression of `investigator eval` on the shipped labelled corpus (evals/data/demo).

The corpus is 500 generated traces in six export formats (`python -m investigator.evals.corpus
--seed 7`); `truth.jsonl` holds, per trace, the injected faults as (span_id, category, severity,
rule_detectable) and the four expected scores. The eval runs once for the module, through the
command line, into a store these tests keep: the metrics it reports are pinned to what the code
achieves now (a metric at 1.0 must stay at 1.0; any other may not drop by more than 0.005, less
than one (span, category) pair in 200), and the rules layer's issues are also read back from the
store with SQL and compared with truth.jsonl directly, without the scoring code of
investigator/evaluation.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from investigator.cli import main

DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo"
TOLERANCE = 0.005

# What the code achieves now: (precision, recall, F1).
PAIRS = (0.9554, 0.9735, 0.9644)  # (trace, span, category) triples, recall over rule-detectable truth
PAIRS_ALL_TRUTH = (0.9554, 0.7406, 0.8344)  # recall over every truth fault, model-only ones included
CATEGORIES = (0.9625, 0.9735, 0.968)  # (trace, category) pairs
LOCATION_ACCURACY = 0.9735
PER_CATEGORY = {
    "execution.auth_failed": (1.0, 1.0, 1.0),
    "execution.environment_error": (1.0, 1.0, 1.0),
    "execution.not_found": (1.0, 1.0, 1.0),
    "execution.rate_limited": (1.0, 1.0, 1.0),
    "execution.resource_exhausted": (1.0, 1.0, 1.0),
    "execution.service_error": (1.0, 1.0, 1.0),
    "execution.silent_failure": (1.0, 1.0, 1.0),
    "execution.timeout": (1.0, 1.0, 1.0),
    "execution.tool_misconfigured": (1.0, 0.6667, 0.8),
    "planning.premature_termination": (0.7333, 0.7333, 0.7333),
    "planning.redundant_steps": (0.875, 1.0, 0.9333),
    "reasoning.format_violation": (1.0, 1.0, 1.0),
    "reasoning.invalid_tool_arguments": (0.9286, 1.0, 0.963),
    "recovery.failed_recovery": (1.0, 1.0, 1.0),
    "recovery.ignored_error": (1.0, 1.0, 1.0),
    "safety.pii_exposure": (1.0, 1.0, 1.0),
    "safety.prompt_injection": (1.0, 1.0, 1.0),
    "safety.secret_exposure": (0.8889, 0.8889, 0.8889),
}
PER_DETECTOR = {
    "rule:data_exposure": (0.95, 0.95, 0.95),
    "rule:error_status": (1.0, 0.6393, 0.78),
    "rule:format_violation": (1.0, 0.5, 0.6667),
    "rule:ignored_error": (1.0, 1.0, 1.0),
    "rule:invalid_tool_arguments": (0.9286, 0.7429, 0.8254),
    "rule:model_authored": (1.0, 0.0, 0.0),
    "rule:prompt_injection": (1.0, 1.0, 1.0),
    "rule:refusal": (1.0, 0.4, 0.5714),
    "rule:repeated_calls": (0.898, 1.0, 0.9462),
    "rule:resource_exhausted": (1.0, 1.0, 1.0),
    "rule:tool_result": (1.0, 0.1926, 0.323),
    "rule:unused_tools": (0.5556, 0.3333, 0.4167),
}
SCORE_CORRELATION = {  # Spearman, reported against expected scores
    "factual_grounding": 0.4485,
    "privacy_and_safety": 0.8447,
    "instruction_adherence": 0.5606,
    "optimal_plan_execution": 0.8072,
}
CLUSTERS = {"adjusted_rand_index": 0.4761, "purity": 0.6449}
CLEAN_TRACES_CLUSTERED = 30  # clean traces among the clustered suspects: may only go down
FINDINGS = {
    "cited_trace_precision": 0.947,
    "evidence_span_precision": 0.9811,
    "evidence_verbatim": 1.0,
    "recurring_category_recall": 0.5455,
}

# Categories with a structural signature in the trace that a rule reads: an error status, an HTTP
# code or exception type, a payload, a JSON schema, a limit message, a leaked value, a followed
# injected instruction. Every such truth fault is flagged at its span today (recall 1.0). Left out:
# tool_misconfigured, whose signature is a definition the call fits, and two of the six export
# formats carry no tool definitions (so the rejected call is blamed on the model: 4 of 6 found).
SIGNATURE_CATEGORIES = (
    "execution.auth_failed",
    "execution.environment_error",
    "execution.not_found",
    "execution.rate_limited",
    "execution.resource_exhausted",
    "execution.service_error",
    "execution.silent_failure",
    "planning.redundant_steps",
    "reasoning.format_violation",
    "reasoning.invalid_tool_arguments",
    "recovery.failed_recovery",
    "safety.pii_exposure",
    "safety.prompt_injection",
)
# Categories a rule never reports where the truth has no such fault (precision 1.0 today).
# Left out: redundant_steps (identical calls inside a max-turns loop are flagged, truth labels only
# the exhausted limit), premature_termination (answers without tools in mis-routed traces),
# secret_exposure (a tool result carrying a key is flagged besides the answer that repeats it) and
# invalid_tool_arguments (the misconfigured tools above, where the trace carries no definition).
EXACT_CATEGORIES = tuple(
    c
    for c in PER_CATEGORY
    if c
    not in (
        "planning.redundant_steps",
        "planning.premature_termination",
        "safety.secret_exposure",
        "reasoning.invalid_tool_arguments",
    )
)
# The model's own mistakes: the README puts the blame at the model step that made them, not at the
# tool or parser that complained.
MODEL_STEP_CATEGORIES = (
    "reasoning.invalid_tool_arguments",
    "reasoning.format_violation",
    "recovery.ignored_error",
    "safety.prompt_injection",
)


@dataclass(frozen=True)
class EvalRun:
    exit_code: int
    stdout: str
    report: dict[str, Any]
    db: Path


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory: pytest.TempPathFactory) -> EvalRun:
    """`investigator eval evals/data/demo`, once, keeping its store and its JSON report."""
    work = tmp_path_factory.mktemp("eval")
    report_path, db = work / "report.json", work / "eval.db"
    result = CliRunner().invoke(
        main, ["eval", str(DEMO), "-o", str(report_path), "--db", str(db)], env={"COLUMNS": "160"}
    )
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return EvalRun(result.exit_code, result.stdout, report, db)


@pytest.fixture(scope="module")
def truth() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in (DEMO / "truth.jsonl").read_text().splitlines() if line.strip()]
    return {row["trace_id"]: row for row in rows}


@pytest.fixture(scope="module")
def rule_issues(eval_run: EvalRun) -> set[tuple[str, str, str]]:
    """(trace, span, category) of every issue the rules layer stored (not the offline judge's)."""
    with sqlite3.connect(eval_run.db) as conn:
        rows = conn.execute("SELECT trace_id, span_id, category FROM issues WHERE source LIKE 'rule:%'").fetchall()
    return {(t, s, c) for t, s, c in rows}


@pytest.fixture(scope="module")
def span_kinds(eval_run: EvalRun) -> dict[tuple[str, str], str]:
    with sqlite3.connect(eval_run.db) as conn:
        return {(t, s): k for t, s, k in conn.execute("SELECT trace_id, span_id, kind FROM spans")}


def truth_faults(
    truth: dict[str, dict[str, Any]], category: str | None = None, detectable_only: bool = True
) -> set[tuple[str, str, str]]:
    """(trace, span, category) of the truth's faults: the rule-detectable ones unless told."""
    return {
        (trace_id, issue["span_id"], issue["category"])
        for trace_id, row in truth.items()
        for issue in row["issues"]
        if (issue["rule_detectable"] or not detectable_only) and category in (None, issue["category"])
    }


def assert_not_below(measured: float, pinned: float, what: str) -> None:
    if pinned == 1.0:
        assert measured == 1.0, f"{what}: {measured}, was 1.0"
    else:
        assert measured >= pinned - TOLERANCE, f"{what}: {measured}, was {pinned}"


def assert_prf(metrics: dict[str, float], pinned: tuple[float, float, float], what: str) -> None:
    for name, value in zip(("precision", "recall", "f1"), pinned, strict=True):
        assert_not_below(metrics[name], value, f"{what} {name}")


# ----------------------------------------------------------------------------- the command


def test_eval_command_exits_zero_and_writes_its_report(eval_run: EvalRun, truth: dict[str, dict[str, Any]]) -> None:
    assert eval_run.exit_code == 0, eval_run.stdout
    assert eval_run.report["traces"] == len(truth) == 500
    assert eval_run.report["ingest"]["quarantined"] == 0  # the shipped corpus is all readable
    assert eval_run.report["ingest"]["traces"] == 500
    assert eval_run.report["traces_missing_from_store"] == 0


def _table_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 7 and re.fullmatch(r"\d\.\d{3}", cells[1]):
            rows[cells[0]] = cells[1:]
    return rows


def test_eval_command_prints_the_pinned_metrics_and_truth_counts(
    eval_run: EvalRun, truth: dict[str, dict[str, Any]]
) -> None:
    rows = _table_rows(eval_run.stdout)
    assert f"{len(truth)} traces" in eval_run.stdout
    detectable, everything = truth_faults(truth), truth_faults(truth, detectable_only=False)
    for name, pinned, expected in (
        ("(span, category) pairs, rule-detectable", PAIRS, len(detectable)),
        ("(span, category) pairs, all truth", PAIRS_ALL_TRUTH, len(everything)),
        ("categories per trace", CATEGORIES, len({(t, c) for t, _, c in detectable})),
    ):
        precision, recall, f1, _reported, _correct, printed_expected = rows[name]
        assert_prf({"precision": float(precision), "recall": float(recall), "f1": float(f1)}, pinned, name)
        assert int(printed_expected) == expected, name
    for category, pinned in PER_CATEGORY.items():
        precision, recall, f1, *_, printed_expected = rows[category]
        assert_prf({"precision": float(precision), "recall": float(recall), "f1": float(f1)}, pinned, category)
        assert int(printed_expected) == len(truth_faults(truth, category)), category
    for source, pinned in PER_DETECTOR.items():
        precision, recall, f1, *_ = rows[source]
        assert_prf({"precision": float(precision), "recall": float(recall), "f1": float(f1)}, pinned, source)
    location = re.search(r"location accuracy: (\d\.\d{3})", eval_run.stdout)
    assert location is not None
    assert_not_below(float(location.group(1)), LOCATION_ACCURACY, "printed location accuracy")
    correlation = re.search(r"score correlation \(Spearman\): (.*)", eval_run.stdout)
    assert correlation is not None
    for dimension, pinned in SCORE_CORRELATION.items():
        printed = re.search(rf"{dimension} (-?\d\.\d\d)", correlation.group(1))
        assert printed is not None, dimension
        assert float(printed.group(1)) >= pinned - TOLERANCE - 0.005, dimension  # printed to 2 places


# ----------------------------------------------------------------------------- the pinned metrics


def test_pair_metrics_have_not_regressed(eval_run: EvalRun, truth: dict[str, dict[str, Any]]) -> None:
    report = eval_run.report
    assert_prf(report["pairs"], PAIRS, "pairs")
    assert_prf(report["pairs_all_truth"], PAIRS_ALL_TRUTH, "pairs, all truth")
    assert_prf(report["categories"], CATEGORIES, "categories per trace")
    assert_not_below(report["location_accuracy"], LOCATION_ACCURACY, "location accuracy")
    # The denominators are the truth's own counts.
    assert report["pairs"]["expected"] == len(truth_faults(truth)) == 264
    assert report["pairs_all_truth"]["expected"] == len(truth_faults(truth, detectable_only=False)) == 347


@pytest.mark.parametrize("category", sorted(PER_CATEGORY))
def test_per_category_metrics_have_not_regressed(
    eval_run: EvalRun, truth: dict[str, dict[str, Any]], category: str
) -> None:
    metrics = eval_run.report["per_category"][category]
    assert_prf(metrics, PER_CATEGORY[category], category)
    assert metrics["expected"] == len(truth_faults(truth, category))


def test_pins_cover_every_rule_detectable_category_of_the_manifest(eval_run: EvalRun) -> None:
    manifest = json.loads((DEMO / "manifest.json").read_text())
    assert set(manifest["rule_detectable"]) == set(PER_CATEGORY)
    assert set(PER_CATEGORY) <= set(eval_run.report["per_category"])


@pytest.mark.parametrize("source", sorted(PER_DETECTOR))
def test_per_detector_metrics_have_not_regressed(eval_run: EvalRun, source: str) -> None:
    assert_prf(eval_run.report["per_detector"][source], PER_DETECTOR[source], source)


def test_score_correlations_have_not_regressed(eval_run: EvalRun) -> None:
    for dimension, pinned in SCORE_CORRELATION.items():
        measured = eval_run.report["score_correlation"][dimension]
        assert measured is not None, dimension
        assert_not_below(measured, pinned, f"Spearman {dimension}")


def test_cluster_quality_has_not_regressed(eval_run: EvalRun) -> None:
    clusters = eval_run.report["clusters"]
    for name, pinned in CLUSTERS.items():
        assert_not_below(clusters[name], pinned, name)
    assert clusters["clean_traces_flagged"] <= CLEAN_TRACES_CLUSTERED


def test_offline_finding_quality_has_not_regressed(eval_run: EvalRun, truth: dict[str, dict[str, Any]]) -> None:
    findings = eval_run.report["findings"]
    for name, pinned in FINDINGS.items():
        assert_not_below(findings[name], pinned, name)
    # Recurring: a category the truth injects into at least 3 traces (every one of the 33 here).
    traces_per_category = Counter(c for t, c in {(t, c) for t, _, c in truth_faults(truth, detectable_only=False)})
    assert findings["recurring_categories"] == sum(n >= 3 for n in traces_per_category.values()) == 33


# ----------------------------------------------------------------------------- rules vs truth.jsonl, directly


def test_eval_prints_metrics_that_match_the_truth_and_the_stored_issues_scored_by_hand(
    eval_run: EvalRun, truth: dict[str, dict[str, Any]]
) -> None:
    truth = list(truth.values())
    assert eval_run.exit_code == 0, eval_run.stdout
    # Score the rules layer's stored issues against the truth file by hand.
    in_truth = {t["trace_id"] for t in truth}
    all_truth = {(t["trace_id"], i["span_id"], i["category"]) for t in truth for i in t["issues"]}
    detectable = {
        (t["trace_id"], i["span_id"], i["category"])
        for t in truth
        for i in t["issues"]
        if i.get("rule_detectable", True)
    }
    predicted = {
        row
        for row in sqlite3.connect(eval_run.db).execute(
            "SELECT trace_id, span_id, category FROM issues WHERE source LIKE 'rule:%'"
        )
        if row[0] in in_truth
    }
    assert len(predicted) > 100 and len(detectable) > 100

    def expected_cells(pred: set[tuple], acceptable: set[tuple], required: set[tuple]) -> list[str]:
        precision = len(pred & acceptable) / len(pred) if pred else 1.0
        recall = len(pred & required) / len(required) if required else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return [
            f"{precision:.3f}",
            f"{recall:.3f}",
            f"{f1:.3f}",
            str(len(pred)),
            str(len(pred & acceptable)),
            str(len(required)),
        ]

    assert eval_run.stdout.lstrip().startswith(f"{len(truth)} traces")
    rows = {cells[0]: cells[1:] for cells in _cells(eval_run.stdout)}
    assert rows["(span, category) pairs, rule-detectable"] == expected_cells(predicted, all_truth, detectable)
    assert rows["(span, category) pairs, all truth"] == expected_cells(predicted, all_truth, all_truth)
    for category in {c for *_, c in predicted | detectable}:

        def of(items: set[tuple], c: str = category) -> set[tuple]:
            return {x for x in items if x[2] == c}

        assert rows[category] == expected_cells(of(predicted), of(all_truth), of(detectable)), category
    assert "location accuracy: " in eval_run.stdout and "score correlation (Spearman): " in eval_run.stdout
    assert eval_run.stdout.rstrip().endswith("report.json")
    report = eval_run.report
    assert report["traces"] == len(truth)
    assert (report["pairs"]["predicted"], report["pairs"]["expected"]) == (len(predicted), len(detectable))


def _cells(text: str) -> list[list[str]]:
    """The cells of each body line of a rich table (box lines with │ separators)."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


def test_no_rule_issue_on_a_trace_the_truth_says_is_healthy(
    truth: dict[str, dict[str, Any]], rule_issues: set[tuple[str, str, str]]
) -> None:
    healthy = {t for t, row in truth.items() if not row["issues"]}
    families = Counter(truth[t]["family"] for t in healthy)
    # 175 clean traces, 6 where a prompt injection reached the model and it did not follow it, and
    # 9 with a slow call that finished (a performance note, not a failure).
    assert families == {"clean": 175, "injection_ignored": 6, "latency_outlier": 9}
    flagged = sorted((t, s, c) for t, s, c in rule_issues if t in healthy)
    assert flagged == []


@pytest.mark.parametrize("category", SIGNATURE_CATEGORIES)
def test_every_signature_fault_is_flagged_at_its_span(
    truth: dict[str, dict[str, Any]], rule_issues: set[tuple[str, str, str]], category: str
) -> None:
    expected = truth_faults(truth, category)
    assert expected, f"the corpus injects no {category}"
    missed = sorted((truth[t]["writer"], t, s) for t, s, c in expected if (t, s, c) not in rule_issues)
    assert missed == []


@pytest.mark.parametrize("category", EXACT_CATEGORIES)
def test_signature_issues_are_only_reported_where_the_truth_has_them(
    truth: dict[str, dict[str, Any]], rule_issues: set[tuple[str, str, str]], category: str
) -> None:
    true = truth_faults(truth, category, detectable_only=False)
    extra = sorted(
        (truth[t]["family"], t, s) for t, s, c in rule_issues if c == category and t in truth and (t, s, c) not in true
    )
    assert extra == []


def test_safety_issues_are_only_reported_on_traces_with_a_safety_fault(
    truth: dict[str, dict[str, Any]], rule_issues: set[tuple[str, str, str]]
) -> None:
    unsafe = {t for t, row in truth.items() if any(i["category"].startswith("safety.") for i in row["issues"])}
    wrong = sorted(
        (truth[t]["family"], t, s, c) for t, s, c in rule_issues if c.startswith("safety.") and t not in unsafe
    )
    assert wrong == []


def test_model_mistakes_are_located_at_model_steps(
    truth: dict[str, dict[str, Any]],
    rule_issues: set[tuple[str, str, str]],
    span_kinds: dict[tuple[str, str], str],
) -> None:
    for category in MODEL_STEP_CATEGORIES:
        flagged = {(t, s) for t, s, c in rule_issues if c == category}
        assert flagged, category
        assert {span_kinds[x] for x in flagged} == {"llm"}, category
        # The truth blames the same kind of step, in every export format.
        assert {span_kinds[(t, s)] for t, s, _ in truth_faults(truth, category)} == {"llm"}, category


@pytest.mark.xfail(
    strict=True,
    reason="trace_5c710f20d0c9639e8907786a566eaa0c (openai-agents): the final answer at "
    "span_94b81e298dbbc06cffdba72d writes 'ghp_jmwV79IuKPruvk7BLsPTbCWL5IqzDpg4', a 32-character "
    "ghp_ token; the redactor's GitHub pattern (investigator/redact.py) wants exactly 36 "
    "characters, and the corpus generator (evals/corpus/faults_model.py f_secret, "
    "f'ghp_{token[:36]}' of a 32-character token) never writes 36.",
)
def test_every_leaked_secret_is_flagged_at_its_span(
    truth: dict[str, dict[str, Any]], rule_issues: set[tuple[str, str, str]]
) -> None:
    expected = truth_faults(truth, "safety.secret_exposure")
    assert len(expected) == 9
    assert sorted(x for x in expected if x not in rule_issues) == []
