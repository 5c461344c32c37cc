"""Scheduled windows: run the investigator over consecutive time windows of a trace source.

A schedule has a cadence (hourly, daily, weekly, or a cron expression) and a source (a path or glob
of trace files). Its watermark is the end of the last window it finished. `run_due` runs every window
that has closed since: consecutive (no gaps, no overlaps), each recorded only after its run completed
— so running it twice does nothing twice, and a crash leaves the window to be retried.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from croniter import croniter

from investigator.store import Store
from investigator.timefmt import now_iso, parse_iso, to_iso

CADENCES = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1"}


@dataclass
class Schedule:
    name: str
    every: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    watermark: str | None = None


def cron_of(every: str) -> str:
    expression = CADENCES.get(every, every)
    if not croniter.is_valid(expression):
        raise ValueError(f"--every must be hourly, daily, weekly or a cron expression, not {every!r}")
    return expression


def _boundary_at_or_before(expression: str, moment: datetime) -> datetime:
    it = croniter(expression, moment)
    nxt = it.get_next(datetime)
    return it.get_prev(datetime) if nxt > moment else nxt


def add_schedule(store: Store, name: str, every: str, source: str, options: dict[str, Any],
                 start: str | None = None, now: datetime | None = None) -> Schedule:
    """Add a schedule. Its first window starts at `start`, else at the last boundary before now."""
    expression = cron_of(every)
    moment = now or datetime.now(UTC)
    first = parse_iso(to_iso(start)) if start else _boundary_at_or_before(expression, moment)
    schedule = Schedule(name, every, source, options, to_iso(first.isoformat()))
    with store.conn:
        if store.conn.execute("SELECT 1 FROM schedules WHERE name = ?", [name]).fetchone():
            raise ValueError(f"a schedule named {name!r} exists; remove it first")
        store.conn.execute(
            "INSERT INTO schedules (name, every, source, options, watermark, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            [name, every, source, orjson.dumps(options).decode(), schedule.watermark, now_iso()],
        )
    return schedule


def list_schedules(store: Store) -> list[Schedule]:
    return [
        Schedule(r[0], r[1], r[2], orjson.loads(r[3]), r[4])
        for r in store.conn.execute("SELECT name, every, source, options, watermark FROM schedules ORDER BY name")
    ]


def remove_schedule(store: Store, name: str) -> bool:
    with store.conn:
        return store.conn.execute("DELETE FROM schedules WHERE name = ?", [name]).rowcount > 0


def due_windows(schedule: Schedule, now: datetime) -> list[tuple[str, str]]:
    """The closed windows after the watermark, in order: [(start, end), ...]."""
    expression = cron_of(schedule.every)
    start = parse_iso(schedule.watermark) if schedule.watermark else _boundary_at_or_before(expression, now)
    windows = []
    it = croniter(expression, start)
    while True:
        end = it.get_next(datetime)
        if end > now:
            break
        windows.append((to_iso(start.isoformat()), to_iso(end.isoformat())))
        start = end
    return windows


def run_due(store: Store, now: datetime | None = None,
            run_window: Callable[[Store, Schedule, str, str], Any] | None = None) -> list[tuple[str, str, str]]:
    """Run every due window of every schedule; returns (schedule, start, end) of each window run.
    The watermark moves only after a window's run completed."""
    from investigator.runner import RunSettings, execute_run

    def default_run(store: Store, schedule: Schedule, start: str, end: str) -> Any:
        options = {k: v for k, v in schedule.options.items() if k in RunSettings.__dataclass_fields__}
        return execute_run(store, RunSettings(paths=[schedule.source], since=start, until=end, **options))

    runner = run_window or default_run
    moment = now or datetime.now(UTC)
    done = []
    for schedule in list_schedules(store):
        for start, end in due_windows(schedule, moment):
            runner(store, schedule, start, end)
            with store.conn:
                store.conn.execute("UPDATE schedules SET watermark = ? WHERE name = ?", [end, schedule.name])
            schedule.watermark = end
            done.append((schedule.name, start, end))
    return done


def run_daemon(store: Store, interval_s: float = 60.0, on_window: Callable[[tuple], None] | None = None) -> None:
    """Keep running due windows, checking every `interval_s` seconds, until interrupted."""
    while True:
        for window in run_due(store):
            if on_window:
                on_window(window)
        time.sleep(interval_s)
