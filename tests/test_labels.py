"""Eval labels and outcomes join traces by trace_id; bad rows name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

from investigator.ingest.base import span_row
from investigator.labels import load_labels
from investigator.store import Store


def test_labels_and_outcomes_attach_to_traces_even_before_they_are_ingested(store: Store, tmp_path: Path) -> None:
    store.write_batch([span_row("t1", "s1", kind="agent", name="A")])
    store.refresh_traces({"t1"})
    path = tmp_path / "labels.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"trace_id": "t1", "label": "correctness", "score": 0.0, "passed": False, "comment": "wrong refund"},
                {"trace_id": "t1", "outcome": {"resolved": False, "escalated": True}},
                {"trace_id": "t9", "label": "correctness", "passed": True},
            ]
        )
    )
    report = load_labels(store, str(path))
    assert (report.rows, report.attached, report.pending, report.errors) == (3, 1, 1, [])
    trace = store.get_trace("t1")
    assert trace.labels == {"correctness": {"score": 0.0, "passed": False, "comment": "wrong refund"}}
    assert trace.outcome == {"resolved": False, "escalated": True}
    store.write_batch([span_row("t9", "s1")])
    store.refresh_traces({"t9"})
    assert store.get_trace("t9").labels == {"correctness": {"passed": True}}


def test_bad_label_rows_name_file_line_and_field(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"trace_id": "t1", "label": "ok", "passed": "maybe"}\n{"label": "x"}\n'
        '{"trace_id": "t1", "label": "ok", "colour": "red"}\n'
    )
    report = load_labels(store, str(path))
    assert report.rows == 0
    assert report.errors[0].startswith(f"{path}:1: field 'passed'")
    assert report.errors[1].startswith(f"{path}:2: field 'trace_id'")
    assert report.errors[2].startswith(f"{path}:3: field 'colour'")
