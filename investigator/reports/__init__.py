"""Reports of a run: terminal table, Markdown, JSON and self-contained HTML, all from one `Report`."""

from __future__ import annotations

from investigator.reports.model import SCHEMA_VERSION, Report, build_report

FORMATS = ("table", "md", "json", "html")


def render(report: Report, fmt: str) -> str:
    """The report as text in one of FORMATS ("table" renders plain text without colour)."""
    if fmt == "json":
        from investigator.reports.text import to_json

        return to_json(report)
    if fmt == "md":
        from investigator.reports.text import to_markdown

        return to_markdown(report)
    if fmt == "html":
        from investigator.reports.html import to_html

        return to_html(report)
    if fmt == "table":
        from investigator.reports.text import to_table

        return to_table(report)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "SCHEMA_VERSION", "Report", "build_report", "render"]
