"""Reports: every format renders a run's ranked findings; the JSON validates against the shipped schema;
the HTML report works in a real browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from investigator.clustering import Cluster, Cohort
from investigator.ingest.base import span_row
from investigator.models import Evidence, Finding, Impact
from investigator.reports import build_report, render
from investigator.reports.model import report_schema
from investigator.runs import finish_run, save_clusters, start_run
from investigator.store import Store


def _finding(run_id: str, fid: str, title: str, severity: str, impact: float, quote: str, span: str) -> Finding:
    return Finding(
        id=fid,
        run_id=run_id,
        cluster_id="c_1",
        title=title,
        category="execution.rate_limited",
        severity=severity,
        confidence=0.8,
        description="The search tool is throttled <b>hard</b>.",
        root_cause="No backoff on 429.",
        immediate_fix="Retry with exponential backoff honouring Retry-After.",
        fix_layer="tool",
        evidence=[Evidence(trace_id="t1", span_id=span, quote=quote)],
        trace_ids=["t1"],
        impact=Impact(trace_count=1, prevalence=0.5, severity_weight=3, impact_score=impact),
        source="offline",
    )


@pytest.fixture()
def reported(tmp_path: Path) -> Store:
    store = Store(tmp_path / "r.db")
    store.write_batch(
        [
            span_row(
                "t1",
                "root",
                kind="agent",
                name="Researcher",
                status="ok",
                start_time="2025-01-01T00:00:00Z",
                end_time="2025-01-01T00:00:03Z",
            ),
            span_row(
                "t1",
                "s1",
                parent_id="root",
                kind="tool",
                name="web_search",
                tool_name="web_search",
                status="error",
                status_message="HTTP 429 Too Many Requests",
                start_time="2025-01-01T00:00:01Z",
                end_time="2025-01-01T00:00:02Z",
            ),
        ]
    )
    store.refresh_traces(["t1"])
    run = start_run(store, None, None, {"model": "offline"}, "fp")
    save_clusters(
        store,
        run.id,
        [
            Cluster(
                id="c_1",
                trace_ids=["t1"],
                size=1,
                keywords=["429"],
                categories={"execution.rate_limited": 1},
                representative_trace_ids=["t1"],
                prevalence=0.5,
                severity_weighted_prevalence=0.3,
                impact_score=0.15,
                cohorts=[Cohort("model", "gpt-4o", 2.0, 5, 1.0, 0.5)],
            )
        ],
    )
    low = _finding(run.id, "f_low", "Minor thing", "low", 0.01, "Too Many", "s1")
    high = _finding(run.id, "f_high", "Search is rate limited", "high", 0.15, "HTTP 429 Too Many Requests", "s1")
    with store.conn:
        for f in (low, high):
            store.conn.execute(
                "INSERT INTO findings (id, run_id, cluster_id, category, severity, data) VALUES (?, ?, ?, ?, ?, ?)",
                [f.id, run.id, f.cluster_id, f.category, f.severity, f.model_dump_json()],
            )
    finish_run(
        store,
        run,
        "completed",
        {
            "traces": 2,
            "suspects": 1,
            "clusters": 1,
            "cost_usd": 0.0,
            "investigations": [{"cluster_id": "c_1", "stopped_by": "summary"}],
        },
    )
    return store


def test_findings_are_ranked_by_impact_in_every_format(reported: Store) -> None:
    report = build_report(reported)
    assert [f.id for f in report.findings] == ["f_high", "f_low"]
    table, markdown = render(report, "table"), render(report, "md")
    assert table.index("Search is rate limited") < table.index("Minor thing")
    assert "## 1. Search is rate limited" in markdown and "`HTTP 429 Too Many Requests`" in markdown
    html = render(report, "html")
    assert "The search tool is throttled &lt;b&gt;hard&lt;/b&gt;." in html  # trace-derived text is escaped


def test_json_report_validates_against_the_shipped_schema(reported: Store) -> None:
    shipped = json.loads(files("investigator.schemas").joinpath("report.schema.json").read_text())
    assert shipped == json.loads(json.dumps(report_schema(), sort_keys=True))
    data = json.loads(render(build_report(reported), "json"))
    jsonschema.validate(data, shipped)
    assert data["schema_version"] == "1.0"
    data["findings"][0]["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, shipped)


def test_json_report_holds_what_the_store_holds_whatever_order_it_was_written_in(reported: Store) -> None:
    written = render(build_report(reported), "json")
    data = json.loads(written)
    assert [f["id"] for f in data["findings"]] == ["f_high", "f_low"]  # impact 0.15 ranks above 0.01
    assert [(e["trace_id"], e["span_id"], e["quote"]) for e in data["findings"][0]["evidence"]] == [
        ("t1", "s1", "HTTP 429 Too Many Requests")
    ]
    rows = reported.conn.execute("SELECT id, run_id, cluster_id, category, severity, data FROM findings").fetchall()
    with reported.conn:
        reported.conn.execute("DELETE FROM findings")
        reported.conn.executemany(
            "INSERT INTO findings (id, run_id, cluster_id, category, severity, data) VALUES (?, ?, ?, ?, ?, ?)",
            rows[::-1],
        )
    assert render(build_report(reported), "json") == written  # rows stored in the other order


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="needs a Chromium browser (Debian package `chromium`)")
def test_html_report_shows_findings_and_opens_a_trace_tree_on_click(reported: Store, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    html = render(build_report(reported), "html")
    # After the page's own script has run, click the first trace button and record what a person sees.
    probe = """<script>
