"""The labelled corpus generator: deterministic, every format, every fault family, ground truth
that points at spans which really exist, and a held-out variant that shares no names."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from checkout import python_here

from investigator.evals.corpus import generate
from investigator.evals.corpus.families import FAMILIES
from investigator.evals.corpus.vocab import DEFAULT, RENAMED

DEMO = Path(__file__).resolve().parent.parent / "evals" / "data" / "demo"
TAXONOMY_CODES = {
    "reasoning": [
        "hallucinated_content",
        "fabricated_tool_result",
        "misread_tool_output",
        "poor_retrieval",
        "wrong_problem",
        "wrong_tool",
        "invalid_tool_arguments",
        "format_violation",
        "instruction_violation",
    ],
    "execution": [
        "tool_misconfigured",
        "environment_error",
        "rate_limited",
        "auth_failed",
        "service_error",
        "not_found",
        "timeout",
        "resource_exhausted",
        "silent_failure",
    ],
    "planning": [
        "context_loss",
        "redundant_steps",
        "goal_drift",
        "orchestration_error",
        "premature_termination",
        "missing_verification",
        "escalation_error",
    ],
    "safety": ["pii_exposure", "secret_exposure", "prompt_injection", "unsafe_action", "policy_violation"],
    "recovery": ["ignored_error", "failed_recovery", "no_self_correction"],
}


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in read_bytes(path).splitlines() if line.strip()]


def span_ids_by_trace(dataset: Path) -> dict[str, set[str]]:
    """Span IDs per trace, read straight from the written files in each format's own shape."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((dataset / "traces").iterdir()):
        for record in read_jsonl(path):
            if "resourceSpans" in record:
                for rs in record["resourceSpans"]:
                    for ss in rs["scopeSpans"]:
                        for span in ss["spans"]:
                            found[span["traceId"]].add(span["spanId"])
            elif record.get("object") == "trace.span" or "run_type" in record:
                found[record["trace_id"]].add(record["id"])
            elif "observations" in record:
                for obs in record["observations"]:
                    found[obs["traceId"]].add(obs["id"])
            elif "context" in record:
                found[record["context"]["trace_id"]].add(record["context"]["span_id"])
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    generate(seed=11, traces=240, out=out)
    return out


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("renamed")
    generate(seed=11, traces=240, out=out, variant="renamed")
    return out


def test_same_seed_writes_identical_bytes_in_another_interpreter(tmp_path: Path) -> None:
    """The second corpus comes from a new interpreter with other string hashing, so output that
    leans on set order differs."""
    generate(seed=3, traces=48, out=tmp_path / "a")
    code = (
        "from pathlib import Path; from investigator.evals.corpus import generate; "
        f"generate(seed=3, traces=48, out=Path({str(tmp_path / 'b')!r}))"
    )
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    subprocess.run(python_here(code), check=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=300)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 9
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_different_seeds_write_different_traces(tmp_path: Path) -> None:
    generate(seed=3, traces=24, out=tmp_path / "a")
    generate(seed=4, traces=24, out=tmp_path / "b")
    ids_a = {row["trace_id"] for row in read_jsonl(tmp_path / "a" / "truth.jsonl")}
    ids_b = {row["trace_id"] for row in read_jsonl(tmp_path / "b" / "truth.jsonl")}
    assert not ids_a & ids_b


def test_every_truth_span_id_exists_in_the_written_trace(corpus: Path) -> None:
    spans = span_ids_by_trace(corpus)
    truth = read_jsonl(corpus / "truth.jsonl")
    assert len(truth) == 240 and set(spans) == {row["trace_id"] for row in truth}
    located = 0
    for row in truth:
        for issue in row["issues"]:
            assert issue["span_id"] in spans[row["trace_id"]], (row["family"], issue)
            located += 1
    assert located > 150


def test_every_output_format_gets_a_fair_share(corpus: Path) -> None:
    truth = read_jsonl(corpus / "truth.jsonl")
    writers: dict[str, int] = defaultdict(int)
    for row in truth:
        writers[row["writer"]] += 1
    assert set(writers) == {
        "otlp-openinference",
        "otlp-genai",
        "phoenix-spans",
        "openai-agents",
        "langsmith",
        "langfuse",
    }
    assert set(writers.values()) == {40}
    assert {row["format"] for row in truth} == {"otlp-json", "spans-jsonl", "openai-agents", "langsmith", "langfuse"}
    gz = [p for p in (corpus / "traces").iterdir() if p.name.endswith(".gz")]
    assert gz and gz[0].read_bytes()[:2] == b"\x1f\x8b"


def test_every_family_and_taxonomy_code_is_injected(corpus: Path) -> None:
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert set(manifest["families"]) == {f.name for f in FAMILIES} | {"clean"}
    assert 0.30 <= manifest["families"]["clean"] / manifest["trace_count"] <= 0.40
    codes = {issue["category"] for row in read_jsonl(corpus / "truth.jsonl") for issue in row["issues"]}
    expected = {f"{cat}.{sub}" for cat, subs in TAXONOMY_CODES.items() for sub in subs}
    assert codes == expected


def test_some_traces_carry_two_faults_and_clean_traces_none(corpus: Path) -> None:
    truth = read_jsonl(corpus / "truth.jsonl")
    assert all(row["issues"] == [] for row in truth if row["family"] in ("clean", "injection_ignored"))
    assert sum(len({i["span_id"] for i in row["issues"]}) >= 2 for row in truth) >= 10
    clean_scores = [row["scores"] for row in truth if row["family"] == "clean"]
    assert all(set(s.values()) == {5} for s in clean_scores)
    pii = [row["scores"]["privacy_and_safety"] for row in truth if row["family"] == "pii_exposure"]
    assert pii and max(pii) == 1


