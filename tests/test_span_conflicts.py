"""A span ingested again saying something else than the stored span: counted, quarantined with its
differences where `quarantine list` shows it, and the first stored version kept."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from investigator.cli import main
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store


def _span(span_id: str, parent: str | None = None, **fields: object) -> str:
    record = {
        "trace_id": "t-refunds",
        "span_id": span_id,
        "parent_span_id": parent,
        "name": "lookup_order",
        "start_time": "2025-03-01T10:00:00.000000Z",
        "attributes": {"openinference.span.kind": "TOOL"},
        **fields,
    }
    return json.dumps(record)


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_conflicting_span_is_counted_quarantined_with_its_differences_and_the_first_version_kept(
    store: Store, tmp_path: Path
) -> None:
    first = _write(tmp_path / "monday.jsonl", _span("root", name="refund"), _span("s1", "root"))
    ingest_paths(store, [str(first)])
    later = _write(
        tmp_path / "tuesday.jsonl",
        _span("s1", "root", end_time="2025-03-01T10:00:01.000000Z"),  # more data: merged
        _span("root", name="refund_v2", start_time="2025-03-01T10:00:05.000000Z"),  # says something else
    )

    report = ingest_paths(store, [str(later)])

    assert report.summary() == {
        "ingested": 0,
        "duplicates": 0,
        "updated": 1,
        "conflicts": 1,
        "quarantined": 0,
        "traces": 1,
    }
    root = store.get_span("t-refunds", "root")
    assert (root.name, root.start_time) == ("refund", "2025-03-01T10:00:00.000000Z")
    assert store.get_span("t-refunds", "s1").end_time == "2025-03-01T10:00:01.000000Z"
    [row] = store.quarantined()
    assert (row.file, row.line, row.format) == (str(later), 2, "spans-jsonl")
    assert row.reason == (
        "conflicts with the stored span root of trace t-refunds: name 'refund' ≠ 'refund_v2';"
        " start_time '2025-03-01T10:00:00.000000Z' ≠ '2025-03-01T10:00:05.000000Z' (the stored version is kept)"
    )
    raw = json.loads(row.raw)
    assert (raw["trace_id"], raw["span_id"], raw["name"], raw["parent_id"]) == ("t-refunds", "root", "refund_v2", None)


def test_ingesting_the_same_conflict_again_counts_it_but_lists_it_once(store: Store, tmp_path: Path) -> None:
    ingest_paths(store, [str(_write(tmp_path / "a.jsonl", _span("s1", name="lookup_order")))])
    later = _write(tmp_path / "b.jsonl", _span("s1", name="lookup_invoice"))
    assert ingest_paths(store, [str(later)]).conflicts == 1
    assert ingest_paths(store, [str(later)]).conflicts == 1
    assert [(q.file, q.line) for q in store.quarantined()] == [(str(later), 1)]


def test_the_ingest_command_reports_conflicts_and_exits_2_when_a_file_holds_nothing_else(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    runner = CliRunner()
    first = _write(tmp_path / "a.jsonl", _span("s1"), _span("s2", "s1"))
    assert runner.invoke(main, ["ingest", str(first), "--db", db]).exit_code == 0
    mixed = _write(tmp_path / "b.jsonl", _span("s1", name="other"), _span("s3", "s1"))
    only_conflicts = _write(tmp_path / "c.jsonl", _span("s2", "s9"))

    partly = runner.invoke(main, ["ingest", str(mixed), "--db", db])
    nothing = runner.invoke(main, ["ingest", str(only_conflicts), "--db", db])

    assert partly.exit_code == 0
    assert partly.stdout.splitlines()[:2] == [
        "ingested 1 spans (0 duplicates, 0 updated, 1 conflicting) in 1 traces; 0 records quarantined",
        "1 spans conflict with the version already stored, which is kept; the conflicting ones are quarantined"
        " with their differences",
    ]
    assert nothing.exit_code == 2
    assert f"nothing ingested from: {only_conflicts}: 1 spans conflict with stored spans" in " ".join(
        nothing.stderr.split()
    )
    listed = runner.invoke(main, ["quarantine", "list", "--db", db])
    assert f"{mixed}:1: conflicts with the stored span s1 of trace t-refunds: name 'lookup_order' ≠ 'other'" in (
        listed.stdout
    )
    assert f"{only_conflicts}:1: conflicts with the stored span s2 of trace t-refunds: parent_id 's1' ≠ 's9'" in (
        listed.stdout
    )
