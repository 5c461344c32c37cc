"""Commands over finding history: queue, review, promote, schedule."""

from __future__ import annotations

import click
from rich.table import Table

from investigator.cli.common import TIME, db_option, emit_json, err, fail, open_store, out


@click.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@db_option
def queue(limit: int, as_json: bool, db_path: str | None) -> None:
    """Open findings to review, highest impact first."""
    from investigator.history import review_queue
    from investigator.reports.masked import ReportMasking

    store = open_store(db_path)
    states = review_queue(store, limit)
    masking = ReportMasking(store)
    if as_json:
        for s in states:
            shown = masking.finding(s.finding)
            emit_json({**shown.model_dump(mode="json"), "status": s.status, "trend": s.trace_counts})
        return
    table = Table("#", "id", "title", "severity", "status", "traces per run", title=f"{len(states)} open findings")
    for rank, s in enumerate(states, 1):
        trend = " ".join(str(n) for _, n in s.trace_counts[-6:])
        table.add_row(str(rank), s.finding.id, masking.finding(s.finding).title, s.finding.severity, s.status, trend)
    out.print(table)


@click.command()
@click.argument("finding_id")
@click.option("--as", "verdict", default=None, type=click.Choice(["fixed", "false-positive", "duplicate"]))
@click.option("--of", "of_id", default=None, help="For a duplicate: the finding it duplicates.")
@click.option("--note", default=None)
@click.option("--undo", is_flag=True, help="Withdraw the finding's latest review.")
@db_option
def review(finding_id: str, verdict: str | None, of_id: str | None, note: str | None, undo: bool,
           db_path: str | None) -> None:
    """Record a verdict on a finding: fixed (watched), false-positive (suppressed), duplicate
    (merged); or withdraw the latest one with --undo."""
    from investigator.history import add_review, finding_states, latest_reviews, undo_review

    if undo == (verdict is not None):
        fail("give either --as VERDICT or --undo")
    store = open_store(db_path)
    states = finding_states(store)
    if finding_id not in states:
        fail(f"no finding {finding_id!r}")
    if undo:
        withdrawn = undo_review(store, finding_id)
        if withdrawn is None:
            fail(f"{finding_id} has no review to undo")
        now = latest_reviews(store).get(finding_id)
        out.print(f"{finding_id}: withdrew {withdrawn.verdict} of {withdrawn.reviewed_at}; "
                  + (f"now {now.verdict} (of {now.reviewed_at})" if now else "now unreviewed"))
        return
    if of_id and of_id not in states:
        fail(f"no finding {of_id!r} to be a duplicate of")
    try:
        add_review(store, finding_id, verdict, of_id, note)
    except ValueError as exc:
        fail(str(exc))
    out.print(f"{finding_id}: {verdict}" + (f" of {of_id}" if of_id else ""))


@click.group()
def reviews() -> None:
    """Reviews of findings."""


@reviews.command("list")
@click.option("--json", "as_json", is_flag=True)
@db_option
def reviews_list(as_json: bool, db_path: str | None) -> None:
    """Every finding's latest review, newest first, with the finding's title and status now."""
    from investigator.history import finding_states, latest_reviews
    from investigator.reports.masked import ReportMasking

    store = open_store(db_path)
    states = finding_states(store)
    latest = sorted(latest_reviews(store).values(), key=lambda r: r.reviewed_at, reverse=True)
    if as_json:
        for r in latest:
            state = states.get(r.finding_id)
            emit_json({**r.__dict__, "status": state.status if state else None})
        return
    masking = ReportMasking(store)
    table = Table("finding", "title", "verdict", "note", "reviewed at", "status",
                  title=f"{len(latest)} reviewed findings")
    for r in latest:
        state = states.get(r.finding_id)
        verdict = r.verdict + (f" of {r.of_id}" if r.of_id else "")
        title = masking.finding(state.finding).title if state else ""
        table.add_row(r.finding_id, title, verdict, r.note or "", r.reviewed_at, state.status if state else "")
    out.print(table)


