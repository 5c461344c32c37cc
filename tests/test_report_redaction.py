"""Reports are safe to paste into a ticket: no format, nor `show` or `findings`, prints personal data
or secrets unless asked to (`--no-redact`); a masked quote is still verbatim in the masked span."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from investigator.cli import main
from investigator.clustering import Cluster, Cohort
from investigator.ingest.base import span_row
from investigator.models import CohortLift, DimensionScore, Evidence, Finding, Impact
from investigator.reports import FORMATS, build_report, render
from investigator.reports.masked import ReportMasking
from investigator.runs import finish_run, save_clusters, start_run
from investigator.store import Store

TRACE = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
ROOT, READ, ANSWER = "1111aaaa2222bbbb", "3333cccc4444dddd", "5555eeee6666ffff"
EMAIL = "dana.kim+orders@example.com"
OTHER = "billing@acme-support.io"
KEY = "ghp_Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
CONFIG = f"GITHUB_TOKEN={KEY}\nREGION=eu-west-1"
SECRETS = (EMAIL, OTHER, KEY)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "r.db")
    question = json.dumps([{"role": "user", "content": f"Why was my order cancelled? Write to {EMAIL}"}])
    answer = json.dumps(
        [{"role": "assistant", "content": f"Your config has token {KEY}; I emailed {EMAIL}, cc {OTHER}."}]
    )
    store.write_batch(
        [
            span_row(
                TRACE,
                ROOT,
                name="support_agent",
                kind="agent",
                agent="support_agent",
                status="ok",
                start_time="2025-04-01T10:00:00Z",
                end_time="2025-04-01T10:00:05Z",
                input=question,
            ),
            span_row(
                TRACE,
                READ,
                parent_id=ROOT,
                name="read_file",
                kind="tool",
                tool_name="read_file",
                status="ok",
                start_time="2025-04-01T10:00:01Z",
                end_time="2025-04-01T10:00:02Z",
                output=CONFIG,
            ),
            span_row(
                TRACE,
                ANSWER,
                parent_id=ROOT,
                name="ChatOpenAI",
                kind="llm",
                status="ok",
                model="gpt-4o",
                start_time="2025-04-01T10:00:03Z",
                end_time="2025-04-01T10:00:04Z",
                output=answer,
            ),
        ]
    )
    store.refresh_traces([TRACE])
    run = start_run(store, None, None, {"model": "offline"}, "fp")
    save_clusters(
        store,
        run.id,
        [
            Cluster(
                id="c_leak",
                trace_ids=[TRACE],
                size=1,
                keywords=["token"],
                categories={"safety.secret_exposure": 1},
                representative_trace_ids=[TRACE],
                prevalence=0.2,
                severity_weighted_prevalence=0.8,
                impact_score=0.16,
                cohorts=[Cohort("user_id", EMAIL, 3.0, 1, 1.0, 0.3)],
            )
        ],
    )
    finding = Finding(
        id="f_leak",
        run_id=run.id,
        cluster_id="c_leak",
        title=f"Token shown to {EMAIL}",
        category="safety.secret_exposure",
        severity="critical",
        confidence=0.9,
        description=f"The answer repeats {KEY} from the config file.",
        root_cause="read_file returns secrets.",
        immediate_fix=f"Strip tokens from read_file results (trace {TRACE}; user {EMAIL}).",
        fix_layer="tool",
        evidence=[
            Evidence(trace_id=TRACE, span_id=READ, quote=KEY),  # in its file only as GITHUB_TOKEN=<key>
            Evidence(trace_id=TRACE, span_id=ANSWER, quote=f"cc {OTHER}."),  # the trace's 2nd email
            Evidence(trace_id=TRACE, span_id=ANSWER, quote=f"I emailed {EMAIL},"),
            Evidence(trace_id=TRACE, span_id=ANSWER, quote=f"token {KEY[:12]}"),  # cuts the key
            Evidence(trace_id=TRACE, span_id=ANSWER, quote=f"{KEY[20:]}; I emailed"),
        ],  # starts inside it
        trace_ids=[TRACE],
        impact=Impact(trace_count=1, prevalence=0.2, severity_weight=4, impact_score=0.16),
        scores={"privacy_and_safety": DimensionScore(score=1, reason=f"{KEY} reached the user")},
        cohorts=[CohortLift(dimension="user_id", value=EMAIL, lift=3.0, count=1)],
        source="offline",
    )
    with store.conn:
        store.conn.execute(
            "INSERT INTO findings (id, run_id, cluster_id, category, severity, data) VALUES (?, ?, ?, ?, ?, ?)",
            [finding.id, run.id, finding.cluster_id, finding.category, finding.severity, finding.model_dump_json()],
        )
    finish_run(
        store,
        run,
        "completed",
        {
            "traces": 1,
            "suspects": 1,
            "clusters": 1,
            "cost_usd": 0.0,
            "investigations": [{"cluster_id": "c_leak", "stopped_by": "summary"}],
        },
    )
    return store


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_prints_a_secret_or_an_email(store: Store, fmt: str) -> None:
    text = render(build_report(store), fmt)
    assert [s for s in SECRETS if s in text] == []
    assert KEY[:10] not in text and KEY[20:] not in text  # not even the pieces quotes cut out of it
    assert "EMAIL_1" in text  # the title's placeholder (escaped in HTML)


def test_the_raw_report_is_there_for_whoever_asks(store: Store) -> None:
    text = render(build_report(store, redact=False), "json")
    assert all(secret in text for secret in SECRETS)


def test_a_masked_quote_is_verbatim_in_the_masked_span_it_cites(store: Store) -> None:
    report = build_report(store)
    quotes = [(e.span_id, e.quote) for e in report.findings[0].evidence]
    assert quotes == [
        (READ, "<API_KEY_1>"),
        (ANSWER, "cc <EMAIL_2>."),
        (ANSWER, "I emailed <EMAIL_1>,"),
        (ANSWER, "token <API_KEY_1>"),
        (ANSWER, "<API_KEY_1>; I emailed"),
    ]
    fresh = ReportMasking(store)  # another report, another process: the same placeholders
    for span_id, quote in quotes:
        assert fresh.quote_in_span(store.get_span(TRACE, span_id), quote)
    assert not fresh.quote_in_span(store.get_span(TRACE, READ), "<API_KEY_2>")


def test_one_value_reads_the_same_everywhere_in_its_trace(store: Store) -> None:
    report = build_report(store)
    previews = " ".join(node.preview for node in report.traces[0].spans)
    assert "Write to <EMAIL_1>" in previews and "I emailed <EMAIL_1>, cc <EMAIL_2>." in previews
    assert report.findings[0].cohorts[0].value == "<EMAIL_1>"
    assert report.clusters[0].cohorts[0]["value"] == "<EMAIL_1>"


def test_show_and_findings_mask_unless_told_not_to(store: Store) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["show", "f_leak", "--db", store.path])
    assert shown.exit_code == 0, shown.output
    assert [s for s in SECRETS if s in shown.output] == []
    assert f"{TRACE} / {READ}: '<API_KEY_1>'" in shown.output
    assert "Write to <EMAIL_1>" in shown.output  # the trace tree's previews
    raw = runner.invoke(main, ["show", "f_leak", "--no-redact", "--db", store.path])
    assert all(secret in raw.output for secret in SECRETS)
    listed = runner.invoke(main, ["findings", "--json", "--db", store.path])
    assert EMAIL not in listed.output and json.loads(listed.output)["title"] == "Token shown to <EMAIL_1>"


def test_traces_show_masks_the_tree_and_the_json_unless_told_not_to(store: Store) -> None:
    runner = CliRunner()
    tree = runner.invoke(main, ["traces", "show", TRACE[:12], "--db", store.path])
    as_json = runner.invoke(main, ["traces", "show", TRACE, "--json", "--db", store.path])
    for result in (tree, as_json):
        assert result.exit_code == 0, result.output
        assert [s for s in SECRETS if s in result.output] == []
    spans = {row["span_id"]: row for row in map(json.loads, as_json.output.splitlines())}
    assert spans[READ]["output"] == "GITHUB_TOKEN=<API_KEY_1>\nREGION=eu-west-1"
    raw = runner.invoke(main, ["traces", "show", TRACE, "--json", "--no-redact", "--db", store.path])
    assert {json.loads(line)["span_id"]: json.loads(line)["output"] for line in raw.output.splitlines()}[READ] == CONFIG
