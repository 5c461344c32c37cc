"""The commands around `run`: clusters, findings, show, diff, queue, review, promote, schedule, eval,
labels and traces, driven in-process through click and checked against the store read with plain SQL
(and against the shipped data files), never against the command's own output."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from investigator.cli import main
from investigator.models import SEVERITY_WEIGHTS
from investigator.store import Store

DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo"
LABELS = DEMO / "labels.jsonl"
PHOENIX = DEMO / "traces" / "phoenix_spans.jsonl"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
GITHUB_TOKEN = re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}")


# ----------------------------------------------------------------------------- helpers


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def flat(text: str) -> str:
    """Text with every run of whitespace made one space: error messages wrap at the console width."""
    return " ".join(text.split())


def copy_db(source: Path, target: Path) -> Path:
    """A consistent copy of a store (WAL included), through SQLite's backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


def sql(db: Path | str, query: str, *params: Any) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, params).fetchall()


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def table_rows(text: str) -> list[list[str]]:
    """The cells of each body line of a rich table (box lines with │ separators)."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


def stored_findings(db: Path | str, run_id: str) -> dict[str, dict[str, Any]]:
    return {fid: json.loads(data) for fid, data in sql(db, "SELECT id, data FROM findings WHERE run_id = ?", run_id)}


def weight(finding: dict[str, Any]) -> float:
    """Expected harm: severity weight × traces affected × confidence."""
    return SEVERITY_WEIGHTS[finding["severity"]] * finding["impact"]["trace_count"] * finding["confidence"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def analysed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main job, once per module: one offline `investigator run` over the shipped traces and
    labels into a fresh store. Tests only read it; a test that changes state works on `analysed_copy`.
    (Not a copy of `demo_db`: labels joined after its rules layer ran are not in its documents, see
    test_labels_joined_after_detect_reach_the_documents_the_next_detect_writes.)"""
    path = tmp_path_factory.mktemp("cli_commands") / "analysed.db"
    result = cli("run", "--db", path, DEMO / "traces", "--labels", LABELS, "--quiet", "--format", "json")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def run_id(analysed_db: Path) -> str:
    (only,) = sql(analysed_db, "SELECT id FROM runs WHERE status = 'completed'")
    return only[0]


@pytest.fixture(scope="module")
def findings_of_run(analysed_db: Path, run_id: str) -> dict[str, dict[str, Any]]:
    found = stored_findings(analysed_db, run_id)
    assert len(found) >= 10
    return found


@pytest.fixture
def analysed_copy(analysed_db: Path, tmp_path: Path) -> Path:
    return copy_db(analysed_db, tmp_path / "analysed.db")