@click.command()
@click.argument("finding_id")
@click.option("--traces", "max_traces", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--to", "path", default="evals/cases_from_prod.yaml", show_default=True)
@db_option
def promote(finding_id: str, max_traces: int, path: str, db_path: str | None) -> None:
    """Write a finding's traces as redacted eval cases (YAML) for your own eval harness."""
    from investigator.promote import promote_finding

    store = open_store(db_path)
    try:
        added, total = promote_finding(store, finding_id, path, max_traces)
    except LookupError as exc:
        fail(str(exc))
    out.print(f"{added} new cases from {finding_id} in {path} ({total} cases in the file)")


@click.group()
def schedule() -> None:
    """Scheduled runs over consecutive windows of a trace source."""


@schedule.command("add")
@click.argument("name")
@click.option("--every", required=True, help='hourly, daily, weekly, or a cron expression ("*/15 * * * *").')
@click.option("--source", required=True, metavar="SOURCE",
              help="Trace files (path or glob) or a table (clickhouse://USER@HOST:PORT/DB?table=otel_traces).")
@click.option("--start", type=TIME, default=None, help="Start of the first window; default: the last boundary.")
@click.option("--model", default=None, help="Judge model; default: the offline investigator.")
@click.option("--max-clusters", default=None, type=int)
@click.option("--budget-usd", default=None, type=float)
@click.option("--labels", default=None, metavar="PATH")
@db_option
def schedule_add(name: str, every: str, source: str, start: str | None, model: str | None,
                 max_clusters: int | None, budget_usd: float | None, labels: str | None, db_path: str | None) -> None:
    from investigator.schedule import add_schedule

    options = {k: v for k, v in {"model": model, "max_clusters": max_clusters, "budget_usd": budget_usd,
                                 "labels": labels}.items() if v is not None}
    from investigator.errors import InputError
    from investigator.sources import check_source

    try:
        check_source(source)
        added = add_schedule(open_store(db_path), name, every, source, options, start)
    except (ValueError, InputError) as exc:
        fail(str(exc))
    out.print(f"schedule {added.name}: {added.every} over {added.source}, first window from {added.watermark}")
    from investigator.ingest.reader import expand_paths
    from investigator.sources import is_query_source

    try:
        if not is_query_source(source):
            expand_paths([source])
    except InputError as exc:
        err.print(f"warning: {exc} now; its windows will find no traces until files appear there")


@schedule.command("list")
@db_option
def schedule_list(db_path: str | None) -> None:
    from investigator.schedule import list_schedules

    table = Table("name", "every", "source", "next window from", "options")
    for s in list_schedules(open_store(db_path)):
        table.add_row(s.name, s.every, s.source, s.watermark or "", str(s.options or ""))
    out.print(table)


@schedule.command("remove")
@click.argument("name")
@db_option
def schedule_remove(name: str, db_path: str | None) -> None:
    if not open_store(db_path).remove_schedule(name):
        fail(f"no schedule {name!r}")
    out.print(f"removed {name}")


@schedule.command("run-due")
@click.option("--daemon", is_flag=True, help="Keep running due windows in this process.")
@click.option("--interval", default=60.0, show_default=True, help="Daemon: seconds between checks.")
@click.option("--now", "now_text", type=TIME, default=None, help="Treat this time as now (ISO-8601), e.g. to backfill.")
@db_option
def schedule_run_due(daemon: bool, interval: float, now_text: str | None, db_path: str | None) -> None:
    """Run every window that has closed since each schedule's watermark."""
    from investigator.schedule import run_daemon, run_due
    from investigator.timefmt import now_iso, parse_iso

    store = open_store(db_path)
    if daemon:
        run_daemon(store, interval, on_window=lambda w: out.print(f"{now_iso()} {w.describe()}"))
        return
    from investigator.errors import InputError

    try:
        windows = run_due(store, parse_iso(now_text) if now_text else None, on_window=lambda w: out.print(w.describe()))
    except InputError as exc:
        fail(str(exc))
    if not windows:
        out.print("nothing due")
        return
    total = sum(w.windows for w in windows)
    busy = sum(1 for w in windows if w.traces)
    out.print(f"{total} windows done: {busy} with traces, {total - busy} without; "
              f"{sum(w.new for w in windows)} new findings, {sum(w.resolved for w in windows)} resolved")
