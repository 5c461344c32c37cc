"""Scheduled windows: run the investigator over consecutive time windows of a trace source.

A schedule has a cadence (hourly, daily, weekly, or a cron expression) and a source (a path or glob
of trace files, or a ClickHouse table, which is asked only for the due windows). Its watermark is
the end of the last window it finished. `run_due` runs every window that has closed since:
consecutive (no gaps, no overlaps), each recorded only after its run completed — so running it twice
does nothing twice, and a crash leaves the window to be retried. A backlog is cheap where it is
empty: the source is read once, and a window with no traces is not analysed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    store.add_schedule(name, every, source, options, schedule.watermark, now_iso())
    return schedule


def list_schedules(store: Store) -> list[Schedule]:
    return [Schedule(*row) for row in store.schedule_rows()]


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


@dataclass
class WindowDone:
    """One window a schedule finished (or several consecutive empty ones, coalesced), with what it
    found: findings new in it, recurring (or regressed) in it, and open findings it resolved."""

    schedule: str
    start: str
    end: str
    traces: int
    windows: int = 1
    findings: int = 0
    new: int = 0
    recurring: int = 0
    resolved: int = 0
    done: int = 0  # windows of this schedule finished so far in this call, and how many were due
    due: int = 0

    def describe(self) -> str:
        progress = f"[{self.done}/{self.due}] " if self.due > 1 else ""
        span = f"{self.windows} windows" if self.windows > 1 else "window"
        span += f" {self.start} → {self.end}"
        if not self.traces:
            return f"{progress}{self.schedule}: {span}: no traces"
        return (f"{progress}{self.schedule}: {span}: {self.traces} traces,"
                f" {self.findings} finding{'' if self.findings == 1 else 's'}"
                f" ({self.new} new, {self.recurring} recurring), {self.resolved} resolved")


RunWindow = Callable[[Store, Schedule, str, str], Any]


def run_due(store: Store, now: datetime | None = None, run_window: RunWindow | None = None,
            on_window: Callable[[WindowDone], None] | None = None) -> list[WindowDone]:
    """Run every due window of every schedule, oldest first, and say how each went (`on_window` is
    told as each finishes). The source is ingested once per schedule, not once per window; a
    window with no traces is not analysed, and consecutive ones are reported as one. The
    watermark moves only after a window's run completed."""
    moment = now or datetime.now(UTC)
    finished: list[WindowDone] = []
    for schedule in list_schedules(store):
        due = due_windows(schedule, moment)
        if not due:
            continue
        if run_window is None:
            _ingest(store, schedule, due)
        quiet: WindowDone | None = None  # the run of empty windows so far, reported as one
        for done, (start, end) in enumerate(due, 1):
            traces = store.count_traces(start, end)
            if traces and quiet:
                finished.append(_report(quiet, on_window))
                quiet = None
            if traces:
                window = _run_window(store, schedule, start, end, traces, run_window)
            elif quiet:
                quiet.end, quiet.windows = end, quiet.windows + 1
                window = quiet
            else:
                window = quiet = WindowDone(schedule.name, start, end, 0)
            store.set_watermark(schedule.name, end)
            schedule.watermark = end
            window.done, window.due = done, len(due)
            if traces:
                finished.append(_report(window, on_window))
        if quiet:
            finished.append(_report(quiet, on_window))
    return finished


def _report(window: WindowDone, on_window: Callable[[WindowDone], None] | None) -> WindowDone:
    if on_window:
        on_window(window)
    return window


def _ingest(store: Store, schedule: Schedule, due: list[tuple[str, str]]) -> None:
    """Ingest the schedule's source: files whole, a query source for the due windows only."""
    from investigator.errors import InputError
    from investigator.sources import ingest_sources

    fmt = schedule.options.get("fmt", "auto")
    report = ingest_sources(store, [schedule.source], fmt, due[0][0], due[-1][1], windows=due)
    if problem := report.failure():
        raise InputError(problem)


def _run_window(store: Store, schedule: Schedule, start: str, end: str, traces: int,
                run_window: RunWindow | None) -> WindowDone:
    from investigator.history import finding_states
    from investigator.runner import execute_run, scheduled_settings

    open_before = {fid for fid, s in finding_states(store).items() if s.status in ("new", "recurring", "regressed")}
    if run_window is not None:
        run_window(store, schedule, start, end)
        return WindowDone(schedule.name, start, end, traces)
    result = execute_run(store, scheduled_settings(start, end, schedule.options))
    statuses = [f.status for f in result.findings]
    after = finding_states(store)
    return WindowDone(
        schedule.name, start, end, traces, findings=len(result.findings), new=statuses.count("new"),
        recurring=len(statuses) - statuses.count("new"),
        resolved=sum(1 for fid in open_before if fid in after and after[fid].status == "resolved"),
    )


def run_daemon(store: Store, interval_s: float = 60.0, on_window: Callable[[WindowDone], None] | None = None) -> None:
    """Keep running due windows, checking every `interval_s` seconds, until interrupted; `on_window`
    is told of each window as it finishes."""
    while True:
        run_due(store, on_window=on_window)
        time.sleep(interval_s)