@pytest.fixture(scope="module")
def small_run_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One offline run over one shipped file (83 traces): a cheap store with findings, for the tests
    that cluster again and need not pay for the whole corpus."""
    path = tmp_path_factory.mktemp("small_run") / "small.db"
    result = cli("run", "--db", path, PHOENIX, "--quiet", "--format", "json")
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def small_run_copy(small_run_db: Path, tmp_path: Path) -> Path:
    return copy_db(small_run_db, tmp_path / "small.db")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Work in tmp_path, so paths in messages are short (the error console wraps at 80 columns)."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path


# ----------------------------------------------------------------------------- traces


def test_traces_list_json_lists_every_stored_trace_and_filters_by_status_service_and_since(
    analysed_db: Path,
) -> None:
    everything = cli("traces", "list", "--json", "--db", analysed_db)
    assert everything.exit_code == 0, everything.output
    listed = {row["trace_id"]: row for row in json_lines(everything)}
    stored = dict(sql(analysed_db, "SELECT trace_id, span_count FROM traces"))
    assert len(stored) == 500
    assert {t: row["span_count"] for t, row in listed.items()} == stored

    filtered = cli("traces", "list", "--status", "error", "--service", "support-bot", "--json", "--db", analysed_db)
    expected = {
        r[0] for r in sql(analysed_db, "SELECT trace_id FROM traces WHERE status = 'error' AND service = 'support-bot'")
    }
    assert filtered.exit_code == 0 and expected
    assert {row["trace_id"] for row in json_lines(filtered)} == expected

    cut = datetime(2025, 3, 9, tzinfo=UTC)
    recent = cli("traces", "list", "--since", "2025-03-09T00:00:00Z", "--json", "--db", analysed_db)
    expected_recent = {
        t
        for t, start in sql(analysed_db, "SELECT trace_id, start_time FROM traces")
        if datetime.fromisoformat(start.replace("Z", "+00:00")) >= cut
    }
    assert recent.exit_code == 0 and 0 < len(expected_recent) < 500
    assert {row["trace_id"] for row in json_lines(recent)} == expected_recent

    limited = cli("traces", "list", "--limit", "7", "--json", "--db", analysed_db)
    assert len(json_lines(limited)) == 7 and {r["trace_id"] for r in json_lines(limited)} <= set(stored)


def test_traces_show_draws_every_span_of_the_trace_root_first(analysed_db: Path) -> None:
    trace_id, span_count = sql(
        analysed_db, "SELECT trace_id, span_count FROM traces ORDER BY span_count DESC, trace_id LIMIT 1"
    )[0]
    spans = sql(analysed_db, "SELECT span_id, parent_id FROM spans WHERE trace_id = ?", trace_id)
    assert len(spans) == span_count > 5

    result = cli("traces", "show", trace_id, "--width", "120", "--db", analysed_db)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"trace {trace_id}") and f"{span_count} spans" in lines[0]
    assert [span_id for span_id, _ in spans if span_id not in result.stdout] == []
    positions = {span_id: next(i for i, line in enumerate(lines) if span_id in line) for span_id, _ in spans}
    (root,) = [span_id for span_id, parent in spans if parent is None]
    assert positions[root] == min(positions.values())
    assert len(set(positions.values())) == span_count  # one line per span


def test_traces_list_refuses_a_bad_since_and_traces_show_an_unknown_trace(analysed_db: Path) -> None:
    bad = cli("traces", "list", "--since", "yesterday-ish", "--db", analysed_db)
    assert bad.exit_code == 2
    assert "--since" in flat(bad.output) and "yesterday-ish" in bad.output

    unknown = cli("traces", "show", "no-such-trace", "--db", analysed_db)
    assert unknown.exit_code == 2
    assert "no trace 'no-such-trace'" in flat(unknown.output)


# ----------------------------------------------------------------------------- clusters


def test_clusters_lists_the_clusters_stored_for_the_latest_run(analysed_db: Path, run_id: str) -> None:
    stored = [
        (cid, json.loads(data))
        for cid, data in sql(
            analysed_db, "SELECT cluster_id, data FROM clusters WHERE run_id = ? ORDER BY position", run_id
        )
    ]
    known_traces = {r[0] for r in sql(analysed_db, "SELECT trace_id FROM traces")}

    as_json = cli("clusters", "--json", "--db", analysed_db)

    assert as_json.exit_code == 0, as_json.output
    listed = json_lines(as_json)
    assert {c["run_id"] for c in listed} == {run_id}
    assert [c["id"] for c in listed] == [cid for cid, _ in stored]
    assert [c["size"] for c in listed] == [len(data["trace_ids"]) for _, data in stored]
    clustered = [t for c in listed for t in c["trace_ids"]]
    assert len(clustered) == len(set(clustered)) and set(clustered) <= known_traces

    table = cli("clusters", "--db", analysed_db)
    assert table.exit_code == 0
    assert f"{run_id}: {len(clustered)} suspect traces of {len(known_traces)}" in table.stdout
    shown = {cells[0] for cells in table_rows(table.stdout) if cells[0]}
    assert shown == {cid for cid, _ in stored}


def test_clusters_on_a_store_without_runs_clusters_it_now_as_a_completed_run(store: Store) -> None:
    assert cli("ingest", PHOENIX, "--quiet", "--db", store.path).exit_code == 0
    assert cli("detect", "--db", store.path).exit_code == 0
    assert sql(store.path, "SELECT count(*) FROM runs") == [(0,)]
    with_issues = {r[0] for r in sql(store.path, "SELECT DISTINCT trace_id FROM issues")}

    result = cli("clusters", "--json", "--db", store.path)

    assert result.exit_code == 0, result.output
    (run,) = sql(store.path, "SELECT id, status, settings FROM runs")
    assert run[1] == "completed" and json.loads(run[2])["stage"] == "clusters"
    listed = json_lines(result)
    assert {c["run_id"] for c in listed} == {run[0]}
    stored_ids = {r[0] for r in sql(store.path, "SELECT cluster_id FROM clusters WHERE run_id = ?", run[0])}
    assert {c["id"] for c in listed} == stored_ids and len(stored_ids) >= 2
    # Every trace the rules layer flagged is a suspect, and lands in exactly one cluster (or the noise).
    clustered = [t for c in listed for t in c["trace_ids"]]
    assert len(clustered) == len(set(clustered)) and with_issues <= set(clustered)
    assert sql(store.path, "SELECT count(*) FROM findings") == [(0,)]


def test_clusters_with_an_unknown_run_exits_2_naming_it(analysed_db: Path) -> None:
    result = cli("clusters", "--run", "run_does_not_exist", "--db", analysed_db)
    assert result.exit_code == 2
    assert "no run 'run_does_not_exist'" in flat(result.output)


def test_clusters_refuses_a_min_cluster_size_below_two(small_run_copy: Path) -> None:
    result = cli("clusters", "--new", "--min-cluster-size", "1", "--db", small_run_copy)
    assert result.exit_code == 2
    assert "min-cluster-size" in flat(result.output)
    assert sql(small_run_copy, "SELECT count(*) FROM runs WHERE status = 'running'") == [(0,)]


@pytest.mark.xfail(
    strict=True,
    reason="a clustering-only run (clusters --new) counts as a run the findings were"
    " absent from: two of them mark every finding resolved and empty the queue",
)
def test_clustering_anew_does_not_resolve_open_findings(small_run_copy: Path) -> None:
    open_before = {r[0] for r in sql(small_run_copy, "SELECT DISTINCT id FROM findings")}
    assert open_before and sql(small_run_copy, "SELECT count(*) FROM reviews") == [(0,)]
    for _ in range(2):
        assert cli("clusters", "--new", "--db", small_run_copy).exit_code == 0
    queue = cli("queue", "--json", "--db", small_run_copy)
    assert queue.exit_code == 0
    assert {row["id"] for row in json_lines(queue)} == open_before


# ----------------------------------------------------------------------------- findings


def test_findings_lists_the_latest_runs_findings_ranked_by_impact_times_confidence(
    analysed_db: Path, run_id: str, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    as_json = cli("findings", "--json", "--db", analysed_db)

    assert as_json.exit_code == 0, as_json.output
    listed = json_lines(as_json)
    assert {f["id"] for f in listed} == set(findings_of_run)
    assert {f["run_id"] for f in listed} == {run_id}
    weights = [weight(findings_of_run[f["id"]]) for f in listed]
    assert weights == sorted(weights, reverse=True)
    known_traces = {r[0] for r in sql(analysed_db, "SELECT trace_id FROM traces")}
    assert all(set(f["trace_ids"]) <= known_traces for f in listed)

    table = cli("findings", "--db", analysed_db)
    assert table.exit_code == 0
    assert table.stdout.split()[0] == run_id
    rows = [cells for cells in table_rows(table.stdout) if cells[1]]
    assert [cells[1] for cells in rows] == [f["id"] for f in listed]
    assert [cells[0] for cells in rows] == [str(n) for n in range(1, len(listed) + 1)]
    for cells in rows:
        stored = findings_of_run[cells[1]]
        assert cells[4:] == [
            stored["severity"],
            f"{stored['confidence']:.2f}",
            str(stored["impact"]["trace_count"]),
            stored["status"],
            "",  # not reviewed
        ]


def test_findings_status_filter_keeps_only_findings_with_that_status(
    analysed_db: Path, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    # One run so far: every stored finding is new.
    assert {f["status"] for f in findings_of_run.values()} == {"new"}
    new = cli("findings", "--status", "new", "--json", "--db", analysed_db)
    assert new.exit_code == 0 and {f["id"] for f in json_lines(new)} == set(findings_of_run)
    recurring = cli("findings", "--status", "recurring", "--json", "--db", analysed_db)
    assert recurring.exit_code == 0 and json_lines(recurring) == []
    bad = cli("findings", "--status", "open", "--db", analysed_db)
    assert bad.exit_code == 2 and "--status" in bad.output


def test_findings_with_an_unknown_run_or_no_run_yet_exits_2(analysed_db: Path, store: Store) -> None:
    unknown = cli("findings", "--run", "run_nope", "--db", analysed_db)
    assert unknown.exit_code == 2 and "no run 'run_nope'" in flat(unknown.output)
    empty = cli("findings", "--db", store.path)
    assert empty.exit_code == 2 and "no run yet" in flat(empty.output)


# ----------------------------------------------------------------------------- show


def test_show_prints_the_finding_its_evidence_and_its_cited_traces_as_trees(
    analysed_db: Path, run_id: str, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    finding = max(findings_of_run.values(), key=lambda f: (len({e["trace_id"] for e in f["evidence"]}), f["id"]))
    cited = sorted({e["trace_id"] for e in finding["evidence"]})
    assert len(cited) >= 2
    ((cluster_id, category, severity),) = sql(
        analysed_db,
        "SELECT cluster_id, category, severity FROM findings WHERE run_id = ? AND id = ?",
        run_id,
        finding["id"],
    )

    result = cli("show", finding["id"], "--db", analysed_db)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{finding['title']}  ({finding['id']})"
    assert lines[1].startswith(f"{category} · {severity} · confidence {finding['confidence']:.2f}")
    assert f"status new · run {run_id} · cluster {cluster_id}" in lines[1]
    assert f"Root cause: {finding['root_cause']}" in result.stdout
    for evidence in finding["evidence"]:
        assert f"  {evidence['trace_id']} / {evidence['span_id']}: " in result.stdout
    headers = [line for line in lines if line.startswith("trace ")]
    assert [h.split()[1] for h in headers] == cited
    for trace_id in cited:
        for (span_id,) in sql(analysed_db, "SELECT span_id FROM spans WHERE trace_id = ?", trace_id):
            assert span_id in result.stdout
    assert lines[-1] == f"All {len(finding['trace_ids'])} traces: {' '.join(finding['trace_ids'])}"
    known = {r[0] for r in sql(analysed_db, "SELECT trace_id FROM traces")}
    assert set(finding["trace_ids"]) <= known


def test_show_an_unknown_finding_or_run_exits_2_naming_it(
    analysed_db: Path, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    unknown = cli("show", "f_0000000000", "--db", analysed_db)
    assert unknown.exit_code == 2 and "no finding 'f_0000000000'" in flat(unknown.output)
    some_id = sorted(findings_of_run)[0]
    other_run = cli("show", some_id, "--run", "run_nope", "--db", analysed_db)
    assert other_run.exit_code == 2 and f"no finding '{some_id}'" in flat(other_run.output)


# ----------------------------------------------------------------------------- diff


def _cohort_counts(db: Path, a: str, b: str) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    sizes = dict(
        sql(db, "SELECT agent_version, count(*) FROM traces WHERE agent_version IN (?, ?) GROUP BY agent_version", a, b)
    )
    per_category: dict[str, tuple[int, int]] = {}
    for category, version, n in sql(
        db,
        "SELECT i.category, t.agent_version, count(DISTINCT i.trace_id) FROM issues i"
        " JOIN traces t ON t.trace_id = i.trace_id WHERE t.agent_version IN (?, ?) GROUP BY 1, 2",
        a,
        b,
    ):
        count_a, count_b = per_category.get(category, (0, 0))
        per_category[category] = (n, count_b) if version == a else (count_a, n)
    return sizes, per_category


def test_diff_reports_per_category_rates_matching_the_stored_issues_of_each_cohort(analysed_db: Path) -> None:
    sizes, expected = _cohort_counts(analysed_db, "v1.8", "v1.9")
    assert sizes["v1.8"] > 100 and sizes["v1.9"] > 100 and len(expected) > 5

    result = cli("diff", "--by", "agent_version", "v1.8", "v1.9", "--json", "--db", analysed_db)

    assert result.exit_code == 0, result.output
    (report,) = json_lines(result)
    assert (report["traces_a"], report["traces_b"]) == (sizes["v1.8"], sizes["v1.9"])
    got = {row["category"]: row for row in report["categories"]}
    assert {c: (r["count_a"], r["count_b"]) for c, r in got.items()} == expected
    for category, (count_a, count_b) in expected.items():
        row = got[category]
        assert row["rate_a"] == pytest.approx(count_a / sizes["v1.8"], abs=1e-4)
        assert row["rate_b"] == pytest.approx(count_b / sizes["v1.9"], abs=1e-4)
        assert row["change"] == pytest.approx(count_b / sizes["v1.9"] - count_a / sizes["v1.8"], abs=1e-4)
        assert 0.0 <= row["p_value"] <= 1.0
    changes = [abs(r["change"]) for r in report["categories"]]
    assert changes == sorted(changes, reverse=True)

    table = cli("diff", "--by", "agent_version", "v1.8", "v1.9", "--db", analysed_db)
    assert table.exit_code == 0
    assert f"v1.8 ({sizes['v1.8']})" in table.stdout and f"v1.9 ({sizes['v1.9']})" in table.stdout
    rows = {cells[0]: cells for cells in table_rows(table.stdout)}
    for category, (count_a, count_b) in expected.items():
        sides = zip(rows[category][1:3], (count_a, count_b), (sizes["v1.8"], sizes["v1.9"]), strict=True)
        for cell, count, size in sides:
            shown = re.fullmatch(r"(\d+\.\d)% \((\d+)\)", cell)
            assert shown and int(shown.group(2)) == count, (category, cell)
            # one decimal of a percentage (the shown rate is rounded twice, so allow its last digit to differ)
            assert abs(float(shown.group(1)) - 100 * count / size) <= 0.1 + 1e-9, (category, cell)


def test_diff_with_the_cohorts_reversed_swaps_the_sides_and_negates_the_change(analysed_db: Path) -> None:
    forward = cli("diff", "--by", "agent_version", "v1.7", "v1.9", "--json", "--db", analysed_db)
    backward = cli("diff", "--by", "agent_version", "v1.9", "v1.7", "--json", "--db", analysed_db)

    assert forward.exit_code == 0 and backward.exit_code == 0
    (there,), (back,) = json_lines(forward), json_lines(backward)
    sizes, _ = _cohort_counts(analysed_db, "v1.7", "v1.9")
    assert (
        (there["traces_a"], there["traces_b"]) == (back["traces_b"], back["traces_a"]) == (sizes["v1.7"], sizes["v1.9"])
    )
    there_rows = {r["category"]: r for r in there["categories"]}
    back_rows = {r["category"]: r for r in back["categories"]}
    assert set(there_rows) == set(back_rows)
    for category, row in there_rows.items():
        assert (row["count_a"], row["count_b"]) == (back_rows[category]["count_b"], back_rows[category]["count_a"])
        assert row["change"] == pytest.approx(-back_rows[category]["change"], abs=1e-4)
        assert row["p_value"] == pytest.approx(back_rows[category]["p_value"])


def test_diff_with_a_cohort_that_has_no_traces_exits_2_naming_it(analysed_db: Path) -> None:
    assert sql(analysed_db, "SELECT count(*) FROM traces WHERE agent_version = 'v9.9'") == [(0,)]
    missing = cli("diff", "--by", "agent_version", "v1.8", "v9.9", "--db", analysed_db)
    assert missing.exit_code == 2 and "no traces with agent_version=v9.9" in flat(missing.output)
    unknown_attribute = cli("diff", "--by", "flavour", "v1.8", "v1.9", "--db", analysed_db)
    assert unknown_attribute.exit_code == 2 and "no traces with flavour=v1.8" in flat(unknown_attribute.output)
    no_by = cli("diff", "v1.8", "v1.9", "--db", analysed_db)
    assert no_by.exit_code == 2 and "--by" in no_by.output


def test_diff_refuses_a_bad_since_with_a_clear_message(analysed_db: Path) -> None:
    result = cli("diff", "--by", "agent_version", "v1.8", "v1.9", "--since", "last-tuesday", "--db", analysed_db)
    assert result.exit_code == 2
    assert "last-tuesday" in result.output


# ----------------------------------------------------------------------------- queue


def test_queue_lists_every_open_finding_highest_impact_first_and_honours_limit(
    analysed_db: Path, run_id: str, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    assert sql(analysed_db, "SELECT count(*) FROM reviews") == [(0,)]

    as_json = cli("queue", "--json", "--db", analysed_db)

    assert as_json.exit_code == 0, as_json.output
    listed = json_lines(as_json)
    assert {row["id"] for row in listed} == set(findings_of_run)
    weights = [weight(findings_of_run[row["id"]]) for row in listed]
    assert weights == sorted(weights, reverse=True)
    for row in listed:
        assert row["status"] == "new"
        assert row["trend"] == [[run_id, findings_of_run[row["id"]]["impact"]["trace_count"]]]

    table = cli("queue", "--db", analysed_db)
    assert table.exit_code == 0
    assert table.stdout.lstrip().startswith(f"{len(findings_of_run)} open findings")

    by_weight = sorted(findings_of_run.values(), key=weight, reverse=True)
    assert weight(by_weight[2]) > weight(by_weight[3])  # the cut below the third is unambiguous
    top = cli("queue", "--limit", "3", "--json", "--db", analysed_db)
    assert [row["id"] for row in json_lines(top)] == [f["id"] for f in by_weight[:3]]


def test_queue_refuses_a_negative_limit(analysed_db: Path) -> None:
    result = cli("queue", "--limit", "-1", "--db", analysed_db)
    assert result.exit_code == 2
    assert "--limit" in result.output


# ----------------------------------------------------------------------------- review


def test_review_as_false_positive_or_fixed_removes_the_finding_from_the_queue(
    analysed_copy: Path, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    false_positive, fixed = sorted(findings_of_run)[:2]

    first = cli(
        "review", false_positive, "--as", "false-positive", "--note", "test data, not a bug", "--db", analysed_copy
    )
    second = cli("review", fixed, "--as", "fixed", "--db", analysed_copy)

    assert first.exit_code == 0 and first.stdout.strip() == f"{false_positive}: false-positive"
    assert second.exit_code == 0 and second.stdout.strip() == f"{fixed}: fixed"
    assert sql(analysed_copy, "SELECT finding_id, verdict, of_id, note FROM reviews ORDER BY id") == [
        (false_positive, "false-positive", None, "test data, not a bug"),
        (fixed, "fixed", None, None),
    ]
    queue = cli("queue", "--json", "--db", analysed_copy)
    assert {row["id"] for row in json_lines(queue)} == set(findings_of_run) - {false_positive, fixed}
    table = cli("queue", "--db", analysed_copy)
    assert table.stdout.lstrip().startswith(f"{len(findings_of_run) - 2} open findings")
    assert false_positive not in table.stdout and fixed not in table.stdout


@dataclass(frozen=True)
class Reviewed:
    """A copy of the analysed store after three reviews and then a second offline run."""

    db: Path
    first_run: str
    next_run: str
    false_positive: str
    fixed: str
    duplicate: str
    original: str


@pytest.fixture(scope="module")
def reviewed(
    analysed_db: Path, run_id: str, findings_of_run: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Reviewed:
    db = copy_db(analysed_db, tmp_path_factory.mktemp("reviewed") / "reviewed.db")
    by_category: dict[str, list[str]] = {}
    for fid, finding in sorted(findings_of_run.items()):
        by_category.setdefault(finding["category"], []).append(fid)
    pair = next(ids[:2] for ids in by_category.values() if len(ids) >= 2)
    # The higher-ranked report of the family is marked the duplicate of the other.
    duplicate, original = sorted(pair, key=lambda fid: weight(findings_of_run[fid]), reverse=True)
    false_positive, fixed = [fid for fid in sorted(findings_of_run) if fid not in pair][:2]
    for args in (
        [false_positive, "--as", "false-positive"],
        [fixed, "--as", "fixed"],
        [duplicate, "--as", "duplicate", "--of", original],
    ):
        assert cli("review", *args, "--db", db).exit_code == 0
    # Other settings than the first run's, so this is a second run rather than a replacement of the first.
    again = cli("run", "--db", db, "--max-clusters", "11", "--quiet", "--format", "json")
    assert again.exit_code == 0, again.output
    (next_run,) = [r[0] for r in sql(db, "SELECT id FROM runs WHERE status = 'completed' AND id != ?", run_id)]
    return Reviewed(db, run_id, next_run, false_positive, fixed, duplicate, original)


def test_review_verdicts_take_effect_in_the_next_run_in_findings_show_and_queue(
    reviewed: Reviewed, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    """false-positive: suppressed in later runs; fixed, then seen again: regressed, and back in the queue."""
    listed = {f["id"]: f for f in json_lines(cli("findings", "--json", "--db", reviewed.db))}
    assert set(listed) == set(stored_findings(reviewed.db, reviewed.next_run)) - {reviewed.false_positive}
    assert reviewed.false_positive not in listed
    everything = {f["id"]: f for f in json_lines(cli("findings", "--all", "--json", "--db", reviewed.db))}
    assert set(everything) == set(listed) | {reviewed.false_positive}
    assert everything[reviewed.false_positive]["review"]["verdict"] == "false-positive"
    assert listed[reviewed.fixed]["status"] == "regressed"
    for fid, finding in listed.items():
        if fid in findings_of_run and fid not in (reviewed.fixed, reviewed.duplicate, reviewed.original):
            assert finding["status"] == "recurring", fid

    regressed = cli("findings", "--status", "regressed", "--json", "--db", reviewed.db)
    assert [f["id"] for f in json_lines(regressed)] == [reviewed.fixed]
    shown = cli("show", reviewed.fixed, "--db", reviewed.db)
    assert shown.exit_code == 0 and f"status regressed · run {reviewed.next_run}" in shown.stdout
    # A suppressed finding can still be shown, with its review.
    suppressed = cli("show", reviewed.false_positive, "--db", reviewed.db)
    assert suppressed.exit_code == 0 and "reviewed false-positive at " in suppressed.stdout

    queue = {row["id"]: row for row in json_lines(cli("queue", "--json", "--db", reviewed.db))}
    assert queue[reviewed.fixed]["status"] == "regressed"
    assert [entry[0] for entry in queue[reviewed.fixed]["trend"]] == [reviewed.first_run, reviewed.next_run]
    assert reviewed.false_positive not in queue


def test_review_as_duplicate_merges_it_into_the_original_in_the_next_run(
    reviewed: Reviewed, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    listed = {f["id"]: f for f in json_lines(cli("findings", "--json", "--db", reviewed.db))}
    assert reviewed.duplicate not in listed
    assert listed[reviewed.original]["status"] == "recurring"
    assert set(findings_of_run[reviewed.duplicate]["trace_ids"]) <= set(listed[reviewed.original]["trace_ids"])


def test_review_refuses_unknown_findings_and_a_duplicate_without_a_valid_of(
    analysed_copy: Path, findings_of_run: dict[str, dict[str, Any]]
) -> None:
    some, other = sorted(findings_of_run)[:2]
    cases = [
        (["f_0000000000", "--as", "fixed"], "no finding 'f_0000000000'"),
        ([some, "--as", "duplicate"], "a duplicate needs --of"),
        ([some, "--as", "duplicate", "--of", some], "a finding cannot duplicate itself"),
        ([some, "--as", "duplicate", "--of", "f_0000000000"], "no finding 'f_0000000000' to be a duplicate of"),
        ([some, "--as", "wontfix"], "'--as'"),
        ([other], "--as"),
    ]
    for args, message in cases:
        result = cli("review", *args, "--db", analysed_copy)
        assert result.exit_code == 2, args
        assert message in flat(result.output), (args, result.output)
    assert sql(analysed_copy, "SELECT count(*) FROM reviews") == [(0,)]


# ----------------------------------------------------------------------------- promote


def _plant_secrets(db: Path, trace_id: str, extra: str) -> None:
    """Add `extra` to every user message and every plain-text input of the trace's spans, in the raw store."""
    with closing(sqlite3.connect(db)) as conn, conn:
        for span_id, text in conn.execute(
            "SELECT span_id, input FROM spans WHERE trace_id = ? AND kind != 'tool' AND input IS NOT NULL", [trace_id]
        ).fetchall():
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if isinstance(value, list):
                for message in value:
                    if (
                        isinstance(message, dict)
                        and message.get("role") == "user"
                        and isinstance(message.get("content"), str)
                    ):
                        message["content"] += extra
                changed = json.dumps(value)
            elif value is None:
                changed = text + extra
            else:
                continue
            conn.execute("UPDATE spans SET input = ? WHERE trace_id = ? AND span_id = ?", [changed, trace_id, span_id])


