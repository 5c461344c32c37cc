"""The rules layer on traces real agent frameworks wrote through their real instrumentation.

`evals/data/frameworks` is the shipped sample of the framework corpus (`python -m
investigator.evals.frameworks --out evals/data/frameworks --variants 1 --gzip`): smolagents
(CodeAgent and ToolCallingAgent, OpenInference), LangGraph (OpenInference), the OpenAI Agents SDK
(its own export, OpenInference and the OTel GenAI instrumentor) and pydantic-ai (its own GenAI
instrumentation), run offline on a scripted model, each fault located by construction at the span
that authored it (and the span where it surfaced). The metrics are pinned to what the rules layer
achieves; the last test runs one framework live, so the generator is exercised too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from quotes import assert_quoted_as_a_reader_finds_it

from investigator.evals.frameworks.generate import generate
from investigator.evaluation import TruthTrace, load_truth, score_issues
from investigator.ingest.pipeline import ingest_paths
from investigator.models import Issue
from investigator.rules import run_rules
from investigator.store import Store

SAMPLE = Path(__file__).resolve().parents[1] / "evals" / "data" / "frameworks"
TOLERANCE = 0.005
# What the rules layer achieves on the sample: (trace, span, category) precision and recall, per
# framework and overall.
PAIRS = {
    "all": (0.9884, 0.9293),
    "langgraph": (1.0, 0.9333),
    "openai-agents": (0.9718, 0.9324),
    "pydantic-ai": (1.0, 0.9667),
    "smolagents-code": (1.0, 0.88),
    "smolagents-toolcalling": (1.0, 0.92),
}
# Per category, on the same real-framework spans, with the detector module that owns it: each
# module of the rules layer is held to what it achieves on output the frameworks wrote.
PER_CATEGORY = {
    "execution.auth_failed": (1.0, 1.0),  # errors.py, failures.py, classify.py (401 payloads, HTML pages)
    "execution.not_found": (1.0, 1.0),  # errors.py, classify.py (404 error pages returned as results)
    "execution.rate_limited": (1.0, 1.0),  # errors.py, classify.py
    "execution.resource_exhausted": (1.0, 0.7143),  # limits.py, classify.py (smolagents' max_steps: no signal)
    "execution.service_error": (1.0, 1.0),  # errors.py, failures.py (exceptions, ToolMessage envelopes)
    "execution.silent_failure": (1.0, 0.5714),  # errors.py (empty results taken as truth)
    "execution.timeout": (1.0, 1.0),  # errors.py, classify.py (TimeoutError read as words)
    "planning.redundant_steps": (1.0, 1.0),  # loops.py
    "reasoning.format_violation": (1.0, 1.0),  # formats.py, authored.py (parse errors, fed-back rejections, code)
    "reasoning.invalid_tool_arguments": (0.9412, 0.8889),  # arguments.py, authored.py, schemas.py
    "reasoning.wrong_tool": (1.0, 1.0),  # authored.py
    "recovery.failed_recovery": (0.875, 0.875),  # loops.py, arguments.py, formats.py
    "recovery.ignored_error": (1.0, 0.8667),  # recovery.py
    "safety.pii_exposure": (1.0, 1.0),  # exposure.py (own records are no exposure)
    "safety.prompt_injection": (1.0, 0.8571),  # injection.py
    "safety.secret_exposure": (1.0, 1.0),  # exposure.py (tool results and answers, answer tools excluded)
}
# Of the faults found at their authoring span whose truth names where they surfaced, the share
# whose issue names that span too.
SURFACED_AGREEMENT = 0.9167
CONTAINER_KINDS = ("agent", "chain", "unknown", "conversation")


@dataclass
class Corpus:
    store: Store
    truth: dict[str, TruthTrace]
    rows: dict[str, dict[str, Any]]
    issues: list[Issue]
    quarantined: int


def analyse(folder: Path, store_path: Path) -> Corpus:
    store = Store(store_path)
    report = ingest_paths(store, [str(folder / "traces")])
    run_rules(store)
    truth = load_truth(folder)
    rows = {r["trace_id"]: r for r in map(json.loads, (folder / "truth.jsonl").read_text().splitlines())}
    return Corpus(store, truth, rows, store.issues(truth), report.quarantined)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return analyse(SAMPLE, tmp_path_factory.mktemp("frameworks") / "store.db")


def of(corpus: Corpus, framework: str) -> tuple[dict[str, TruthTrace], list[Issue]]:
    traces = {t: row for t, row in corpus.truth.items() if framework in ("all", corpus.rows[t]["framework"])}
    return traces, [i for i in corpus.issues if i.trace_id in traces]


def test_every_run_ingests_and_every_span_the_truth_names_is_stored(corpus: Corpus) -> None:
    assert corpus.quarantined == 0
    assert corpus.store.existing_trace_ids(corpus.truth) == set(corpus.truth)
    for trace_id, row in corpus.rows.items():
        for issue in row["issues"]:
            for span_id in filter(None, (issue["span_id"], issue["surfaced_span_id"])):
                assert corpus.store.get_span(trace_id, span_id) is not None, (row["scenario"], issue)


def test_the_sample_covers_every_framework_and_two_fifths_of_its_runs_are_clean_or_recover(corpus: Corpus) -> None:
    frameworks = Counter(row["framework"] for row in corpus.rows.values())
    assert set(frameworks) == {"smolagents-code", "smolagents-toolcalling", "langgraph", "openai-agents", "pydantic-ai"}
    outcomes = Counter(row["outcome"] for row in corpus.rows.values())
    assert (outcomes["clean"] + outcomes["recovered"]) / sum(outcomes.values()) >= 0.4


def test_nothing_is_flagged_on_a_clean_run(corpus: Corpus) -> None:
    clean = {t for t, row in corpus.rows.items() if row["outcome"] == "clean"}
    flagged = [
        (corpus.rows[i.trace_id]["scenario"], i.category, i.evidence) for i in corpus.issues if i.trace_id in clean
    ]
    assert len(clean) > 40 and flagged == []


@pytest.mark.parametrize("framework", sorted(PAIRS))
def test_pair_precision_and_recall_have_not_regressed(corpus: Corpus, framework: str) -> None:
    truth, issues = of(corpus, framework)
    pairs = score_issues(truth, issues, []).pairs
    precision, recall = PAIRS[framework]
    for name, pinned in (("precision", precision), ("recall", recall)):
        if pinned == 1.0:
            assert pairs[name] == 1.0, (framework, name, pairs)
        else:
            assert pairs[name] >= pinned - TOLERANCE, (framework, name, pairs)


@pytest.mark.parametrize("category", sorted(PER_CATEGORY))
def test_each_category_holds_on_real_framework_spans(corpus: Corpus, category: str) -> None:
    metrics = score_issues(corpus.truth, corpus.issues, []).per_category[category]
    for name, pinned in zip(("precision", "recall"), PER_CATEGORY[category], strict=True):
        if pinned == 1.0:
            assert metrics[name] == 1.0, (category, name, metrics)
        else:
            assert metrics[name] >= pinned - TOLERANCE, (category, name, metrics)


def test_no_issue_sits_on_a_container_span_above_the_model_or_tool_step_that_authored_it(corpus: Corpus) -> None:
    misplaced = []
    for trace_id, row in corpus.rows.items():
        spans = {s.span_id: s for s in corpus.store.spans_of([trace_id])[trace_id]}
        for truth_issue in row["issues"]:
            authored = spans[truth_issue["span_id"]]
            if authored.kind in CONTAINER_KINDS:
                continue
            above = set()
            parent = authored.parent_id
            while parent in spans:
                above.add(parent)
                parent = spans[parent].parent_id
            misplaced += [
                (row["scenario"], i.category, spans[i.span_id].name)
                for i in corpus.issues
                if i.trace_id == trace_id and i.span_id in above and i.category == truth_issue["category"]
            ]
    assert misplaced == []


def test_a_failure_the_model_wrote_is_kept_with_the_span_where_it_surfaced(corpus: Corpus) -> None:
    """Where the truth names both places and the rules layer found the fault at the authoring span,
    the issue's second location is where the framework reported it."""
    found = {(i.trace_id, i.span_id, i.category): i for i in corpus.issues}
    pairs = [
        (issue["surfaced_span_id"], found[(t, issue["span_id"], issue["category"])].surfaced_span_id)
        for t, row in corpus.rows.items()
        for issue in row["issues"]
        if issue["surfaced_span_id"] and (t, issue["span_id"], issue["category"]) in found
    ]
    assert len(pairs) >= 20
    agreeing = sum(expected == got for expected, got in pairs)
    assert agreeing / len(pairs) >= SURFACED_AGREEMENT - TOLERANCE


