"""The report as one self-contained HTML file: no network needed to view it."""

from __future__ import annotations

from html import escape

from jinja2 import Environment, PackageLoader, select_autoescape

from investigator.reports.model import Report, TraceView
from investigator.reports.text import _headline

_env = Environment(loader=PackageLoader("investigator.reports", "templates"), autoescape=select_autoescape(["j2"]))


def _tree(trace: TraceView, cited: set[str]) -> str:
    """A trace's span tree; the spans a finding cites are highlighted."""
    rows = []
    for node in trace.spans:
        classes = ["span", "mono"]
        if node.span_id in cited:
            classes.append("cited")
        if node.status == "error":
            classes.append("error")
        duration = "" if node.duration_ms is None else f"{node.duration_ms:.0f}ms"
        rows.append(
            f'<div class="{" ".join(classes)}" data-span="{escape(node.span_id)}" '
            f'style="padding-left: {node.depth * 18}px">{escape(node.span_id)} · {escape(node.kind)} · '
            f'{escape(node.name)} · <span class="st">{escape(node.status)}</span> · {duration} · '
            f'{escape(node.preview)}</div>'
        )
    return "\n".join(rows)


def to_html(report: Report) -> str:
    cited: set[str] = {e.span_id for f in report.findings for e in f.evidence}
    trees = {t.trace_id: _tree(t, cited) for t in report.traces}
    max_size = max((c.size for c in report.clusters), default=1) or 1
    max_hist = max((v for s in report.scores.values() for v in s.histogram.values()), default=1) or 1
    return _env.get_template("report.html.j2").render(
        r=report, headline=_headline(report), trees=trees, max_size=max_size, max_hist=max_hist
    )
