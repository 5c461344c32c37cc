"""Commands over analysis runs: run, clusters, findings, show."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from investigator.cli.common import (
    TIME,
    db_option,
    emit_json,
    err,
    fail,
    no_redact_option,
    open_store,
    out,
    since_option,
)
from investigator.ingest.registry import FORMATS


@click.command()
@click.option("--run", "run_id", default=None, help="A run id; default: the latest run.")
@click.option("--new", "fresh", is_flag=True, help="Cluster the stored traces now, as a new run.")
@click.option("--min-cluster-size", type=click.IntRange(min=2), default=5, show_default=True)
@click.option("--embeddings", is_flag=True, help="Add sentence embeddings to TF-IDF (extra `embeddings`).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per cluster.")
@db_option
def clusters(run_id: str | None, fresh: bool, min_cluster_size: int, embeddings: bool, as_json: bool,
             db_path: str | None) -> None:
    """List the failure clusters of a run (clustering the store now when there is no run yet)."""
    from investigator.clustering import ClusterSettings
    from investigator.errors import EmbeddingsUnavailable
    from investigator.runs import cluster_window, finish_run, get_run, load_clusters, save_clusters, start_run

    store = open_store(db_path)
    run = None if fresh else get_run(store, run_id)
    if run_id and run is None:
        fail(f"no run {run_id!r} in {store.path}")
    if run is None:
        settings = ClusterSettings(min_cluster_size=min_cluster_size, embeddings=embeddings)
        run = start_run(store, None, None, {"stage": "clusters", "min_cluster_size": min_cluster_size,
                                            "embeddings": embeddings})
        try:
            found, population, suspects = cluster_window(store, settings=settings)
        except EmbeddingsUnavailable as exc:
            finish_run(store, run, "failed", {})
            fail(str(exc))
        save_clusters(store, run.id, found)
        finish_run(store, run, "completed", {"traces": population, "suspects": suspects,
                                             "clusters": sum(not c.noise for c in found)})
    found = load_clusters(store, run.id)
    if as_json:
        for cluster in found:
            emit_json({"run_id": run.id, **cluster.as_dict()})
        return
    title = f"{run.id}: {run.counts.get('suspects', '?')} suspect traces of {run.counts.get('traces', '?')}"
    table = Table("cluster", "size", "prevalence", "impact", "categories", "keywords", "top cohort", title=title)
    for cluster in found:
        categories = ", ".join(f"{k} ({v})" for k, v in list(cluster.categories.items())[:2])
        cohort = cluster.cohorts[0] if cluster.cohorts else None
        table.add_row(
            cluster.id, str(cluster.size), f"{cluster.prevalence:.1%}", f"{cluster.impact_score:.4f}",
            categories, " ".join(cluster.keywords[:5]),
            f"{cohort.dimension}={cohort.value} ×{cohort.lift:.1f}" if cohort else "",
        )
    out.print(table)


def _severity_choice() -> click.Choice:
    return click.Choice(["low", "medium", "high", "critical"])


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(["table", "md", "json", "html"]), help="Report format.")
@click.option("-o", "--output", default=None, metavar="FILE", help="Write the report here instead of stdout.")
@click.option("--input-format", default="auto", show_default=True,
              type=click.Choice(["auto", *FORMATS]))
@click.option("--labels", default=None, metavar="PATH", help="Eval labels / outcomes JSONL to join first.")
@since_option
@click.option("--window", nargs=2, type=TIME, default=None, metavar="START END", help="Only traces in [START, END).")
@click.option("--model", default=None, help="Judge model as provider/model; default: the offline investigator.")
@click.option("--offline", is_flag=True, help="Use the offline investigator (no model, no key).")
@click.option("--summarizer-model", default=None, help="Cheaper model for summarising long spans.")
@click.option("--price", "prices", multiple=True, metavar="MODEL=IN,OUT",
              help="Price a model litellm's table does not know: dollars per million input and output tokens"
                   " (then optionally cache read, cache write); repeatable. Also $INVESTIGATOR_PRICES (';'-separated).")
@click.option("--temperature", default=None, type=float,
              help="Sampling temperature for the judge and summarizer; default: none sent (reasoning models refuse"
                   " any). Also $INVESTIGATOR_TEMPERATURE.")
@click.option("--max-clusters", default=10, show_default=True, type=int)
@click.option("--embeddings", is_flag=True, help="Cluster with sentence embeddings too (extra `embeddings`).")
@click.option("--budget-usd", default=2.0, show_default=True, type=float, help="Dollar budget per cluster.")
@click.option("--max-turns", default=30, show_default=True, type=int)
@click.option("--record", default=None, metavar="DIR", help="Save provider HTTP exchanges as cassettes.")
@click.option("--replay", default=None, metavar="DIR", help="Replay cassettes; no network.")
@click.option("--fail-on", default=None, type=_severity_choice(), help="Exit 1 if a finding is at or above this.")
@click.option("--quiet", is_flag=True, help="No progress.")
@no_redact_option
@db_option
def run(paths: tuple[str, ...], fmt: str, output: str | None, input_format: str, labels: str | None,
        since: str | None, window: tuple[str, str] | None, model: str | None, offline: bool,
        summarizer_model: str | None, prices: tuple[str, ...], temperature: float | None, max_clusters: int,
        embeddings: bool, budget_usd: float, max_turns: int, record: str | None, replay: str | None,
        fail_on: str | None, quiet: bool, no_redact: bool, db_path: str | None) -> None:
    """Run every stage — ingest PATHS (if given: files, globs, or a clickhouse:// or phoenix:// source, read
    for the window only), labels, rules, clusters, judge — and report ranked findings."""
    from investigator.clustering import ClusterSettings
    from investigator.errors import EmbeddingsUnavailable, InputError
    from investigator.findings import at_or_above
    from investigator.judge.settings import JudgeSettings
    from investigator.runner import RunSettings, execute_run
    if record and replay:
        fail("--record and --replay cannot be combined")
    if offline and model:
        fail("--offline and --model cannot be combined")
    start, end = window if window else (since, None)
    if end is not None and end <= start:
        fail(f"--window: the end {end} is not after the start {start}")
    if not replay:
        from investigator.providers import missing_keys

        for chosen in filter(None, (model, summarizer_model)):
            keys = missing_keys(chosen)
            if keys:
                fail(f"{chosen} needs {' and '.join(keys)} in the environment; set it, replay recorded"
                     " exchanges with --replay DIR, or run with --offline")
    from investigator.providers.pricing import configured, parse_price, unpriced_warning

    try:  # the prices and temperature hold for this command's model calls, until it ends
        click.get_current_context().with_resource(
            configured(temperature=temperature, prices=dict(parse_price(p) for p in prices)))
    except ValueError as exc:
        fail(f"--price/--temperature: {exc}")
    for chosen in filter(None, (None if offline else model, summarizer_model)):
        warning = unpriced_warning(chosen)
        if warning:
            err.print(f"warning: {warning}")
    settings = RunSettings(
        paths=list(paths), fmt=input_format, labels=labels, since=start, until=end, record=record, replay=replay,
        clusters=ClusterSettings(embeddings=embeddings),
        judge=JudgeSettings(model="offline" if offline or not model else model, summarizer_model=summarizer_model,
                            max_clusters=max_clusters, max_usd=budget_usd, max_turns=max_turns),
    )
    store = open_store(db_path)
    status = err.status("starting", spinner="dots") if not quiet and err.is_terminal else None
    try:
        if status:
            status.start()
        result = execute_run(store, settings, stage=(lambda name: status.update(name)) if status else None)
    except (InputError, EmbeddingsUnavailable) as exc:
        fail(str(exc))
    except Exception as exc:  # provider and replay errors: say what happened, exit 2
        from investigator.providers.base import ProviderError

        if isinstance(exc, ProviderError):
            fail(str(exc))
        raise
    finally:
        if status:
            status.stop()
    if result.run.replaced:
        err.print(f"{result.run.id} replaces the identical run of {result.run.replaced}: same window, settings and"
                  " input, so its clusters and findings were computed again in place")
    failed = [i for i in result.counts.get("investigations", []) if i.get("error")]
    for investigation in failed:
        err.print(f"investigation of {investigation['cluster_id']} failed: {investigation['error']}")
    from investigator.reports import build_report, render  # numpy and scikit-learn: not before the first stage

    text = render(build_report(store, result.run.id, redact=not no_redact), fmt)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        err.print(f"wrote {fmt} report to {output}")
    else:
        click.echo(text, nl=False)
    if failed and len(failed) == len(result.counts["investigations"]):
        fail(f"every investigation failed; the first: {failed[0]['error']}")
    if fail_on and at_or_above(result.findings, fail_on):
        sys.exit(1)


@click.command()
@click.option("--run", "run_id", default=None, help="A run id; default: the latest run.")
@click.option("--status", type=click.Choice(["new", "recurring", "regressed", "resolved"]), default=None)
@click.option("--all", "show_all", is_flag=True, help="Also the findings reviewed as false positives.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per finding.")
@no_redact_option
@db_option
def findings(run_id: str | None, status: str | None, show_all: bool, as_json: bool, no_redact: bool,
             db_path: str | None) -> None:
    """The ranked findings of a run, each with its status now and its latest review."""
    from investigator.history import latest_reviews, reported_findings
    from investigator.runs import get_run

    store = open_store(db_path)
    found_run = get_run(store, run_id)
    if found_run is None:
        fail("no run yet: run `investigator run` first" if not run_id else f"no run {run_id!r}")
    rows = [f for f in reported_findings(store, found_run.id, dismissed=show_all)
            if status is None or f.status == status]
    reviews = latest_reviews(store)
    if not no_redact:
        from investigator.reports.masked import ReportMasking

        masking = ReportMasking(store)
        rows = [masking.finding(f) for f in rows]
    if as_json:
        for finding in rows:
            review = reviews.get(finding.id)
            emit_json({**finding.model_dump(mode="json"), "review": review.__dict__ if review else None})
        return
    table = Table("#", "id", "title", "category", "severity", "conf", "traces", "status", "review", title=found_run.id)
    for rank, f in enumerate(rows, 1):
        review = reviews.get(f.id)
        table.add_row(str(rank), f.id, f.title, f.category, f.severity, f"{f.confidence:.2f}",
                      str(f.impact.trace_count), f.status, review.verdict if review else "")
    out.print(table)


@click.command()
@click.argument("finding_id")
@click.option("--run", "run_id", default=None)
@no_redact_option
@db_option
def show(finding_id: str, run_id: str | None, no_redact: bool, db_path: str | None) -> None:
    """Everything about one finding, with its cited traces as trees."""
    from investigator.findings import expected_harm
    from investigator.history import finding_states
    from investigator.outline import render_outline
    from investigator.reports.masked import ReportMasking

    store = open_store(db_path)
    finding = store.find_finding(finding_id, run_id)
    if finding is None:
        fail(f"no finding {finding_id!r}")
    state = finding_states(store).get(finding.id)
    masking = None if no_redact else ReportMasking(store)
    if masking:
        finding = masking.finding(finding)
    out.print(f"[bold]{finding.title}[/bold]  ({finding.id})", markup=True)
    out.print(f"{finding.category} · {finding.severity} · confidence {finding.confidence:.2f} · {finding.source}"
              f" · status {state.status if state else finding.status} · run {finding.run_id}"
              f" · cluster {finding.cluster_id}")
    if state and state.review:
        review = state.review
        note = review.note and (masking.text(review.note, f"finding {finding.id}") if masking else review.note)
        note = f": {note}" if note else ""
        of = f" of {review.of_id}" if review.of_id else ""
        out.print(f"reviewed {review.verdict}{of} at {review.reviewed_at}{note}"
                  f" (`investigator review {finding.id} --undo` withdraws it)")
    out.print(f"\n{finding.description}\n\nRoot cause: {finding.root_cause}\n"
              f"Immediate fix ({finding.fix_layer}): {finding.immediate_fix}\n")
    out.print(f"Impact: {finding.impact.in_words()}; expected harm {expected_harm(finding):.1f}"
              f" ({finding.severity} × {finding.impact.trace_count} traces × confidence {finding.confidence:.2f})")
    for cohort in finding.cohorts[:3]:
        out.print(f"  over-represented: {cohort.dimension}={cohort.value} ×{cohort.lift:.1f} ({cohort.count} traces)")
    out.print("\nEvidence:")
    for evidence in finding.evidence:
        out.print(f"  {evidence.trace_id} / {evidence.span_id}: {evidence.quote!r}")
    for trace_id in sorted({e.trace_id for e in finding.evidence}):
        trace = store.get_trace(trace_id)
        if trace:
            out.print("")
            spans = store.spans(trace_id)
            if masking:
                trace = trace.model_copy(update={"name": trace.name and masking.text(trace.name, trace_id)})
                spans = [masking.span(s) for s in spans]
            click.echo(render_outline(trace, spans, 100))
    out.print(f"\nAll {len(finding.trace_ids)} traces: {' '.join(finding.trace_ids)}")


@click.command()
@click.option("--by", "attribute", required=True, help="Slice attribute: agent_version, model, prompt_version, ...")
@click.argument("value_a")
@click.argument("value_b")
@since_option
@click.option("--json", "as_json", is_flag=True)
@db_option
def diff(attribute: str, value_a: str, value_b: str, since: str | None, as_json: bool, db_path: str | None) -> None:
    """Compare failure-category rates between two cohorts (e.g. --by agent_version v1.8 v1.9)."""
    from investigator.diff import diff_cohorts

    store = open_store(db_path)
    result = diff_cohorts(store, attribute, value_a, value_b, since=since)
    if result.traces_a == 0 or result.traces_b == 0:
        fail(f"no traces with {attribute}={value_a if result.traces_a == 0 else value_b}")
    if as_json:
        emit_json({**result.__dict__, "categories": [c.__dict__ for c in result.categories]})
        return
    table = Table("category", f"{value_a} ({result.traces_a})", f"{value_b} ({result.traces_b})", "change", "p",
                  title=f"failure rates by {attribute}: {value_a} → {value_b}")
    for row in result.categories:
        marker = " *" if row.p_value < 0.05 else ""
        table.add_row(row.category, f"{row.rate_a:.1%} ({row.count_a})", f"{row.rate_b:.1%} ({row.count_b})",
                      f"{row.change:+.1%}{marker}", f"{row.p_value:.3g}")
    out.print(table)
    out.print("* p < 0.05 (Fisher's exact test)")
