"""Scheduled windows: consecutive, each run once, a crash leaves its window to be retried, empty
windows coalesced and not analysed, and a backlog through the CLI with progress and counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from investigator.cli import main
from investigator.ingest.base import span_row
from investigator.schedule import add_schedule, due_windows, list_schedules, run_due
from investigator.store import Store

DEMO = Path(__file__).resolve().parents[1] / "evals" / "data" / "demo" / "traces"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 5, hour, minute, tzinfo=UTC)


def _traffic(store: Store, *hours: int) -> None:
    """One trace starting at each of these hours of the day of `at`."""
    rows = [
        span_row(f"t{hour:02d}", f"s{hour:02d}", name="chat", kind="llm", source_format="otlp-json",
                 start_time=f"2025-03-05T{hour:02d}:10:00Z", end_time=f"2025-03-05T{hour:02d}:10:01Z")
        for hour in hours
    ]
    store.write_batch(rows)
    store.refresh_traces([r["trace_id"] for r in rows])


def test_windows_are_consecutive_and_run_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _traffic(store, 10, 11, 12)
    add_schedule(store, "hourly-support", "hourly", "traces/*.jsonl", {}, start="2025-03-05T10:00:00Z")
    seen: list[tuple[str, str]] = []
    run_due(store, now=at(12, 30), run_window=lambda s, sch, a, b: seen.append((a, b)))
    run_due(store, now=at(12, 59), run_window=lambda s, sch, a, b: seen.append((a, b)))
    run_due(store, now=at(13, 5), run_window=lambda s, sch, a, b: seen.append((a, b)))
    assert seen == [
        ("2025-03-05T10:00:00.000000Z", "2025-03-05T11:00:00.000000Z"),
        ("2025-03-05T11:00:00.000000Z", "2025-03-05T12:00:00.000000Z"),
        ("2025-03-05T12:00:00.000000Z", "2025-03-05T13:00:00.000000Z"),
    ]
    assert list_schedules(store)[0].watermark == "2025-03-05T13:00:00.000000Z"


def test_a_crash_leaves_the_window_to_be_retried(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _traffic(store, 10, 11)
    add_schedule(store, "h", "hourly", "x", {}, start="2025-03-05T10:00:00Z")

    def crash(store, schedule, start, end):  # noqa: ANN001
        if start.startswith("2025-03-05T11"):
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_due(store, now=at(12, 30), run_window=crash)
    assert list_schedules(store)[0].watermark == "2025-03-05T11:00:00.000000Z"
    retried: list[str] = []
    run_due(store, now=at(12, 30), run_window=lambda s, sch, a, b: retried.append(a))
    assert retried == ["2025-03-05T11:00:00.000000Z"]


def test_cron_cadence_and_bad_cadence(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    schedule = add_schedule(store, "q", "*/15 * * * *", "x", {}, start="2025-03-05T10:00:00Z")
    assert [w[1][11:16] for w in due_windows(schedule, at(10, 50))] == ["10:15", "10:30", "10:45"]
    with pytest.raises(ValueError):
        add_schedule(store, "bad", "every tuesday", "x", {})
    with pytest.raises(ValueError):
        add_schedule(store, "q", "daily", "x", {})
    assert store.remove_schedule("q") and not store.remove_schedule("q")


def test_empty_windows_are_not_analysed_and_consecutive_ones_are_reported_as_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    _traffic(store, 10, 14)
    add_schedule(store, "h", "hourly", "x", {}, start="2025-03-05T10:00:00Z")
    ran: list[str] = []
    told: list[str] = []
    done = run_due(store, now=at(15, 30), run_window=lambda s, sch, a, b: ran.append(a[11:13]),
                   on_window=lambda w: told.append(w.describe()))
    assert ran == ["10", "14"]
    assert [(w.start[11:13], w.end[11:13], w.windows, w.traces) for w in done] == [
        ("10", "11", 1, 1), ("11", "14", 3, 0), ("14", "15", 1, 1)
    ]
    assert told == [w.describe() for w in done] and told[1].startswith("[4/5] h: 3 windows ")
    assert told[1].endswith(": no traces") and told[0].startswith("[1/5] h: window 2025-03-05T10:00")
    assert list_schedules(store)[0].watermark == "2025-03-05T15:00:00.000000Z"


def test_a_backlog_runs_with_progress_and_per_window_counts(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    cli = CliRunner()
    missing = cli.invoke(main, ["schedule", "add", "nothing", "--every", "daily", "--source",
                                str(tmp_path / "none" / "*.jsonl"), "--db", db])
    assert missing.exit_code == 0 and "no files match this pattern now" in missing.stderr
    assert cli.invoke(main, ["schedule", "remove", "nothing", "--db", db]).exit_code == 0
    added = cli.invoke(main, ["schedule", "add", "daily", "--every", "daily", "--source", str(DEMO / "*.jsonl"),
                              "--start", "2025-03-07T00:00:00Z", "--max-clusters", "1", "--db", db])
    assert added.exit_code == 0 and "warning" not in added.stderr
    result = cli.invoke(main, ["schedule", "run-due", "--now", "2025-03-12T00:00:00Z", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    with Store(db) as store:
        per_day = [store.count_traces(f"2025-03-{d:02d}T00:00:00Z", f"2025-03-{d + 1:02d}T00:00:00Z")
                   for d in (7, 8, 9)]
    assert all(per_day)
    for index, (line, traces) in enumerate(zip(lines, per_day, strict=False), 1):
        assert line.startswith(f"[{index}/5] daily: window 2025-03-{6 + index:02d}T00:00:00.000000Z → ")
        assert f": {traces} traces, " in line and " new, " in line and " resolved" in line
    assert lines[3].startswith("[5/5] daily: 2 windows 2025-03-10") and lines[3].endswith("no traces")
    assert lines[4].startswith("5 windows done: 3 with traces, 2 without; ")
    again = cli.invoke(main, ["schedule", "run-due", "--now", "2025-03-12T00:00:00Z", "--db", db])
    assert again.stdout.strip() == "nothing due"