def test_promote_writes_redacted_cases_that_cite_stored_traces_of_the_finding(
    analysed_copy: Path, findings_of_run: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    rows = sql(analysed_copy, "SELECT id, severity FROM findings WHERE category = 'safety.pii_exposure'")
    # The widest of the personal-data findings (one per tool or agent where the data showed).
    fid, severity = max(rows, key=lambda row: (len(findings_of_run[row[0]]["trace_ids"]), row[0]))
    finding = findings_of_run[fid]
    email, token = "jane.roe@example.org", "ghp_" + "Zq7" * 12
    candidates = {e["trace_id"] for e in finding["evidence"]} | set(finding["trace_ids"])
    for trace_id in candidates:
        _plant_secrets(analysed_copy, trace_id, f" (reach me at {email}, my token is {token})")
    target = tmp_path / "evals" / "cases_from_prod.yaml"

    result = cli("promote", fid, "--traces", "3", "--to", target, "--db", analysed_copy)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"3 new cases from {fid} in {target} (3 cases in the file)"
    text = target.read_text()
    cases = yaml.safe_load(text)["cases"]
    assert len(cases) == 3 and len({c["case_id"] for c in cases}) == 3
    known = {r[0] for r in sql(analysed_copy, "SELECT trace_id FROM traces")}
    promoted = [t for c in cases for t in c["source_trace_ids"]]
    assert len(promoted) == 3 and set(promoted) <= candidates & known
    for case in cases:
        assert (case["finding_id"], case["category"], case["severity"]) == (fid, "safety.pii_exposure", severity)
        assert case["input"].strip() and case["expected_behavior"].strip()
    # What must not leak: the planted secrets (they are in the raw store), every email and GitHub token in
    # the raw spans of the promoted traces, and the finding's own evidence (personal data it quotes).
    raw = " ".join(
        part or ""
        for t in promoted
        for row in sql(analysed_copy, "SELECT input, output, status_message FROM spans WHERE trace_id = ?", t)
        for part in row
    )
    assert email in raw and token in raw
    quoted = [e["quote"] for e in finding["evidence"]]
    secrets = {email, token, *EMAIL.findall(raw), *GITHUB_TOKEN.findall(raw), *quoted}
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []

    again = cli("promote", fid, "--traces", "3", "--to", target, "--db", analysed_copy)
    assert again.exit_code == 0
    assert again.stdout.strip() == f"0 new cases from {fid} in {target} (3 cases in the file)"
    assert yaml.safe_load(target.read_text())["cases"] == cases


def test_promote_an_unknown_finding_exits_2_and_writes_nothing(analysed_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "cases.yaml"
    result = cli("promote", "f_0000000000", "--to", target, "--db", analysed_db)
    assert result.exit_code == 2
    assert "no finding 'f_0000000000'" in flat(result.output)
    assert not target.exists()


def test_promote_refuses_a_negative_trace_count(
    analysed_db: Path, findings_of_run: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    target = tmp_path / "cases.yaml"
    result = cli("promote", sorted(findings_of_run)[0], "--traces", "-1", "--to", target, "--db", analysed_db)
    assert result.exit_code == 2
    assert "--traces" in result.output
    assert not target.exists()


# ----------------------------------------------------------------------------- schedule


def test_schedule_add_list_and_remove_round_trip_through_the_store(store: Store) -> None:
    added = cli(
        *"schedule add support-hourly --every hourly --source exports/*.jsonl.gz".split(),
        *"--start 2025-03-05T10:00:00Z --max-clusters 4 --db".split(),
        store.path,
    )

    assert added.exit_code == 0, added.output
    assert added.stdout.strip() == (
        "schedule support-hourly: hourly over exports/*.jsonl.gz, first window from 2025-03-05T10:00:00.000000Z"
    )
    ((name, every, source, options, watermark),) = sql(
        store.path, "SELECT name, every, source, options, watermark FROM schedules"
    )
    assert (name, every, source, watermark) == (
        "support-hourly",
        "hourly",
        "exports/*.jsonl.gz",
        "2025-03-05T10:00:00.000000Z",
    )
    assert json.loads(options) == {"max_clusters": 4}

    listed = cli("schedule", "list", "--db", store.path)
    assert listed.exit_code == 0
    (row,) = table_rows(listed.stdout)
    assert row[:4] == ["support-hourly", "hourly", "exports/*.jsonl.gz", "2025-03-05T10:00:00.000000Z"]

    removed = cli("schedule", "remove", "support-hourly", "--db", store.path)
    assert removed.exit_code == 0 and removed.stdout.strip() == "removed support-hourly"
    assert sql(store.path, "SELECT count(*) FROM schedules") == [(0,)]
    assert table_rows(cli("schedule", "list", "--db", store.path).stdout) == []


def test_schedule_refuses_a_bad_cadence_a_taken_name_and_an_unknown_schedule(store: Store) -> None:
    bad = cli("schedule", "add", "s", "--every", "fortnightly", "--source", "x.jsonl", "--db", store.path)
    assert bad.exit_code == 2 and "--every" in flat(bad.output) and "'fortnightly'" in flat(bad.output)
    assert sql(store.path, "SELECT count(*) FROM schedules") == [(0,)]

    assert cli("schedule", "add", "s", "--every", "daily", "--source", "x.jsonl", "--db", store.path).exit_code == 0
    taken = cli("schedule", "add", "s", "--every", "weekly", "--source", "y.jsonl", "--db", store.path)
    assert taken.exit_code == 2 and "a schedule named 's' exists" in flat(taken.output)
    assert sql(store.path, "SELECT every, source FROM schedules") == [("daily", "x.jsonl")]

    bad_start = cli(
        "schedule", "add", "t", "--every", "daily", "--source", "x.jsonl", "--start", "soon", "--db", store.path
    )
    assert bad_start.exit_code == 2 and "'soon'" in flat(bad_start.output)

    unknown = cli("schedule", "remove", "nope", "--db", store.path)
    assert unknown.exit_code == 2 and "no schedule 'nope'" in flat(unknown.output)


def test_schedule_run_due_runs_each_closed_window_once_and_records_its_runs(store: Store) -> None:
    trace_ids = {json.loads(line)["context"]["trace_id"] for line in PHOENIX.read_text().splitlines() if line}
    added = cli(
        *"schedule add demo-daily --every daily --start 2025-03-03T00:00:00Z --source".split(),
        PHOENIX,
        "--db",
        store.path,
    )
    assert added.exit_code == 0, added.output

    due = cli("schedule", "run-due", "--now", "2025-03-05T00:30:00Z", "--db", store.path)

    assert due.exit_code == 0, due.output
    windows = [
        ("2025-03-03T00:00:00.000000Z", "2025-03-04T00:00:00.000000Z"),
        ("2025-03-04T00:00:00.000000Z", "2025-03-05T00:00:00.000000Z"),
    ]
    lines = due.stdout.splitlines()
    assert [line.split(": ", 2)[1] for line in lines[:2]] == [f"window {a} → {b}" for a, b in windows]
    assert lines[0].startswith("[1/2] demo-daily: ") and lines[1].startswith("[2/2] demo-daily: ")
    assert lines[2].startswith("2 windows done: 2 with traces, 0 without; ")
    runs = sql(store.path, "SELECT id, status, window_start, window_end FROM runs ORDER BY window_start")
    assert [(status, a, b) for _, status, a, b in runs] == [("completed", a, b) for a, b in windows]
    assert {r[0] for r in sql(store.path, "SELECT trace_id FROM traces")} == trace_ids
    start_of = dict(sql(store.path, "SELECT trace_id, start_time FROM traces"))
    for run, _, start, end in runs:
        clustered = [
            t
            for (data,) in sql(store.path, "SELECT data FROM clusters WHERE run_id = ?", run)
            for t in json.loads(data)["trace_ids"]
        ]
        cited = [
            t
            for (data,) in sql(store.path, "SELECT data FROM findings WHERE run_id = ?", run)
            for t in json.loads(data)["trace_ids"]
        ]
        assert clustered, run
        assert all(start <= start_of[t] < end for t in clustered + cited)
    assert sql(store.path, "SELECT watermark FROM schedules") == [(windows[-1][1],)]

    again = cli("schedule", "run-due", "--now", "2025-03-05T00:30:00Z", "--db", store.path)
    assert again.exit_code == 0 and again.stdout.strip() == "nothing due"
    assert sql(store.path, "SELECT count(*) FROM runs") == [(2,)]


def test_schedule_run_due_refuses_a_bad_now(store: Store) -> None:
    result = cli("schedule", "run-due", "--now", "tomorrow-ish", "--db", store.path)
    assert result.exit_code == 2
    assert "tomorrow-ish" in result.output


def test_schedule_run_due_with_a_missing_source_exits_2_naming_it(store: Store, in_tmp: Path) -> None:
    added = cli(
        *"schedule add gone --every daily --source missing.jsonl --start 2025-03-03T00:00:00Z --db".split(), store.path
    )
    assert added.exit_code == 0, added.output
    result = cli("schedule", "run-due", "--now", "2025-03-04T00:30:00Z", "--db", store.path)
    assert result.exit_code == 2
    assert "missing.jsonl" in result.output
    assert sql(store.path, "SELECT watermark FROM schedules") == [("2025-03-03T00:00:00.000000Z",)]


# ----------------------------------------------------------------------------- eval
# (the eval of the shipped corpus: tests/test_eval_accuracy.py)


def test_eval_refuses_a_directory_that_is_not_a_labelled_dataset(in_tmp: Path) -> None:
    (in_tmp / "plain").mkdir()
    no_truth = cli("eval", "plain", "-o", "r.json")
    assert no_truth.exit_code == 2 and "plain: no truth.jsonl" in flat(no_truth.output)

    (in_tmp / "plain" / "truth.jsonl").write_text('{"trace_id": "t1", "issues": []}\n')
    no_traces = cli("eval", "plain", "-o", "r.json")
    assert no_traces.exit_code == 2 and "plain: no traces/ directory" in flat(no_traces.output)

    missing = cli("eval", "nowhere", "-o", "r.json")
    assert missing.exit_code == 2 and "'nowhere' does not exist" in flat(missing.output)
    assert not (in_tmp / "r.json").exists()


# ----------------------------------------------------------------------------- labels


def test_labels_attach_to_stored_traces_and_keep_rows_for_traces_not_ingested_yet(
    demo_store: Store, in_tmp: Path
) -> None:
    assert sql(demo_store.path, "SELECT count(*) FROM labels") == [(0,)]
    first, second = [r[0] for r in sql(demo_store.path, "SELECT trace_id FROM traces ORDER BY trace_id LIMIT 2")]
    rows = [
        json.dumps(
            {"trace_id": first, "label": "correctness", "score": 0.0, "passed": False, "comment": "wrong refund amount"}
        ),
        json.dumps({"trace_id": second, "outcome": {"resolved": False, "escalated": True, "csat": 2}}),
        json.dumps({"trace_id": "not-ingested-yet", "label": "helpfulness", "score": 1.0}),
        "{not json",
        json.dumps({"trace_id": first}),
    ]
    (in_tmp / "labels.jsonl").write_text("\n".join(rows) + "\n")

    result = cli("labels", "labels.jsonl", "--db", demo_store.path)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "3 label rows: 2 traces labelled, 1 traces not ingested yet, 2 rows rejected"
    assert "rejected: labels.jsonl:4: invalid JSON" in flat(result.stderr)
    assert "rejected: labels.jsonl:5:" in flat(result.stderr)
    stored = {(t, name): json.loads(value) for t, name, value in sql(demo_store.path, "SELECT * FROM labels")}
    assert stored == {
        (first, "correctness"): {"score": 0.0, "passed": False, "comment": "wrong refund amount"},
        (second, "outcome"): {"resolved": False, "escalated": True, "csat": 2},
        ("not-ingested-yet", "helpfulness"): {"score": 1.0},
    }
    ((labels,),) = sql(demo_store.path, "SELECT labels FROM traces WHERE trace_id = ?", first)
    ((outcome,),) = sql(demo_store.path, "SELECT outcome FROM traces WHERE trace_id = ?", second)
    assert json.loads(labels)["correctness"]["passed"] is False
    assert json.loads(outcome) == {"resolved": False, "escalated": True, "csat": 2}


def test_labels_from_the_shipped_file_attach_to_every_stored_trace_it_names(demo_store: Store) -> None:
    lines = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    named = {row["trace_id"] for row in lines}
    stored = {r[0] for r in sql(demo_store.path, "SELECT trace_id FROM traces")}

    result = cli("labels", LABELS, "--json", "--db", demo_store.path)

    assert result.exit_code == 0, result.output
    assert json_lines(result) == [
        {"rows": len(lines), "attached": len(named & stored), "pending": len(named - stored), "rejected": 0}
    ]
    labelled = {
        r[0] for r in sql(demo_store.path, "SELECT trace_id FROM traces WHERE labels != '{}' OR outcome != '{}'")
    }
    assert labelled == named & stored and len(labelled) > 100


def test_labels_with_no_valid_row_or_a_missing_file_exits_2(demo_store: Store, in_tmp: Path) -> None:
    (in_tmp / "junk.jsonl").write_text("not json\n" + json.dumps({"label": "x"}) + "\n")
    junk = cli("labels", "junk.jsonl", "--db", demo_store.path)
    assert junk.exit_code == 2 and "no valid label rows in junk.jsonl" in flat(junk.output)

    missing = cli("labels", "absent.jsonl", "--db", demo_store.path)
    assert missing.exit_code == 2 and "absent.jsonl" in flat(missing.output)
    assert sql(demo_store.path, "SELECT count(*) FROM labels") == [(0,)]


@pytest.mark.xfail(
    strict=True,
    reason="labels joined after the rules layer ran do not make it analyse those traces"
    " again: their documents (which `clusters` and `run` cluster on) stay without"
    " their labels and outcome",
)
def test_labels_joined_after_detect_reach_the_documents_the_next_detect_writes(demo_store: Store) -> None:
    with_outcome = {row["trace_id"] for row in map(json.loads, LABELS.read_text().splitlines()) if "outcome" in row}
    assert cli("labels", LABELS, "--db", demo_store.path).exit_code == 0
    assert cli("detect", "--db", demo_store.path).exit_code == 0
    documents = dict(sql(demo_store.path, "SELECT trace_id, text FROM documents"))
    stale = sorted(t for t in with_outcome if t in documents and "outcome:" not in documents[t])
    assert stale == []


def test_reviews_are_listed_shown_and_can_be_undone(reviewed: Reviewed, tmp_path: Path) -> None:
    db = copy_db(reviewed.db, tmp_path / "undo.db")
    listed = {r["finding_id"]: r for r in json_lines(cli("reviews", "list", "--json", "--db", db))}
    assert {fid: r["verdict"] for fid, r in listed.items()} == {
        reviewed.false_positive: "false-positive", reviewed.fixed: "fixed", reviewed.duplicate: "duplicate"
    }
    assert listed[reviewed.duplicate]["of_id"] == reviewed.original
    assert cli("review", reviewed.fixed, "--as", "fixed", "--note", "schema fixed in v2", "--db", db).exit_code == 0
    shown = cli("show", reviewed.fixed, "--db", db)
    assert "reviewed fixed at " in shown.stdout and "schema fixed in v2" in shown.stdout

    undone = cli("review", reviewed.false_positive, "--undo", "--db", db)
    assert undone.exit_code == 0 and "now unreviewed" in undone.stdout
    assert reviewed.false_positive in {f["id"] for f in json_lines(cli("findings", "--json", "--db", db))}
    remaining = json_lines(cli("reviews", "list", "--json", "--db", db))
    assert reviewed.false_positive not in {r["finding_id"] for r in remaining}
    again = cli("review", reviewed.fixed, "--undo", "--db", db)  # the earlier verdict applies again
    assert again.exit_code == 0 and "now fixed" in again.stdout
    nothing = cli("review", reviewed.false_positive, "--undo", "--db", db)
    assert nothing.exit_code != 0 and "has no review to undo" in nothing.output
    assert cli("review", reviewed.fixed, "--db", db).exit_code != 0  # neither --as nor --undo
