"""The report's pictures as inline SVG, drawn from the report's own (already masked) data: no script,
no chart library, and nothing fetched from the network, fonts included.

Every picture has a <title> and an aria-label, text labels, and a <title> on each mark that a browser
shows on hover. Every text is escaped: titles, categories and cohort values come from traces. A picture
with nothing to draw is the empty string.
"""

from __future__ import annotations

import math
from html import escape

from markdown_it import MarkdownIt

from investigator.models import Finding
from investigator.reports.model import ClusterView, TrendPoint

SEVERITY_COLOURS = {"critical": "#8b0000", "high": "#c0392b", "medium": "#d68910", "low": "#7f8c8d"}
FAMILY_COLOURS = {
    "execution": "#c0392b", "reasoning": "#2e6db4", "planning": "#8e5bb8", "safety": "#1e8449", "recovery": "#d68910",
}
OTHER_COLOUR = "#95a5a6"
_markdown = MarkdownIt("commonmark", {"html": False})
_PALE, _DEEP = (253, 237, 222), (150, 30, 30)  # the heatmap's lift ×1 and its highest lift


def _svg(kind: str, width: float, height: float, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart {kind}" viewBox="0 0 {width:g} {height:g}" width="{width:g}" height="{height:g}"'
        f' role="img" aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _text(x: float, y: float, text: str, attrs: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{attrs}>{escape(text)}</text>'


def _plain(text: str) -> str:
    """The words of a Markdown line without its markup (emphasis, backticks)."""
    words = (
        child.content if child.type in ("text", "code_inline") else " "
        for token in _markdown.parseInline(text) for child in token.children or []
        if child.type in ("text", "code_inline", "softbreak", "hardbreak")
    )
    return " ".join("".join(words).split())


def _short(text: str, limit: int) -> str:
    """`text` cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _main_category(cluster: ClusterView) -> str:
    return min(cluster.categories.items(), key=lambda kv: (-kv[1], kv[0]))[0] if cluster.categories else "uncategorised"


def _legend(x: float, y: float, colours: dict[str, str]) -> list[str]:
    items = []
    for name, colour in colours.items():
        items.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        items.append(_text(x + 14, y, name, ' fill="#556"'))
        x += 26 + 7.5 * len(name)
    return items


def leaderboard(findings: list[Finding]) -> str:
    """One bar per finding in rank order (expected harm: severity × traces × confidence), as long as
    the traces it affects, coloured by severity and labelled with its rank and short title; a bar
    links to its finding."""
    if not findings:
        return ""
    row, top, label_width, bar_width = 22, 26, 470, 460
    most = max(f.impact.trace_count for f in findings) or 1
    body = [_text(0, 14, "rank · finding", ' fill="#556"'), _text(label_width, 14, "traces affected", ' fill="#556"'),
            *_legend(label_width + 130, 14, SEVERITY_COLOURS)]
    for rank, finding in enumerate(findings, 1):
        y = top + (rank - 1) * row
        length = max(2.0, bar_width * finding.impact.trace_count / most)
        title = _plain(finding.title)
        tip = f"{rank}. {title} · {finding.severity} · {finding.impact.trace_count} traces"
        body.append(
            f'<a href="#{escape(finding.id)}">{_text(0, y + 15, _short(f"{rank}. {title}", 72))}'
            f'<rect class="bar" x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 7}"'
            f' fill="{SEVERITY_COLOURS[finding.severity]}"><title>{escape(tip)}</title></rect>'
            f"{_text(label_width + length + 6, y + 15, str(finding.impact.trace_count))}</a>"
        )
    label = f"Findings ranked by expected harm: {len(findings)} bars, length = traces affected, colour = severity"
    return _svg("leaderboard", label_width + bar_width + 50, top + len(findings) * row + 4, label, body)


def _shade(lift: float, highest: float) -> tuple[str, bool]:
    """The fill of a lift on a log scale from ×1 (pale) to the highest lift shown (deep), and
    whether text on it should be light."""
    t = min(1.0, max(0.0, math.log(max(lift, 1.0)) / math.log(max(highest, 1.5))))
    rgb = (round(a + (b - a) * t) for a, b in zip(_PALE, _DEEP, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb), t > 0.55


def cohort_heatmap(clusters: list[ClusterView]) -> str:
    """Clusters (rows) × cohorts (columns, dimension=value): a cell where a cluster is
    over-represented in a cohort, coloured by its lift (its share of the cluster over its share of
    the window)."""
    rows = [c for c in clusters if c.cohorts]
    if not rows:
        return ""
    columns = sorted({(h["dimension"], str(h["value"])) for c in rows for h in c.cohorts})
    cell_w, cell_h, left, top = 36, 22, 290, 180
    highest = max(h["lift"] for c in rows for h in c.cohorts)
    body = []
    for j, (dimension, value) in enumerate(columns):
        x = left + j * cell_w + cell_w / 2
        body.append(f'<text transform="translate({x:.1f},{top - 6}) rotate(-40)" font-size="11">'
                    f"{escape(_short(f'{dimension}={value}', 44))}</text>")
    for i, cluster in enumerate(rows):
        y = top + i * cell_h
        stripe = f'<rect x="{left}" y="{y + 1}" width="{len(columns) * cell_w}" height="{cell_h - 2}" fill="#f5f6f9"/>'
        body.append(stripe)
        body.append(_text(left - 8, y + 15, _short(f"{cluster.id} · {_main_category(cluster)}", 46),
                          ' text-anchor="end" font-size="11"'))
        for cohort in cluster.cohorts:
            j = columns.index((cohort["dimension"], str(cohort["value"])))
            fill, light = _shade(cohort["lift"], highest)
            tip = (f"{cluster.id} · {cohort['dimension']}={cohort['value']} · lift ×{cohort['lift']:.2f}"
                   f" · {cohort['count']} traces")
            body.append(
                f'<rect class="cell" x="{left + j * cell_w + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}"'
                f' fill="{fill}"><title>{escape(tip)}</title></rect>'
                + _text(left + j * cell_w + cell_w / 2, y + 15, f"{cohort['lift']:.1f}",
                        f' text-anchor="middle" font-size="10" fill="{"#fff" if light else "#333"}"')
            )
    bottom = top + len(rows) * cell_h + 22
    body.append(_text(left, bottom, "lift ×1", ' fill="#556" text-anchor="end" font-size="11"'))
    for k in range(6):
        fill, _ = _shade(highest ** (k / 5), highest)
        body.append(f'<rect x="{left + 6 + k * 18}" y="{bottom - 10}" width="18" height="12" fill="{fill}"/>')
    body.append(_text(left + 118, bottom, f"×{highest:.1f}", ' fill="#556" font-size="11"'))
    label = f"Cohort lift: {len(rows)} clusters × {len(columns)} cohorts, darker = more over-represented"
    return _svg("heatmap", left + len(columns) * cell_w + 150, bottom + 8, label, body)


def _clear(box: tuple[float, float, float, float], taken: list[tuple[float, float, float, float]]) -> bool:
    return all(box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3] for b in taken)


def cluster_map(clusters: list[ClusterView]) -> str:
    """Each cluster a circle, its area proportional to its traces, placed by its `map_xy` (clusters
    of similar keywords and categories sit close), coloured by its main category's family; the
    noise group is dashed. Larger clusters are labelled first and a label that would overlap one
    already placed is left to the circle's hover title. A circle links to its row in the clusters
    table."""
    if not clusters:
        return ""
    width, height, pad_x, pad_y = 900, 420, 80, 30
    most = max(c.size for c in clusters) or 1
    body: list[str] = []
    labels: list[tuple[float, float, float, float]] = []
    for cluster in sorted(clusters, key=lambda c: (-c.size, c.id)):  # the small ones drawn last, on top
        x = pad_x + cluster.map_xy[0] * (width - 2 * pad_x)
        y = pad_y + (1 - cluster.map_xy[1]) * (height - 2 * pad_y - 30)
        r = 4 + 20 * math.sqrt(cluster.size / most)
        category = _main_category(cluster)
        colour = FAMILY_COLOURS.get(category.split(".")[0], OTHER_COLOUR)
        dashed = ' stroke-dasharray="4 3"' if cluster.noise else ""
        tip = f"{cluster.id} · {cluster.size} traces · {category}"
        name = _short("noise" if cluster.noise else category.split(".")[-1], 24)
        box = (x - 3 * len(name), y + r + 2, x + 3 * len(name), y + r + 13)
        label = ""
        if _clear(box, labels):
            labels.append(box)
            label = _text(x, y + r + 11, name, ' text-anchor="middle" font-size="10" fill="#333"')
        body.append(
            f'<a href="#cluster-{escape(cluster.id)}"><circle class="cluster" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}"'
            f' fill="{colour}" fill-opacity="0.45" stroke="{colour}"{dashed}><title>{escape(tip)}</title></circle>'
            f"{label}</a>"
        )
    body += _legend(8, height - 8, {**FAMILY_COLOURS, "other": OTHER_COLOUR})
    label = f"Map of {len(clusters)} clusters: similar contents sit close, area = traces"
    return _svg("cluster-map", width, height, label, body)


def sparkline(points: list[TrendPoint]) -> str:
    """A finding's traces in each run it was in, oldest first (from zero, so a change reads at its
    true size): one dot per run, the latest labelled."""
    if not points:
        return ""
    width, height, pad = 84, 20, 3
    most = max(p.trace_count for p in points) or 1
    step = (width - 2 * pad) / max(1, len(points) - 1)
    xy = [(pad + i * step, height - pad - p.trace_count / most * (height - 2 * pad)) for i, p in enumerate(points)]
    if len(points) == 1:
        xy = [(width / 2, height / 2)]
    body = [f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in xy)}" fill="none" stroke="#5b7db1"/>']
    for (x, y), point in zip(xy, points, strict=True):
        body.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="#2e4f86">'
                    f"<title>{escape(point.run_id)}: {point.trace_count} traces</title></circle>")
    body.append(_text(width + 4, 14, str(points[-1].trace_count), ' font-size="11" fill="#556"'))
    label = f"Traces per run, last {len(points)} run(s): {', '.join(str(p.trace_count) for p in points)}"
    return _svg("sparkline", width + 26, height, label, body)
