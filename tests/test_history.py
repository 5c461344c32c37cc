"""Finding history over a sequence of hourly windows of the demo corpus: every status transition,
reviews that suppress, merge and watch, the review queue, and promotion to eval cases."""

from __future__ import annotations

import shutil

import orjson
import pytest
import yaml

from investigator.clustering import ClusterSettings
from investigator.history import add_review, finding_states, review_queue
from investigator.judge.settings import JudgeSettings
from investigator.models import SEVERITY_WEIGHTS
from investigator.promote import promote_finding
from investigator.redact import Redactor
from investigator.runner import RunSettings, execute_run
from investigator.store import Store

FAMILY = "reasoning.invalid_tool_arguments"
PRESENT_IN = (0, 1, 4)  # the hours whose window holds the family's traces


def _hour(h: int) -> str:
    return f"2025-03-10T{h:02d}:00:00.000000Z"


def _retime(store: Store) -> None:
    """Squeeze the demo week into five hours: the family's traces into the hours of PRESENT_IN, the
    rest spread over every hour."""
    family = sorted({i.trace_id for i in store.issues() if i.category == FAMILY})
    others = [t.trace_id for t in store.list_traces() if t.trace_id not in set(family)]
    hours = {t: PRESENT_IN[i * len(PRESENT_IN) // len(family)] for i, t in enumerate(family)}
    hours.update({t: i % 5 for i, t in enumerate(others)})
    with store.conn:
        for index, (trace_id, hour) in enumerate(sorted(hours.items())):
            stamp = f"2025-03-10T{hour:02d}:{index % 60:02d}:{index % 59:02d}.000000Z"
            store.conn.execute("UPDATE traces SET start_time = ? WHERE trace_id = ?", [stamp, trace_id])


def _window(store: Store, hour: int):
    settings = RunSettings(since=_hour(hour), until=_hour(hour + 1), clusters=ClusterSettings(min_cluster_size=3),
                           judge=JudgeSettings(concurrency=1))
    return execute_run(store, settings)


@pytest.fixture
def hourly(demo_store):
    _retime(demo_store)
    return demo_store


def test_hourly_windows_walk_a_finding_through_every_status(hourly, tmp_path):
    hourly.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(hourly.path, tmp_path / "control.db")
    with Store(tmp_path / "control.db") as control:  # the same windows with no review made
        seen = [{f.id: f for f in _window(control, hour).findings} for hour in range(5)]
    family = next(f for f in seen[0].values() if f.category == FAMILY)
    assert [family.id in found for found in seen] == [True, True, False, False, True]
    k, noise = next((h, fid) for h in range(4) for fid in sorted(seen[h]) if fid in seen[h + 1] and fid != family.id)
    duplicate = next(fid for fid in sorted(seen[4]) if fid not in (family.id, noise))

    results = []
    for hour in range(5):
        if hour == 2:
            add_review(hourly, family.id, "fixed", note="the schema marks amount as a number now")
        if hour == k + 1:
            add_review(hourly, noise, "false-positive", note="expected behaviour")
        if hour == 4:
            add_review(hourly, duplicate, "duplicate", of_id=family.id)
        results.append(_window(hourly, hour))
        if hour == 3:
            assert finding_states(hourly)[family.id].status == "resolved"  # absent from two windows
            assert family.id not in {s.finding.id for s in review_queue(hourly)}
    found = [{f.id: f for f in r.findings} for r in results]

    assert found[0][family.id].status == "new"
    assert found[1][family.id].status == "recurring"
    assert family.id not in found[2] and family.id not in found[3]
    assert found[4][family.id].status == "regressed"  # marked fixed, and back
    assert noise not in found[k + 1]  # a false positive is suppressed from then on
    assert duplicate not in found[4]  # merged into the finding it duplicates
    assert set(found[4][family.id].trace_ids) >= set(seen[4][duplicate].trace_ids)
    state = finding_states(hourly)[family.id]
    assert [run for run, _ in state.trace_counts] == [results[h].run.id for h in (0, 1, 4)]
    assert all(count > 0 for _, count in state.trace_counts)
    queued = {s.finding.id: s for s in review_queue(hourly)}
    assert queued[family.id].status == "regressed"  # a fixed finding that came back is open again
    assert noise not in queued and duplicate not in queued


def test_review_queue_lists_open_findings_highest_impact_first_up_to_its_limit(hourly):
    _window(hourly, 0)
    queue = review_queue(hourly)
    assert queue
    keys = [SEVERITY_WEIGHTS[s.finding.severity] * s.finding.impact.trace_count * s.finding.confidence for s in queue]
    assert keys == sorted(keys, reverse=True)
    assert len(review_queue(hourly, limit=2)) == 2
    add_review(hourly, queue[0].finding.id, "false-positive")
    assert queue[0].finding.id not in {s.finding.id for s in review_queue(hourly)}


def test_promoted_cases_are_redacted_stable_and_load_in_pytest(hourly, tmp_path):
    from investigator.evalcases import load_cases, pytest_cases

    findings = _window(hourly, 0).findings
    path = tmp_path / "cases_from_prod.yaml"
    for finding in findings:
        promote_finding(hourly, finding.id, str(path), max_traces=3)
    first = path.read_text()
    added, _ = promote_finding(hourly, findings[0].id, str(path), max_traces=3)

    assert added == 0 and path.read_text() == first  # promoting again changes nothing
    cases = load_cases(path)
    assert len({c["case_id"] for c in cases}) == len(cases) >= len(findings)
    raw = yaml.safe_load(first)
    text = first
    assert not Redactor().find(text), [m.value for m in Redactor().find(text)][:5]
    for case in cases:
        assert case["category"] in {f.category for f in findings}
        assert case["source_trace_ids"] and all(hourly.get_trace(t) for t in case["source_trace_ids"])
    params = pytest_cases(path)
    assert len(params) == len(cases) and raw


def test_quiet_windows_leave_open_findings_open_and_busy_ones_resolve_them(hourly):
    from click.testing import CliRunner

    from investigator.cli import main

    def queued() -> dict[str, str]:
        result = CliRunner().invoke(main, ["queue", "--json", "--db", str(hourly.path)])
        assert result.exit_code == 0, result.output
        return {f["id"]: f["status"] for f in map(orjson.loads, result.output.splitlines())}

    family = next(f for f in _window(hourly, 0).findings if f.category == FAMILY)
    assert queued()[family.id] == "new"
    for night in (20, 21, 22):  # a quiet night: windows with no traffic at all
        assert _window(hourly, night).run.counts.get("traces", 0) == 0
    assert queued()[family.id] == "new"  # nothing ran, so nothing says the failure is gone
    assert finding_states(hourly)[family.id].status == "new"
    _window(hourly, 2)
    _window(hourly, 3)  # two busy windows in which its agent ran without it
    assert family.id not in queued()
    assert finding_states(hourly)[family.id].status == "resolved"
