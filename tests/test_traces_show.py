"""`traces show`: a trace by its id or an unambiguous start of it, as a tree or as normalised spans."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from investigator.cli import main

SPAN_FIELDS = {
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "start_time",
    "end_time",
    "status",
    "status_message",
    "input",
    "output",
    "attributes",
    "model",
    "tool_name",
    "tool_args",
    "tokens_in",
    "tokens_out",
    "cost",
    "events",
    "agent",
    "source_format",
    "service",
    "session_id",
    "user_id",
    "hints",
    "orphan",
    "cycle_broken",
}


def _span(trace: str, span: str, parent: str | None = None, **attributes: object) -> dict:
    return {
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "name": f"step-{span}",
        "start_time": f"2025-03-01T10:00:0{span[-1]}.000000Z",
        "end_time": "2025-03-01T10:00:09.000000Z",
        "attributes": attributes,
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("traces_show")
    rows = [
        _span("12b141d2649f42c2", "s1", **{"openinference.span.kind": "AGENT"}),
        _span(
            "12b141d2649f42c2",
            "s2",
            "s1",
            **{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": "2191"},
        ),
        _span("1e435db461c64135", "s1"),
        _span("1e4aa0000000000f", "s1"),
        _span("ab", "s1"),
        _span("abc", "s1"),
    ]
    path = folder / "spans.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(folder / "x.db")
    assert CliRunner().invoke(main, ["ingest", str(path), "--db", db]).exit_code == 0
    return db


def _show(db: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["traces", "show", *args, "--db", db])


def test_traces_show_json_prints_each_normalised_span_on_its_own_line(db: str) -> None:
    result = _show(db, "12b141d2649f42c2", "--json")
    assert result.exit_code == 0, result.output
    spans = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(s) for s in spans] == [SPAN_FIELDS, SPAN_FIELDS]
    assert [(s["span_id"], s["parent_id"], s["kind"]) for s in spans] == [("s1", None, "agent"), ("s2", "s1", "llm")]
    assert (spans[1]["model"], spans[1]["tokens_in"], spans[1]["source_format"]) == ("gpt-4o", 2191, "spans-jsonl")


def test_traces_show_accepts_the_start_of_one_traces_id(db: str) -> None:
    result = _show(db, "12b1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("trace 12b141d2649f42c2 ")


def test_an_id_that_is_also_the_start_of_another_shows_its_own_trace(db: str) -> None:
    result = _show(db, "ab", "--json")
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["trace_id"] for line in result.stdout.splitlines()} == {"ab"}


def test_an_ambiguous_start_exits_2_listing_the_candidates(db: str) -> None:
    result = _show(db, "1e4")
    assert result.exit_code == 2 and result.stdout == ""
    assert "'1e4' is the start of several trace ids: 1e435db461c64135, 1e4aa0000000000f; give more of the id" in (
        " ".join(result.stderr.split())
    )


def test_a_start_no_trace_id_has_exits_2(db: str) -> None:
    result = _show(db, "12c")
    assert result.exit_code == 2 and f"no trace '12c' in {db}" in " ".join(result.stderr.split())
