"""The ingest pipeline: files, directories, globs, gzip, bad records, re-ingest, the command."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from investigator.cli import main
from investigator.errors import InputError
from investigator.ingest.pipeline import ingest_paths
from investigator.store import Store


def _span(trace: str, span: str, parent: str | None = None, **attrs: object) -> dict:
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "name": attrs.pop("name", "step"),
        "kind": "SPAN_KIND_INTERNAL",
        "start_time": "2025-03-01T10:00:00.000000Z",
        "end_time": "2025-03-01T10:00:01.000000Z",
        "status": {"code": attrs.pop("status", "OK"), "message": ""},
        "resource": {"attributes": {"service.name": "support-bot"}},
        "scope": {"name": "openinference.instrumentation"},
        "attributes": {"openinference.span.kind": attrs.pop("kind", "CHAIN"), **attrs},
    }


def _lines(rows: list[dict | str]) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n"


GOOD = [
    _span("a1", "s1", kind="AGENT", name="SupportAgent"),
    _span("a1", "s2", "s1", kind="LLM", **{"llm.model_name": "gpt-4o", "llm.token_count.prompt": "2191"}),
    _span("a1", "s3", "s2", kind="TOOL", **{"tool.name": "lookup_order"}),
    _span("b2", "s1", kind="AGENT", name="SupportAgent"),
]


def test_corrupt_lines_are_quarantined_and_everything_else_ingests(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines([GOOD[0], "{not json", GOOD[1], '{"trace_id": "a1"}', GOOD[2], GOOD[3]]))
    report = ingest_paths(store, [str(path)])
    assert report.summary() == {
        "ingested": 4,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 2,
        "traces": 2,
    }
    quarantined = {q.line: q for q in store.quarantined()}
    assert set(quarantined) == {2, 4}
    assert quarantined[2].file == str(path) and "JSON" in quarantined[2].reason
    assert quarantined[4].raw == '{"trace_id": "a1"}'
    assert store.get_span("a1", "s2").tokens_in == 2191


def test_large_files_parsed_by_workers_give_the_same_store(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from investigator.ingest import pipeline

    rows: list[dict | str] = [
        _span(f"t{i // 3}", f"s{i % 3}", None if i % 3 == 0 else "s0", kind="CHAIN" if i % 3 else "AGENT")
        for i in range(300)
    ]
    rows.insert(120, "{broken")
    rows.append(_span("t7", "s1", "s0", kind="CHAIN", name="renamed"))  # line 302: conflicts with line 23
    path = tmp_path / "big.jsonl"
    path.write_text(_lines(rows))
    serial = Store(":memory:")
    ingest_paths(serial, [str(path)])
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(pipeline, "CHUNK_BYTES", 4000)  # many byte ranges, a trace split across two of them
    report = ingest_paths(store, [str(path)])
    assert report.summary() == {
        "ingested": 300,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 1,
        "quarantined": 1,
        "traces": 100,
    }
    bad, conflict = store.quarantined()
    assert bad.line == 121 and bad.reason.startswith("invalid JSON")
    assert (conflict.line, conflict.reason) == (
        302,
        "conflicts with the stored span s1 of trace t7: name 'step' ≠ 'renamed' (the stored version is kept)",
    )
    assert store.get_span("t99", "s2").parent_id == "s0" and store.get_span("t7", "s1").name == "step"
    for rows_of in ("SELECT * FROM spans ORDER BY rowid", "SELECT * FROM traces ORDER BY trace_id"):
        assert store.conn.execute(rows_of).fetchall() == serial.conn.execute(rows_of).fetchall()
    assert ingest_paths(store, [str(path)]).summary()["duplicates"] == 300


def test_reingest_is_a_no_op(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD))
    ingest_paths(store, [str(path)])
    before = store.conn.execute("SELECT * FROM spans ORDER BY rowid").fetchall()
    again = ingest_paths(store, [str(path)])
    assert again.summary()["ingested"] == 0 and again.summary()["duplicates"] == 4
    assert store.conn.execute("SELECT * FROM spans ORDER BY rowid").fetchall() == before


def test_gzip_directories_and_globs_are_read(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "day1").mkdir(parents=True)
    with gzip.open(folder / "day1" / "a.jsonl.gz", "wt") as handle:
        handle.write(_lines(GOOD[:3]))
    (folder / "b.jsonl").write_text(_lines(GOOD[3:]))
    (folder / "notes.txt").write_text("not a trace file")
    report = ingest_paths(store, [str(folder)])
    assert report.summary()["ingested"] == 4 and report.summary()["traces"] == 2
    again = ingest_paths(store, [str(folder / "**" / "*.gz")])
    assert again.summary()["duplicates"] == 3


def test_missing_path_is_an_input_error(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        ingest_paths(store, [str(tmp_path / "absent.jsonl")])


def test_ingest_command_prints_counts_as_json(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD + ["garbage"]))
    db = tmp_path / "x.db"
    result = CliRunner().invoke(main, ["ingest", str(path), "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "ingested": 4,
        "duplicates": 0,
        "updated": 0,
        "conflicts": 0,
        "quarantined": 1,
        "traces": 2,
    }
    listed = CliRunner().invoke(main, ["quarantine", "list", "--db", str(db)])
    assert f"{path}:5" in listed.output


def test_ingest_command_exits_2_when_nothing_can_be_read(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    missing = CliRunner().invoke(main, ["ingest", str(tmp_path / "nope.json"), "--db", str(db)])
    assert missing.exit_code == 2 and "no such file" in missing.output
    unknown = tmp_path / "other.jsonl"
    unknown.write_text(_lines([{"hello": "world"}, {"hello": "again"}]))
    result = CliRunner().invoke(main, ["ingest", str(unknown), "--db", str(db)])
    assert result.exit_code == 2 and "unknown format" in result.output


def test_db_path_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD))
    monkeypatch.setenv("INVESTIGATOR_DB", str(tmp_path / "env.db"))
    assert CliRunner().invoke(main, ["ingest", str(path), "--quiet"]).exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_traces_list_and_show(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD))
    db = str(tmp_path / "x.db")
    runner = CliRunner()
    runner.invoke(main, ["ingest", str(path), "--db", db])
    listed = runner.invoke(main, ["traces", "list", "--json", "--db", db])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {r["trace_id"]: r["span_count"] for r in rows} == {"a1": 3, "b2": 1}
    assert all({"trace_id", "span_count", "status", "start_time", "service"} <= set(r) for r in rows)
    shown = runner.invoke(main, ["traces", "show", "a1", "--db", db])
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("trace a1")
    tree = [line for line in lines if "s1" in line or "s2" in line or "s3" in line]
    assert tree[0].startswith("s1") and "agent" in tree[0]
    assert tree[1].startswith("└─ s2") and "llm" in tree[1]
    assert tree[2].startswith("   └─ s3") and "lookup_order" in tree[2]
    missing = runner.invoke(main, ["traces", "show", "zzz", "--db", db])
    assert missing.exit_code == 2


def test_ingest_exits_2_naming_each_file_when_nothing_at_all_was_ingested(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_lines(['{"trace_id": "a1", "span_id": "s9", "start_time": "not a time"}', "{broken"]))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    db = tmp_path / "x.db"

    result = CliRunner().invoke(main, ["ingest", str(bad), str(empty), "--db", str(db), "--json"])

    assert result.exit_code == 2
    assert json.loads(result.stdout)["quarantined"] == 2
    message = " ".join(result.stderr.split())
    assert f"nothing ingested from: {bad}: 2 records quarantined {empty}: empty file" in message
    with Store(db) as store:
        assert [q.line for q in store.quarantined()] == [1, 2]


def test_ingesting_files_already_stored_again_is_not_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD))
    db = str(tmp_path / "x.db")
    assert CliRunner().invoke(main, ["ingest", str(path), "--db", db]).exit_code == 0
    again = CliRunner().invoke(main, ["ingest", str(path), "--db", db, "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout)["duplicates"] == 4


def test_a_file_nothing_was_read_from_is_a_warning_when_other_files_ingest(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(_lines(GOOD))
    unknown = tmp_path / "notes.json"
    unknown.write_text('{"hello": "world"}')

    result = CliRunner().invoke(main, ["ingest", str(good), str(unknown), "--db", str(tmp_path / "x.db")])

    assert result.exit_code == 0
    assert f"warning: {unknown}: unknown format" in result.stderr
    assert "ingested 4 spans" in result.stdout


def test_a_file_that_is_not_readable_gzip_exits_2_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "spans.jsonl.gz"
    broken.write_bytes(b"\x1f\x8b" + b"not gzip at all" * 10)

    result = CliRunner().invoke(main, ["ingest", str(broken), "--db", str(tmp_path / "x.db")])

    assert result.exit_code == 2
    assert f"{broken}: cannot read:" in " ".join(result.stderr.split())


def test_every_registered_format_and_no_other_can_be_forced(tmp_path: Path) -> None:
    from investigator.ingest.registry import FORMATS

    path = tmp_path / "spans.jsonl"
    path.write_text(_lines(GOOD))
    db = str(tmp_path / "x.db")
    for name in FORMATS:
        result = CliRunner().invoke(main, ["ingest", str(path), "--format", name, "--db", db])
        assert "Invalid value for '--format'" not in result.output, name
    refused = CliRunner().invoke(main, ["ingest", str(path), "--format", "csv", "--db", db])
    assert refused.exit_code == 2 and "Invalid value for '--format'" in refused.output
