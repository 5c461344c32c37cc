"""The report as one self-contained HTML page: no network needed to view it.

Finding prose is rendered as Markdown with raw HTML, links and images off, so no trace text can inject
markup or make the page fetch anything. The span trees of the cited traces are embedded once, as JSON
keyed by trace id, and a tree's rows are built only when its button is clicked, highlighting the spans
that finding cites. The pictures are inline SVG drawn by `charts`.
"""

from __future__ import annotations

import json

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup

from investigator.models import Evidence, Finding
from investigator.reports import charts
from investigator.reports.model import Report
from investigator.reports.text import _headline

_markdown = MarkdownIt("commonmark", {"html": False}).disable(["link", "image", "autolink"])
_env = Environment(loader=PackageLoader("investigator.reports", "templates"), autoescape=select_autoescape(["j2"]))
_env.filters["md"] = lambda text: Markup(_markdown.render(text))
_env.filters["md_inline"] = lambda text: Markup(_markdown.renderInline(text))
_env.filters["sparkline"] = lambda points: Markup(charts.sparkline(points))


def trees_json(report: Report) -> str:
    """The span trees of the report's traces as JSON keyed by trace id, safe inside a <script>
    element: `<`, `>` and `&` are written as JSON escapes, so no trace text can close the element."""
    data = {
        t.trace_id: t.model_dump(mode="json", exclude={"trace_id": True, "spans": {"__all__": {"parent_id"}}})
        for t in report.traces
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _by_trace(finding: Finding) -> list[tuple[str, list[Evidence]]]:
    """A finding's evidence grouped by trace, in the order it cites them."""
    groups: dict[str, list[Evidence]] = {}
    for evidence in finding.evidence:
        groups.setdefault(evidence.trace_id, []).append(evidence)
    return list(groups.items())


def to_html(report: Report) -> str:
    max_hist = max((v for s in report.scores.values() for v in s.histogram.values()), default=1) or 1
    pictures = {
        "leaderboard": charts.leaderboard(report.findings),
        "heatmap": charts.cohort_heatmap(report.clusters),
        "map": charts.cluster_map(report.clusters),
    }
    return _env.get_template("report.html.j2").render(
        r=report, headline=_headline(report), max_hist=max_hist, by_trace=_by_trace,
        pictures={name: Markup(svg) for name, svg in pictures.items()}, trees=Markup(trees_json(report)),
    )