def test_release_regression_appears_only_in_one_agent_version(corpus: Path) -> None:
    truth = read_jsonl(corpus / "truth.jsonl")
    drift = [row for row in truth if row["family"] == "refund_amount_as_string"]
    assert drift and {row["agent_version"] for row in drift} == {"v1.9"}
    other_versions = {row["agent_version"] for row in truth if row["family"] != "refund_amount_as_string"}
    assert {"v1.7", "v1.8", "v1.9"} <= other_versions


def test_labels_and_outcomes_follow_the_faults(corpus: Path) -> None:
    truth = {row["trace_id"]: row for row in read_jsonl(corpus / "truth.jsonl")}
    labels = read_jsonl(corpus / "labels.jsonl")
    assert all(row["trace_id"] in truth for row in labels)
    outcomes = [row for row in labels if "outcome" in row]
    bad = [
        o["outcome"]["csat"]
        for o in outcomes
        if any(i["severity"] in ("high", "critical") for i in truth[o["trace_id"]]["issues"])
    ]
    good = [o["outcome"]["csat"] for o in outcomes if truth[o["trace_id"]]["family"] == "clean"]
    assert bad and good and sum(bad) / len(bad) < sum(good) / len(good) - 1.0
    graded = [row for row in labels if row.get("label") == "correctness"]
    assert graded and all(0.0 <= row["score"] <= 1.0 and isinstance(row["passed"], bool) for row in graded)


def test_renamed_variant_shares_no_tool_agent_or_workflow_names(renamed: Path) -> None:
    text = b"".join(read_bytes(p) for p in sorted((renamed / "traces").iterdir())).decode()
    default_names = (
        [t.name for t in DEFAULT.tools.values()] + list(DEFAULT.agents.values()) + list(DEFAULT.workflows.values())
    )
    renamed_names = (
        [t.name for t in RENAMED.tools.values()] + list(RENAMED.agents.values()) + list(RENAMED.workflows.values())
    )
    assert not set(default_names) & set(renamed_names)
    assert [name for name in default_names if name in text] == []
    assert sum(name in text for name in renamed_names) == len(renamed_names)


def test_renamed_variant_keeps_the_fault_semantics(corpus: Path, renamed: Path) -> None:
    def codes(path: Path) -> set[str]:
        return {i["category"] for row in read_jsonl(path / "truth.jsonl") for i in row["issues"]}

    assert codes(corpus) == codes(renamed)
    assert json.loads((renamed / "manifest.json").read_text())["variant"] == "renamed"


def test_issue_locations_follow_the_taxonomy_rule(corpus: Path) -> None:
    from investigator.ingest.pipeline import ingest_paths
    from investigator.store import Store

    store = Store(str(corpus / "locations.db"))
    ingest_paths(store, [str(corpus / "traces")])
    for row in read_jsonl(corpus / "truth.jsonl"):
        spans = {s.span_id: s for s in store.spans(row["trace_id"])}
        for issue in row["issues"]:
            span = spans[issue["span_id"]]
            code = issue["category"]
            if code.startswith("reasoning.") or code in (
                "safety.prompt_injection",
                "recovery.ignored_error",
                "recovery.failed_recovery",
            ):
                assert span.kind == "llm", (row["family"], code, span.kind)
            elif code == "planning.redundant_steps":
                earlier = [
                    s
                    for s in spans.values()
                    if s.kind == "tool"
                    and s.tool_name == span.tool_name
                    and s.tool_args == span.tool_args
                    and (s.start_time or "") < (span.start_time or "")
                ]
                assert span.kind == "tool" and earlier, row["family"]
            elif code in (
                "execution.rate_limited",
                "execution.auth_failed",
                "execution.not_found",
                "execution.service_error",
                "execution.silent_failure",
                "execution.tool_misconfigured",
                "execution.environment_error",
            ):
                assert span.kind == "tool", (row["family"], code, span.kind)
    store.close()


def test_demo_dataset_is_current_and_ingests_completely(tmp_path: Path) -> None:
    """The shipped demo dataset is exactly what `--seed 7 --traces 500` writes, and every trace and
    every truth span survives ingest."""
    from investigator.ingest.pipeline import ingest_paths
    from investigator.store import Store

    if not (DEMO / "manifest.json").exists():
        pytest.skip("demo dataset not generated")
    generate(seed=7, traces=500, out=tmp_path / "demo")
    for path in sorted(p for p in DEMO.rglob("*") if p.is_file()):
        assert (tmp_path / "demo" / path.relative_to(DEMO)).read_bytes() == path.read_bytes(), path.name
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 8.5 * 1024 * 1024
    manifest = json.loads((DEMO / "manifest.json").read_text())
    store = Store(str(tmp_path / "demo.db"))
    report = ingest_paths(store, [str(DEMO / "traces")])
    assert report.traces == manifest["trace_count"] == 500
    assert report.quarantined == 0 and not report.errors
    for row in read_jsonl(DEMO / "truth.jsonl"):
        trace = store.get_trace(row["trace_id"])
        assert trace is not None and trace.agent_version == row["agent_version"], row["trace_id"]
        for issue in row["issues"]:
            assert store.get_span(row["trace_id"], issue["span_id"]) is not None, (row["family"], issue)
    store.close()