window.addEventListener("load", function () {
  var tree = document.querySelector(".tree");
  var before = getComputedStyle(tree).display;
  document.querySelector("details.finding").open = true;
  document.querySelector("button.trace").click();
  var after = getComputedStyle(tree).display;
  var cited = tree.querySelector(".span.cited");
  document.title = JSON.stringify({before: before, after: after, cited: cited ? cited.dataset.span : null,
    findings: Array.from(document.querySelectorAll("details.finding > summary")).map(function (s) {
      return s.textContent.trim().split("\\n")[0]; })});
});
</script></body>"""
    page.write_text(html.replace("</body>", probe))
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = result.stdout.split("<title>", 1)[1].split("</title>", 1)[0]
    seen = json.loads(title.replace("&quot;", '"'))
    assert seen["before"] == "none" and seen["after"] == "block"
    assert seen["cited"] == "s1"
    assert seen["findings"][0].startswith("1. Search is rate limited")
    assert "http://" not in html.split("<body>", 1)[1] and "https://" not in html.split("<body>", 1)[1]


def test_a_family_found_in_two_clusters_merges_the_same_whichever_is_reported_first(store) -> None:
    from investigator.findings import merge

    a = _finding("r1", "f_same", "Rate limited at tool `web_search`", "high", 0.4, "HTTP 429", "s1")
    b = _finding("r1", "f_same", "Rate limited at tool `search`", "high", 0.3, "429 Too Many Requests", "s2")
    b = b.model_copy(
        update={"trace_ids": ["t2"], "evidence": [*b.evidence, a.evidence[0].model_copy(update={"trace_id": "t0"})]}
    )
    merged = merge(a, b, store)
    assert merged == merge(b, a, store)
    assert merged.impact.trace_count == 2 and len(merged.evidence) == 3
    assert [e.trace_id for e in merged.evidence] == sorted(e.trace_id for e in merged.evidence)


@pytest.mark.parametrize("width", [80, 120])
def test_the_terminal_table_fits_the_terminal(reported: Store, width: int) -> None:
    from investigator.reports.text import to_table

    report = build_report(reported)
    table = to_table(report, width=width)
    assert max(len(line) for line in table.splitlines()) <= width
    flat = " ".join(table.split())
    for finding in report.findings:
        assert finding.id in flat and finding.category in flat and finding.severity in flat
