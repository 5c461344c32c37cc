"""The report as a terminal table, Markdown and JSON."""

from __future__ import annotations

import io
import shutil

import orjson
from rich.console import Console
from rich.table import Table

from investigator.models import Finding
from investigator.reports.model import Report


def to_json(report: Report) -> str:
    return orjson.dumps(report.model_dump(mode="json"), option=orjson.OPT_INDENT_2).decode() + "\n"


def _headline(report: Report) -> str:
    run = report.run
    source = "offline investigator" if run.model == "offline" else run.model
    stopped = sorted({s for s in run.stopped_by.values() if s and s not in ("summary", "error")})
    budget = f"; budgets that ended an investigation: {', '.join(stopped)}" if stopped else ""
    failed = sum(1 for s in run.stopped_by.values() if s == "error")
    budget += f"; {failed} investigation(s) failed on a provider error" if failed else ""
    sent = ""
    if "scanned_spans" in run.source:
        sent = f"; the source scanned {run.source['scanned_spans']} spans and sent {run.source['transferred_spans']}"
    return (f"{run.id}: {run.findings} findings from {run.clusters} clusters of {run.suspects} suspect traces"
            f" ({run.traces} traces{sent}); judged by {source}, cost ${run.cost_usd:.4f}{budget}")


def _cohort(finding: Finding) -> str:
    if not finding.cohorts:
        return ""
    top = finding.cohorts[0]
    return f"{top.dimension}={top.value} ×{top.lift:.1f}"


def _first_sentence(text: str, limit: int = 130) -> str:
    head = text.split(". ")[0].rstrip(".") + "."
    return head if len(head) <= limit else head[: limit - 1] + "…"


def to_table(report: Report, width: int | None = None) -> str:
    """One row per finding, most harmful first: what fails, the first step of its fix
    (`investigator show ID` has the rest) and where it is over-represented; its code, severity,
    confidence and reach. Fits `width` columns (default: the terminal's, `$COLUMNS` when set)."""
    width = width or shutil.get_terminal_size((100, 24)).columns
    table = Table("#", "finding · fix", "category · severity", "traces", title=_headline(report), show_lines=True,
                  expand=False)
    table.columns[1].ratio = 1
    table.columns[2].no_wrap = True
    for rank, finding in enumerate(report.findings, 1):
        cohort = _cohort(finding)
        table.add_row(
            str(rank),
            f"{finding.title} [dim]{finding.id}[/dim]\nfix: {_first_sentence(finding.immediate_fix)}"
            + (f"\nover-represented: {cohort}" if cohort else ""),
            f"{finding.category}\n{finding.severity} · conf {finding.confidence:.2f}",
            str(finding.impact.trace_count),
        )
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, highlight=False).print(table)
    if not report.findings:
        buffer.write("no findings\n")
    return buffer.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    lines = ["# Trace investigator report", "", _headline(report), ""]
    if report.findings:
        lines += ["| # | finding | category | severity | confidence | affected | fix |",
                  "|---|---|---|---|---|---|---|"]
        for rank, f in enumerate(report.findings, 1):
            lines.append(f"| {rank} | {_md(f.title)} (`{f.id}`) | `{f.category}` | {f.severity} | {f.confidence:.2f}"
                         f" | {_md(f.impact.in_words())} | {_md(f.immediate_fix)} |")
    else:
        lines.append("No findings.")
    for rank, f in enumerate(report.findings, 1):
        lines += ["", f"## {rank}. {f.title}", "",
                  f"`{f.id}` · `{f.category}` · {f.severity} · confidence {f.confidence:.2f} · {f.source}"
                  f" · status {f.status}", "", f.description, "", f"**Root cause.** {f.root_cause}", "",
                  f"**Immediate fix** ({f.fix_layer}). {f.immediate_fix}", "", "**Evidence**", ""]
        for e in f.evidence:
            quote = e.quote.replace("`", "'")
            lines.append(f"- trace `{e.trace_id}`, span `{e.span_id}`: `{_md(quote)}`")
        if f.cohorts:
            lines += ["", "**Over-represented in** " + ", ".join(
                f"{c.dimension}={c.value} (×{c.lift:.1f}, {c.count} traces)" for c in f.cohorts[:3])]
        lines += ["", f"Traces ({len(f.trace_ids)}): " + ", ".join(f"`{t}`" for t in f.trace_ids[:20])
                  + (" …" if len(f.trace_ids) > 20 else "")]
    lines += ["", "## Scores across suspect traces", "", "| dimension | mean | 1 | 2 | 3 | 4 | 5 |",
              "|---|---|---|---|---|---|---|"]
    for dimension, summary in report.scores.items():
        mean = "–" if summary.mean is None else f"{summary.mean:.2f}"
        counts = " | ".join(str(summary.histogram[str(k)]) for k in range(1, 6))
        lines.append(f"| {dimension} | {mean} | " + counts + " |")
    return "\n".join(lines) + "\n"
