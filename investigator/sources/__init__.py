"""Where spans are read from: trace files (paths, directories, globs), a ClickHouse table, or a
Phoenix project.

`ingest_sources` is what `ingest`, `run` and scheduled runs call. A file source is read whole (its
spans are deduplicated in the store, so re-reading is cheap); a query source is asked only for the
window, and sends only what the window needs (see `sources.clickhouse` and `sources.phoenix`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from investigator.ingest.pipeline import IngestReport, ingest_paths
from investigator.sources import clickhouse, phoenix
from investigator.sources.clickhouse import Window
from investigator.store import Store


def is_query_source(spec: str) -> bool:
    """Whether `spec` names a database or server to query, rather than files."""
    return clickhouse.is_clickhouse(spec) or phoenix.is_phoenix(spec)


def check_source(spec: str) -> None:
    """Raise InputError when `spec` is a query source whose URL is malformed."""
    if clickhouse.is_clickhouse(spec):
        clickhouse.parse_source(spec)
    elif phoenix.is_phoenix(spec):
        phoenix.parse_source(spec)


def ingest_sources(store: Store, specs: Sequence[str], fmt: str = "auto", since: str | None = None,
                   until: str | None = None, on_bytes: Callable[[int], None] | None = None,
                   windows: Sequence[Window] = ()) -> IngestReport:
    """Ingest the files among `specs` whole and, from each query source, the window [since, until)
    (which runs will analyse whole, or as the consecutive `windows`)."""
    files = [spec for spec in specs if not is_query_source(spec)]
    report = ingest_paths(store, files, fmt, on_bytes) if files else IngestReport()
    for spec in specs:
        if clickhouse.is_clickhouse(spec):
            report.add(clickhouse.pull(store, clickhouse.parse_source(spec), since, until, windows))
        elif phoenix.is_phoenix(spec):
            report.add(phoenix.pull(store, phoenix.parse_source(spec), since, until))
    return report


def describe(pushdown: dict[str, int]) -> str:
    """What a query source did, in a sentence."""
    if "scanned_spans" in pushdown:
        return (f"the source scanned {pushdown['scanned_spans']} spans in {pushdown['scanned_traces']} traces and sent"
                f" {pushdown['transferred_spans']} spans: {pushdown['suspect_traces']} suspect traces and"
                f" {pushdown['sampled_traces']} sampled ones")
    return f"the source sent {pushdown['transferred_spans']} spans in {pushdown['pages']} pages"
