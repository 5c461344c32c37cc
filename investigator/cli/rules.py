"""Commands of the rules layer: detect, export, eval."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
import orjson
from rich.table import Column, Table

from investigator.cli.common import db_option, emit_json, err, fail, open_store, out


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the counts.")
@click.option("--all", "everything", is_flag=True, help="Analyse every trace again, not only new ones.")
@db_option
def detect(as_json: bool, everything: bool, db_path: str | None) -> None:
    """Run the rules layer (detectors, scores, compact documents) over stored traces."""
    from investigator.rules import run_rules

    store = open_store(db_path)
    report = run_rules(store, force=everything)
    if as_json:
        emit_json(report.summary())
        return
    out.print(
        f"analysed {report.analysed} traces ({report.skipped} unchanged, skipped):"
        f" {report.issues} issues in {report.traces_with_issues} traces"
    )
    for refused in report.refused[:5]:
        err.print(f"refused issue (evidence not in span): {refused.source} {refused.span_id}")


@click.command()
@click.argument("what", type=click.Choice(["issues", "scores", "findings"]))
@click.option("-o", "--output", "output", required=True, metavar="FILE.jsonl", help="Where to write.")
@click.option("--run", "run_id", default=None, help="For findings: a run id; default: the latest run.")
@db_option
def export(what: str, output: str, run_id: str | None, db_path: str | None) -> None:
    """Write per-trace issues, per-trace scores or a run's findings as JSONL."""
    store = open_store(db_path)
    count = 0
    with open(output, "wb") as handle:
        if what == "findings":
            from investigator.findings import load_findings
            from investigator.runs import get_run

            run = get_run(store, run_id)
            if run is None:
                fail("no run yet: run `investigator run` first" if not run_id else f"no run {run_id!r}")
            for finding in load_findings(store, run.id):
                handle.write(orjson.dumps(finding.model_dump(mode="json")) + b"\n")
                count += 1
        elif what == "issues":
            for issue in store.issues():
                handle.write(orjson.dumps(issue.model_dump()) + b"\n")
                count += 1
        else:
            for scores in store.scores():
                row = {"trace_id": scores.trace_id, "source": scores.source}
                reasons = {}
                for dimension in ("factual_grounding", "privacy_and_safety",
                                  "instruction_adherence", "optimal_plan_execution"):
                    value = getattr(scores, dimension)
                    row[dimension] = value.score
                    reasons[dimension] = value.reason
                row["reasons"] = reasons
                handle.write(orjson.dumps(row) + b"\n")
                count += 1
    out.print(f"wrote {count} {what} to {output}")


@click.command("eval")
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", default="eval-report.json", show_default=True, metavar="FILE.json",
              help="Where to write the full report as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
@db_option
def evaluate(dataset: Path, output: str, as_json: bool, db_path: str | None) -> None:
    """Score the investigator on a labelled dataset (traces/, labels.jsonl, truth.jsonl).

    The dataset is ingested into a scratch store unless --db names one."""
    from investigator.errors import DatasetError
    from investigator.evaluation import run_eval

    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(db_path or str(Path(scratch) / "eval.db"))
        try:
            report = run_eval(store, dataset)
        except DatasetError as exc:
            fail(str(exc))
        store.close()
    data = report.as_dict()
    Path(output).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    if as_json:
        emit_json(data)
        return
    _print_report(data)
    out.print(f"\nfull report: {output}")


def _row(name: str, m: dict) -> list[str]:
    # From the counts, not the report's 4-digit figures: rounding twice can move the third digit.
    precision = m["correct"] / m["predicted"] if m["predicted"] else 1.0
    recall = m["found"] / m["expected"] if m["expected"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return [name, f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}",
            str(m["predicted"]), str(m["correct"]), str(m["expected"])]


def _print_report(data: dict) -> None:
    def columns() -> tuple:  # rich keeps cells in Column objects: a fresh set per table
        return (Column("", no_wrap=True), "precision", "recall", "F1", "reported", "correct", "expected")

    summary = Table(*columns(), title=f"{data['traces']} traces")
    summary.add_row(*_row("(span, category) pairs, rule-detectable", data["pairs"]))
    summary.add_row(*_row("(span, category) pairs, all truth", data["pairs_all_truth"]))
    summary.add_row(*_row("categories per trace", data["categories"]))
    out.print(summary)
    out.print(f"location accuracy: {data['location_accuracy']:.3f}")
    per_category = Table(*columns(), title="per category")
    for name, metrics in data["per_category"].items():
        per_category.add_row(*_row(name, metrics))
    out.print(per_category)
    per_detector = Table(*columns(), title="per detector")
    for name, metrics in data["per_detector"].items():
        per_detector.add_row(*_row(name, metrics))
    out.print(per_detector)
    correlation = ", ".join(
        f"{k} {'n/a' if v is None else f'{v:.2f}'}" for k, v in data["score_correlation"].items()
    )
    out.print(f"score correlation (Spearman): {correlation}")
    clean = data.get("clean_runs")
    if clean and clean["runs"]:
        flagged = f"{clean['runs_flagged']} flagged with {clean['issues']} issues"
        out.print(f"clean runs: {clean['runs']}, {flagged} {clean['by_category'] or ''}".rstrip())
    for key in ("clusters", "findings"):
        if key in data:
            out.print(f"{key}: {data[key]}")