def test_the_generator_runs_a_real_framework_offline_and_locates_its_faults(tmp_path: Path) -> None:
    manifest = generate(tmp_path / "corpus", seed=11, variants=1, frameworks=["pydantic-ai"])
    assert manifest["skipped"] == {} and manifest["runs"] >= 25
    live = analyse(tmp_path / "corpus", tmp_path / "store.db")
    assert live.quarantined == 0 and set(live.truth) == live.store.existing_trace_ids(live.truth)
    clean = {t for t, row in live.rows.items() if row["outcome"] == "clean"}
    assert [i for i in live.issues if i.trace_id in clean] == []
    pairs = score_issues(live.truth, live.issues, []).pairs
    assert pairs["precision"] >= 0.9 and pairs["recall"] >= 0.8, pairs


def test_every_quote_reads_as_the_framework_recorded_it_decoded_from_its_json(corpus: Corpus) -> None:
    """On real frameworks' spans (LangGraph's ToolMessage envelopes, OpenInference's JSON values)."""
    assert corpus.issues
    for issue in corpus.issues:
        assert_quoted_as_a_reader_finds_it(corpus.store.get_span(issue.trace_id, issue.span_id), issue)


def test_a_credential_in_a_tool_result_is_high_and_one_an_answer_shows_is_critical(corpus: Corpus) -> None:
    found = {(corpus.store.get_span(i.trace_id, i.span_id).kind, i.severity)
             for i in corpus.issues if i.category == "safety.secret_exposure"}
    assert found == {("tool", "high"), ("llm", "critical")}
