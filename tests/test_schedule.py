"""Scheduled windows: consecutive, each run once, a crash leaves its window to be retried."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from investigator.schedule import add_schedule, due_windows, list_schedules, remove_schedule, run_due
from investigator.store import Store


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 5, hour, minute, tzinfo=UTC)


def test_windows_are_consecutive_and_run_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
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
    assert remove_schedule(store, "q") and not remove_schedule(store, "q")
