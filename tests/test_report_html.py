"""The HTML report people read: each fix shows without a click, prose is Markdown that trace text cannot
inject markup into, a trace tree is built on demand and highlights only the spans its finding cites, every
affected trace is listed, and the pictures (leaderboard, cohort heatmap, cluster map, trends) are inline
SVG drawn from the report's data."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from investigator.clustering import Cluster, Cohort
from investigator.ingest.base import span_row
from investigator.models import Evidence, Finding, Impact
from investigator.reports import build_report, render
from investigator.reports.html import trees_json
from investigator.runs import Run, finish_run, save_clusters, start_run
from investigator.store import Store

BREAKOUT = "</script><script>window.pwned = 1</script>"
AFFECTED = ["t1", *(f"{n:032x}" for n in range(1, 250))]


def _finding(run_id: str, fid: str, span: str, severity: str, traces: list[str], **prose: str) -> Finding:
    return Finding(
        id=fid, run_id=run_id, cluster_id="c_rate", category="execution.rate_limited", severity=severity,
        confidence=0.8, fix_layer="tool", evidence=[Evidence(trace_id="t1", span_id=span, quote="HTTP")],
        trace_ids=traces, source="offline",
        impact=Impact(trace_count=len(traces), prevalence=0.5, severity_weight=3, impact_score=0.1),
        **{"title": "A failure", "description": "It fails.", "root_cause": "A cause.", "immediate_fix": "A fix.",
           **prose},
    )


def _cluster(cid: str, size: int, keywords: list[str], category: str, cohorts: list[Cohort]) -> Cluster:
    return Cluster(id=cid, trace_ids=["t1"], size=size, keywords=keywords, categories={category: size},
                   representative_trace_ids=["t1"], prevalence=0.1, severity_weighted_prevalence=0.1,
                   impact_score=0.1, cohorts=cohorts)


CLUSTERS = [
    _cluster("c_rate", 6, ["429", "rate", "limit"], "execution.rate_limited",
             [Cohort("model", "gpt-4o", 2.5, 5, 0.8, 0.3), Cohort("service", "search", 1.4, 4, 0.6, 0.4)]),
    _cluster("c_throttle", 3, ["429", "rate", "throttle"], "execution.rate_limited",
             [Cohort("model", "gpt-4o", 1.8, 2, 0.6, 0.3)]),
    _cluster("c_leak", 2, ["email", "leak"], "safety.pii_exposure", []),
]


def _run(store: Store, day: str, findings: list[Finding], clusters: list[Cluster]) -> Run:
    run = start_run(store, None, f"2025-01-0{day}T00:00:00Z", {"model": "offline"}, f"fp{day}")
    save_clusters(store, run.id, clusters)
    with store.conn:
        for f in findings:
            f = f.model_copy(update={"run_id": run.id})
            store.conn.execute(
                "INSERT INTO findings (id, run_id, cluster_id, category, severity, data) VALUES (?, ?, ?, ?, ?, ?)",
                [f.id, run.id, f.cluster_id, f.category, f.severity, f.model_dump_json()],
            )
    finish_run(store, run, "completed", {"traces": 300, "suspects": 250, "clusters": len(clusters)})
    return run


@pytest.fixture()
def two_runs(tmp_path: Path) -> tuple[Store, Run, Run]:
    """Trace t1 (a root, a rate-limited search s1, a page fetch s2 whose name tries to close a script
    element); run 1 finds f_rate in 2 traces; run 2 finds f_rate in 250 (citing s1) and f_fetch (citing s2)."""
    store = Store(tmp_path / "h.db")
    times = {"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-01T00:00:03Z"}
    store.write_batch([
        span_row("t1", "root", kind="agent", name="Researcher", status="ok", **times),
        span_row("t1", "s1", parent_id="root", kind="tool", name="web_search", status="error",
                 status_message="HTTP 429 Too Many Requests", **times),
        span_row("t1", "s2", parent_id="root", kind="tool", name=f"fetch_page {BREAKOUT}", status="error",
                 status_message="HTTP 504 timed out", **times),
    ])
    store.refresh_traces(["t1"])
    def rate(traces: list[str]) -> Finding:
        return _finding(
            "r", "f_rate", "s1", "high", traces, title="Search is **rate limited** at tool `web_search`",
            immediate_fix="Retry with *exponential* backoff honouring `Retry-After`.",
            root_cause="No backoff. ![pixel](http://evil.example/p.png) [docs](https://evil.example/login)",
        )

    fetch = _finding("r", "f_fetch", "s2", "medium", ["t1"], title="Fetch fails <script>alert(1)</script>",
                     description="Pages **time out** at `fetch_page`.", immediate_fix="Raise the fetch timeout.")
    first = _run(store, "1", [rate(AFFECTED[:2])], CLUSTERS)
    second = _run(store, "2", [rate(AFFECTED), fetch], CLUSTERS)
    return store, first, second


def _element(page: str, start: str, tag: str) -> str:
    """The element of `page` that begins with `start` (no element of the same tag nested in it)."""
    at = page.index(start)
    return page[at : page.index(f"</{tag}>", at) + len(f"</{tag}>")]


def _svg(page: str, kind: str) -> ET.Element:
    return ET.fromstring(_element(page, f'<svg class="chart {kind}"', "svg"))


def _finding_section(page: str, fid: str) -> str:
    at = page.index(f'<details class="finding" id="{fid}">')
    return page[at : page.find('<details class="finding"', at + 1)]


def test_a_findings_fix_and_its_layer_are_in_its_summary_line(two_runs) -> None:
    page = render(build_report(two_runs[0]), "html")
    summary = _element(_finding_section(page, "f_rate"), "<summary>", "summary")
    assert "Retry with <em>exponential</em> backoff honouring <code>Retry-After</code>." in summary
    assert '<span class="layer">tool</span>' in summary
    assert "No backoff." not in summary  # the root cause stays in the collapsed body


def test_finding_prose_is_markdown_and_trace_text_cannot_inject_markup(two_runs) -> None:
    page = render(build_report(two_runs[0]), "html")
    rate, fetch = _finding_section(page, "f_rate"), _finding_section(page, "f_fetch")
    assert "Search is <strong>rate limited</strong> at tool <code>web_search</code>" in rate
    assert "<p>Pages <strong>time out</strong> at <code>fetch_page</code>.</p>" in fetch
    assert "<script>alert(1)</script>" not in page and "Fetch fails &lt;script&gt;alert(1)&lt;/script&gt;" in fetch
    assert "<img" not in page and "evil.example/login" in rate  # an image or link is shown as its text
    assert not re.findall(r'(?:src|href)="(?!#)', page)  # nothing to fetch, nowhere to go off the page


def test_every_affected_trace_id_is_listed_in_a_collapsed_section(two_runs) -> None:
    page = render(build_report(two_runs[0]), "html")
    affected = _element(_finding_section(page, "f_rate"), '<details class="affected">', "details")
    assert "All 250 affected traces" in affected
    assert re.findall(r"<span>([0-9a-z]+)</span>", affected) == AFFECTED


def test_no_span_tree_is_in_the_page_until_its_button_is_clicked(two_runs) -> None:
    report = build_report(two_runs[0])
    page = render(report, "html")
    assert 'class="span' not in page and "data-span=" not in page
    assert page.count('<div class="tree" hidden></div>') == 2  # one empty holder per (finding, cited trace)
    blob = _element(page, '<script type="application/json" id="trace-data">', "script")
    data = json.loads(blob.split(">", 1)[1].rsplit("<", 1)[0])
    assert list(data) == ["t1"]  # each cited trace once, however many findings cite it
    assert [s["span_id"] for s in data["t1"]["spans"]] == ["root", "s1", "s2"]


def test_a_span_name_that_closes_a_script_element_stays_inside_the_json(two_runs) -> None:
    report = build_report(two_runs[0])
    blob = trees_json(report)
    assert "</script" not in blob and "<" not in blob
    assert json.loads(blob)["t1"]["spans"][2]["name"] == f"fetch_page {BREAKOUT}"
    assert blob in render(report, "html")


def test_the_leaderboard_has_one_bar_per_finding_in_rank_order(two_runs) -> None:
    report = build_report(two_runs[0])
    svg = _svg(render(report, "html"), "leaderboard")
    bars = svg.findall(".//rect[@class='bar']")
    assert [b.find("title").text.split(" · ")[0] for b in bars] == [
        "1. Search is rate limited at tool web_search", "2. Fetch fails <script>alert(1)</script>"
    ]
    assert [b.get("fill") for b in bars] == ["#c0392b", "#d68910"]  # high, medium
    assert float(bars[0].get("width")) > float(bars[1].get("width"))  # 250 traces against 1
    assert svg.find("title").text and svg.get("aria-label")


def test_the_cohort_heatmap_has_one_cell_per_cluster_and_cohort(two_runs) -> None:
    svg = _svg(render(build_report(two_runs[0]), "html"), "heatmap")
    cells = [c.find("title").text for c in svg.findall(".//rect[@class='cell']")]
    assert cells == [
        "c_rate · model=gpt-4o · lift ×2.50 · 5 traces",
        "c_rate · service=search · lift ×1.40 · 4 traces",
        "c_throttle · model=gpt-4o · lift ×1.80 · 2 traces",
    ]
    fills = [c.get("fill") for c in svg.findall(".//rect[@class='cell']")]
    assert fills[0] != fills[1]  # lift is the colour
    assert {t.text for t in svg.iter("text")} >= {"model=gpt-4o", "service=search"}


def test_the_cluster_map_has_one_circle_per_cluster_and_similar_clusters_sit_close(two_runs) -> None:
    report = build_report(two_runs[0])
    xy = {c.id: c.map_xy for c in report.clusters}
    assert all(0 <= v <= 1 for point in xy.values() for v in point)

    def far(a: str, b: str) -> float:
        return ((xy[a][0] - xy[b][0]) ** 2 + (xy[a][1] - xy[b][1]) ** 2) ** 0.5

    assert far("c_rate", "c_throttle") < far("c_rate", "c_leak")
    assert far("c_rate", "c_throttle") < far("c_throttle", "c_leak")
    circles = _svg(render(report, "html"), "cluster-map").findall(".//circle[@class='cluster']")
    assert sorted(c.find("title").text.split(" · ")[0] for c in circles) == sorted(xy)
    radius = {c.find("title").text.split(" · ")[0]: float(c.get("r")) for c in circles}
    assert radius["c_rate"] > radius["c_throttle"] > radius["c_leak"]  # area is traces


def test_the_cluster_map_is_the_same_on_every_build(two_runs) -> None:
    first = render(build_report(two_runs[0]), "json")
    again = render(build_report(two_runs[0]), "json")
    assert first == again
    assert [c["map_xy"] for c in json.loads(first)["clusters"]] == [[0.0, 0.7857], [0.0, 0.2143], [1.0, 0.5]]


@pytest.mark.parametrize(
    ("clusters", "expected"),
    [([], []), (CLUSTERS[:1], [(0.5, 0.5)]), (CLUSTERS[1:], [(0.0, 0.5), (1.0, 0.5)])],
)
def test_the_cluster_map_copes_with_none_one_or_two_clusters(tmp_path: Path, clusters, expected) -> None:
    store = Store(tmp_path / "few.db")
    _run(store, "1", [], clusters)
    report = build_report(store)
    assert sorted(c.map_xy for c in report.clusters) == expected
    page = render(report, "html")
    assert ('class="chart cluster-map"' in page) == bool(clusters)


def test_a_findings_trend_has_a_point_for_each_run_it_was_in(two_runs) -> None:
    store, first, second = two_runs
    report = build_report(store)
    assert [(p.run_id, p.trace_count) for p in report.trends["f_rate"]] == [(first.id, 2), (second.id, 250)]
    assert [(p.run_id, p.trace_count) for p in report.trends["f_fetch"]] == [(second.id, 1)]
    summary = _element(_finding_section(render(report, "html"), "f_rate"), "<summary>", "summary")
    spark = ET.fromstring(_element(summary, '<svg class="chart sparkline"', "svg"))
    points = [c.find("title").text for c in spark.findall(".//circle[@class='point']")]
    assert points == [f"{first.id}: 2 traces", f"{second.id}: 250 traces"]
    earlier = build_report(store, first.id)  # an earlier run's report stops at that run
    assert [(p.run_id, p.trace_count) for p in earlier.trends["f_rate"]] == [(first.id, 2)]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _in_browser(page: str, probe: str, tmp_path: Path) -> dict:
    """What `probe` (a JS function body returning a JSON-able value) sees once the page has loaded."""
    path = tmp_path / "report.html"
    run = f"document.title = JSON.stringify((function () {{ {probe} }})());"
    script = f"<script>window.addEventListener('load', function () {{ {run} }});</script>"
    path.write_text(page.replace("</body>", script + "</body>"))
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    return json.loads(htmllib.unescape(result.stdout.split("<title>", 1)[1].split("</title>", 1)[0]))


needs_chromium = pytest.mark.skipif(_chromium() is None, reason="needs a Chromium browser (Debian package `chromium`)")


@needs_chromium
def test_in_a_browser_fixes_show_while_findings_are_collapsed(two_runs, tmp_path: Path) -> None:
    probe = """
      function shown(el) { return el.checkVisibility(); }
      return Array.from(document.querySelectorAll("details.finding")).map(function (d) {
        return {open: d.open, fix: shown(d.querySelector(".fix")) ? d.querySelector(".fix").textContent : null,
                body: shown(d.querySelector(".prose")), affected: d.querySelector("details.affected").open};
      });"""
    seen = _in_browser(render(build_report(two_runs[0]), "html"), probe, tmp_path)
    assert [s["fix"] for s in seen] == [
        "Fix tool Retry with exponential backoff honouring Retry-After.", "Fix tool Raise the fetch timeout."
    ]
    assert not any(s["open"] or s["body"] or s["affected"] for s in seen)


@needs_chromium
def test_in_a_browser_a_tree_is_built_on_click_and_highlights_only_its_findings_spans(two_runs, tmp_path) -> None:
    probe = """
      var before = document.querySelectorAll(".span").length, out = {before: before, pwned: typeof window.pwned};
      document.querySelectorAll("details.finding").forEach(function (d) {
        d.open = true;
        d.querySelector("button.trace").click();
        var tree = d.querySelector(".tree");
        out[d.id] = {shown: getComputedStyle(tree).display, rows: tree.querySelectorAll(".span").length,
          cited: Array.from(tree.querySelectorAll(".span.cited")).map(function (s) { return s.dataset.span; }),
          names: Array.from(tree.querySelectorAll(".span")).map(function (s) { return s.textContent; })};
      });
      var button = document.querySelector("button.trace");
      button.click();
      out.closed = getComputedStyle(button.parentElement.querySelector(".tree")).display;
      return out;"""
    seen = _in_browser(render(build_report(two_runs[0]), "html"), probe, tmp_path)
    assert seen["before"] == 0 and seen["pwned"] == "undefined"
    assert seen["f_rate"]["shown"] == "block" and seen["f_rate"]["rows"] == 3
    assert seen["f_rate"]["cited"] == ["s1"] and seen["f_fetch"]["cited"] == ["s2"]
    assert any(BREAKOUT in name for name in seen["f_fetch"]["names"])  # shown as text, not run
    assert seen["closed"] == "none"  # a second click folds it again
