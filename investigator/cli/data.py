"""Commands over the stored data: ingest, traces, quarantine, labels."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from investigator.cli.common import db_option, emit_json, err, fail, no_redact_option, open_store, out, since_option
from investigator.errors import InputError
from investigator.ingest.reader import expand_paths, file_size
from investigator.ingest.registry import FORMATS
from investigator.models import Trace
from investigator.outline import render_outline
from investigator.store import Store

_CANDIDATES_SHOWN = 10  # trace ids listed when a prefix is ambiguous


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *FORMATS]),
    help="Input format; auto detects it per file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@db_option
def ingest(sources: tuple[str, ...], fmt: str, as_json: bool, quiet: bool, db_path: str | None) -> None:
    """Read trace files (files, directories, globs; gzip ok), a ClickHouse table
    (clickhouse://USER@HOST:PORT/DB?table=otel_traces, password in $CLICKHOUSE_PASSWORD) or a Phoenix
    project (phoenix://HOST:PORT/PROJECT, API key in $PHOENIX_API_KEY) into the store."""
    from investigator.sources import check_source, describe, ingest_sources, is_query_source

    try:
        for source in sources:
            check_source(source)
        total = sum(file_size(p) for p in expand_paths([s for s in sources if not is_query_source(s)]))
    except InputError as exc:
        fail(str(exc))
    store = open_store(db_path)
    show_progress = not (as_json or quiet) and err.is_terminal
    progress = Progress(
        TextColumn("ingest"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=err, disable=not show_progress, transient=True,
    )
    with progress:
        task = progress.add_task("ingest", total=total)
        try:
            report = ingest_sources(store, list(sources), fmt, on_bytes=lambda n: progress.advance(task, n))
        except InputError as exc:
            fail(str(exc))
    failure = report.failure()  # names every file, with what is wrong with it
    for error in [] if failure else report.errors:
        err.print(f"[yellow]warning:[/yellow] {error}", markup=True, highlight=False)
    s = report.summary()
    if as_json:
        emit_json({**s, "source": report.pushdown} if report.pushdown else s)
    else:
        out.print(
            f"ingested {s['ingested']} spans ({s['duplicates']} duplicates, {s['updated']} updated,"
            f" {s['conflicts']} conflicting) in {s['traces']} traces; {s['quarantined']} records quarantined"
        )
        if report.pushdown:
            out.print(describe(report.pushdown))
        if s["conflicts"]:
            out.print(f"{s['conflicts']} spans conflict with the version already stored, which is kept;"
                      " the conflicting ones are quarantined with their differences")
        if s["quarantined"] or s["conflicts"]:
            out.print("see them with: investigator quarantine list")
    if failure:
        fail(failure)


@click.group()
def traces() -> None:
    """List and show stored traces."""


@traces.command("list")
@since_option
@click.option("--status", type=click.Choice(["ok", "error", "unset"]))
@click.option("--service")
@click.option("--limit", type=click.IntRange(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per trace.")
@db_option
def traces_list(
    since: str | None, status: str | None, service: str | None, limit: int | None,
    as_json: bool, db_path: str | None,
) -> None:
    store = open_store(db_path)
    rows = store.list_traces(since=since, status=status, service=service, limit=limit)
    if as_json:
        for trace in rows:
            emit_json(trace.model_dump())
        return
    table = Table("trace_id", "name", "status", "spans", "errors", "start", "service", "model")
    for trace in rows:
        table.add_row(
            trace.trace_id, trace.name or "", trace.status, str(trace.span_count),
            str(trace.error_count), trace.start_time or "", trace.service or "", trace.model or "",
        )
    out.print(table)


@traces.command("show")
@click.argument("trace_id")
@click.option("--width", type=int, default=80, help="Preview width.")
@click.option("--json", "as_json", is_flag=True, help="The normalised spans, one JSON object per line, in start order.")
@no_redact_option
@db_option
def traces_show(trace_id: str, width: int, as_json: bool, no_redact: bool, db_path: str | None) -> None:
    """A trace as an indented span tree. TRACE_ID may be the start of one trace's id."""
    store = open_store(db_path)
    trace = _find_trace(store, trace_id)
    spans = store.spans(trace.trace_id)
    if not no_redact:
        from investigator.reports.masked import ReportMasking

        masking = ReportMasking(store)
        spans = [masking.span(s) for s in spans]
        trace = trace.model_copy(update={"name": trace.name and masking.text(trace.name, trace.trace_id)})
    if as_json:
        for span in spans:
            emit_json(span.model_dump())
        return
    click.echo(render_outline(trace, spans, width))


def _find_trace(store: Store, given: str) -> Trace:
    """The trace with this id, else the one trace whose id starts with it; exits 2 when none or several do."""
    trace = store.get_trace(given)
    if trace is None:
        found = store.trace_ids_with_prefix(given, _CANDIDATES_SHOWN + 1)
        if not found:
            fail(f"no trace {given!r} in {store.path}")
        if len(found) > 1:
            more = " and more" if len(found) > _CANDIDATES_SHOWN else ""
            fail(f"{given!r} is the start of several trace ids: {', '.join(found[:_CANDIDATES_SHOWN])}{more};"
                 " give more of the id")
        trace = store.get_trace(found[0])
    assert trace is not None
    return trace


@click.group()
def quarantine() -> None:
    """Records that could not be ingested."""


@quarantine.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(min=1), default=None)
@db_option
def quarantine_list(as_json: bool, limit: int | None, db_path: str | None) -> None:
    store = open_store(db_path)
    records = store.quarantined(limit)
    if as_json:
        for record in records:
            emit_json(record.model_dump())
        return
    if not records:
        out.print("quarantine is empty")
        return
    for record in records:
        where = f"{record.file}:{record.line}" if record.line else record.file
        if record.location:
            where += f" ({record.location})"
        raw = " ".join(record.raw.split())
        out.print(f"{where}: {record.reason}\n    {raw[:160]}{'…' if len(raw) > 160 else ''}")


@quarantine.command("clear")
@click.option("--file", "file", default=None, metavar="PATH", help="Only the records quarantined from this file.")
@db_option
def quarantine_clear(file: str | None, db_path: str | None) -> None:
    """Remove quarantined records (all, or one file's), e.g. once the file has been fixed and ingested."""
    store = open_store(db_path)
    target = str(Path(file).resolve()) if file else None
    removed = store.clear_quarantine(target)
    out.print(f"removed {removed} quarantined records" + (f" of {target}" if target else ""))


@click.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True)
@db_option
def labels(path: str, as_json: bool, db_path: str | None) -> None:
    """Join eval labels and business outcomes (JSONL keyed by trace_id) to traces."""
    from investigator.labels import load_labels

    store = open_store(db_path)
    try:
        report = load_labels(store, path)
    except OSError as exc:
        fail(f"{path}: {exc}")
    for error in report.errors:
        err.print(f"[yellow]rejected:[/yellow] {error}", markup=True, highlight=False)
    summary = {"rows": report.rows, "attached": report.attached, "pending": report.pending,
               "rejected": len(report.errors)}
    if as_json:
        emit_json(summary)
    else:
        out.print(
            f"{report.rows} label rows: {report.attached} traces labelled,"
            f" {report.pending} traces not ingested yet, {len(report.errors)} rows rejected"
        )
    if report.rows == 0:
        fail(f"no valid label rows in {path}")

