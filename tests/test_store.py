"""The span store: idempotent writes, merges, tree repair, rollups, text search."""

from __future__ import annotations

import pytest

from investigator.ingest.base import span_row
from investigator.models import Issue, QuarantinedRecord, TraceInfo, TraceScores
from investigator.store import Store
from investigator.store.traces import SPAN_TIMINGS_SQL


def _spans() -> list[dict]:
    return [
        span_row(
            "t1",
            "root",
            kind="agent",
            name="SupportAgent",
            status="ok",
            start_time="2025-01-01T00:00:00.000000Z",
            end_time="2025-01-01T00:00:04.000000Z",
            service="support-bot",
            hints={"agent_version": "v1.9", "tags": ["prod"]},
        ),
        span_row(
            "t1",
            "llm1",
            parent_id="root",
            kind="llm",
            name="chat",
            model="gpt-4o",
            start_time="2025-01-01T00:00:00.500000Z",
            end_time="2025-01-01T00:00:01.000000Z",
            output='[{"role": "assistant", "content": "Let me check the order."}]',
        ),
        span_row(
            "t1",
            "tool1",
            parent_id="llm1",
            kind="tool",
            name="lookup_order",
            tool_name="lookup_order",
            status="error",
            status_message="HTTP 503",
            start_time="2025-01-01T00:00:01.000000Z",
            end_time="2025-01-01T00:00:02.000000Z",
        ),
    ]


def test_reingesting_the_same_spans_changes_nothing(store: Store) -> None:
    first = store.write_batch(_spans())
    second = store.write_batch(_spans())
    assert (first.ingested, first.duplicates, first.updated) == (3, 0, 0)
    assert (second.ingested, second.duplicates, second.updated) == (0, 3, 0)
    assert store.counts()["spans"] == 3


def test_a_span_seen_again_with_more_data_is_updated_without_losing_fields(store: Store) -> None:
    running = span_row(
        "t1",
        "llm1",
        parent_id="root",
        kind="llm",
        name="chat",
        model="gpt-4o",
        start_time="2025-01-01T00:00:00.500000Z",
        attributes={"a": 1},
    )
    store.write_batch([running])
    # the end of the run, as a LangSmith patch sends it: no name, kind or parent, the rest filled in
    ended = span_row(
        "t1",
        "llm1",
        status="ok",
        tokens_out=42,
        end_time="2025-01-01T00:00:01.500000Z",
        output="done",
        attributes={"b": 2},
    )
    counts = store.write_batch([ended])
    assert (counts.updated, counts.duplicates, counts.conflicts) == (1, 0, [])
    span = store.get_span("t1", "llm1")
    assert span is not None
    assert (span.tokens_out, span.status, span.output) == (42, "ok", "done")
    assert span.end_time == "2025-01-01T00:00:01.500000Z"
    assert (span.name, span.kind, span.model, span.parent_id) == ("chat", "llm", "gpt-4o", "root")  # kept
    assert span.attributes == {"a": 1, "b": 2}


_STORED = {
    "parent_id": "root",
    "name": "chat",
    "kind": "llm",
    "start_time": "2025-01-01T00:00:00.500000Z",
    "end_time": "2025-01-01T00:00:01.000000Z",
    "status": "ok",
    "output": "Let me check the order.",
    "model": "gpt-4o",
    "tokens_in": 812,
}


@pytest.mark.parametrize(
    ("field", "seen"),
    [
        ("name", "completion"),
        ("parent_id", "other-root"),
        ("start_time", "2025-01-01T00:00:00.700000Z"),
        ("end_time", "2025-01-01T00:00:01.500000Z"),
        ("output", "Your order has shipped."),
        ("kind", "tool"),
        ("status", "error"),
        ("model", "gpt-4o-mini"),
        ("tokens_in", 900),
    ],
)
def test_a_span_seen_again_saying_something_else_is_a_conflict_and_the_stored_version_is_kept(
    store: Store, field: str, seen: object
) -> None:
    store.write_batch([span_row("t1", "llm1", **_STORED)])
    before = store.get_span("t1", "llm1")
    sighting = span_row("t1", "llm1", **{field: seen}, tokens_out=42)  # tokens_out: more data, never merged

    counts = store.write_batch([sighting])

    assert (counts.ingested, counts.duplicates, counts.updated, counts.changed) == (0, 0, 0, set())
    [conflict] = counts.conflicts
    assert conflict.index == 0 and conflict.row == sighting
    assert conflict.differences == [f"{field} {_STORED[field]!r} ≠ {seen!r}"]
    assert store.get_span("t1", "llm1") == before


def test_a_long_differing_value_is_shown_shortened(store: Store) -> None:
    store.write_batch([span_row("t1", "s1", output="a" * 100)])
    [conflict] = store.write_batch([span_row("t1", "s1", output="b")]).conflicts
    assert conflict.differences == [f"output '{'a' * 58}… ≠ 'b'"]


def test_two_sightings_in_one_batch_that_disagree_keep_the_first(store: Store) -> None:
    first = span_row("t7", "s1", name="lookup_order", start_time="2025-01-01T00:00:00.000000Z")
    second = span_row("t7", "s1", name="lookup_invoice", start_time="2025-01-01T00:00:00.000000Z")
    counts = store.write_batch([first, second])
    assert counts.ingested == 1 and [(c.index, c.differences) for c in counts.conflicts] == [
        (1, ["name 'lookup_order' ≠ 'lookup_invoice'"])
    ]
    assert store.get_span("t7", "s1").name == "lookup_order"


def test_a_conflict_with_the_stored_span_names_the_first_sighting_in_its_batch(store: Store) -> None:
    store.write_batch([span_row("t8", "s1", name="a")])
    counts = store.write_batch([span_row("t8", "s0"), span_row("t8", "s1", name="b"), span_row("t8", "s1", output="x")])
    assert [(c.index, c.row["name"], c.row["output"]) for c in counts.conflicts] == [(1, "b", "x")]
    assert store.get_span("t8", "s1").output is None


def test_rollup_derives_trace_fields_from_spans(store: Store) -> None:
    store.write_batch(_spans())
    store.refresh_traces({"t1"})
    trace = store.get_trace("t1")
    assert trace is not None
    assert trace.root_span_id == "root" and trace.name == "SupportAgent"
    assert (trace.span_count, trace.error_count, trace.status) == (3, 1, "error")
    assert trace.model == "gpt-4o" and trace.service == "support-bot"
    assert trace.agent_version == "v1.9" and trace.tags == ["prod"]
    assert trace.duration_ms == 4000.0


def test_spans_inherit_the_agent_of_their_nearest_agent_ancestor(store: Store) -> None:
    store.write_batch(_spans())
    store.refresh_traces({"t1"})
    agents = {s.span_id: s.agent for s in store.spans("t1")}
    assert agents == {"root": "SupportAgent", "llm1": "SupportAgent", "tool1": "SupportAgent"}


def test_orphans_are_kept_and_flagged(store: Store) -> None:
    store.write_batch([span_row("t2", "child", parent_id="never-seen", kind="tool")])
    store.refresh_traces({"t2"})
    span = store.get_span("t2", "child")
    assert span is not None and span.orphan and span.parent_id == "never-seen"
    # the parent arrives later: the flag clears
    store.write_batch([span_row("t2", "never-seen", kind="agent", name="A")])
    store.refresh_traces({"t2"})
    assert not store.get_span("t2", "child").orphan


def test_parent_cycles_are_detected_and_broken(store: Store) -> None:
    store.write_batch(
        [
            span_row("t3", "a", parent_id="c", start_time="2025-01-01T00:00:00.000000Z"),
            span_row("t3", "b", parent_id="a", start_time="2025-01-01T00:00:01.000000Z"),
            span_row("t3", "c", parent_id="b", start_time="2025-01-01T00:00:02.000000Z"),
        ]
    )
    store.refresh_traces({"t3"})
    broken = [s.span_id for s in store.spans("t3") if s.cycle_broken]
    assert len(broken) == 1
    trace = store.get_trace("t3")
    assert trace is not None and trace.root_span_id == broken[0]


def test_trace_records_fill_trace_fields(store: Store) -> None:
    store.write_batch(_spans(), infos=[TraceInfo(trace_id="t1", name="refund flow", session_id="s-9")])
    store.refresh_traces({"t1"})
    trace = store.get_trace("t1")
    assert trace.name == "refund flow" and trace.session_id == "s-9"


def test_full_text_search_finds_span_text(store: Store) -> None:
    store.write_batch(_spans())
    hits = store.search_spans("check")
    assert [(hit[0], hit[1]) for hit in hits] == [("t1", "llm1")]
    assert "[check]" in hits[0][4]
    # names are tokenised on underscores, so tools are found by their words
    assert {hit[1] for hit in store.search_spans("lookup")} == {"tool1"}


def test_updated_span_text_is_reindexed(store: Store) -> None:
    store.write_batch(_spans())
    store.index_text()
    store.write_batch([span_row("t1", "tool1", output="warehouse unreachable")])
    assert [hit[1] for hit in store.search_spans("warehouse")] == ["tool1"]
    assert [hit[1] for hit in store.search_spans("503")] == ["tool1"]


def test_quarantine_keeps_file_line_reason_and_raw_once(store: Store) -> None:
    record = QuarantinedRecord(file="a.jsonl", line=7, reason="invalid JSON", raw="{oops")
    store.write_batch([], rejected=[record])
    store.write_batch([], rejected=[record])
    kept = store.quarantined()
    assert [(q.file, q.line, q.reason, q.raw) for q in kept] == [("a.jsonl", 7, "invalid JSON", "{oops")]


def test_clearing_the_quarantine_removes_one_files_records_or_all(store: Store) -> None:
    rows = [
        QuarantinedRecord(file=f, line=n, reason="invalid JSON", raw=f"{{oops {n}")
        for f in ("/a", "/b")
        for n in (1, 2)
    ]
    store.write_batch([], rejected=rows)
    assert store.clear_quarantine("/a") == 2
    assert [(q.file, q.line) for q in store.quarantined()] == [("/b", 1), ("/b", 2)]
    assert store.clear_quarantine("/a") == 0
    assert store.clear_quarantine() == 2 and store.quarantined() == []


def test_trace_ids_with_a_prefix_are_found_in_order(store: Store) -> None:
    store.write_batch([span_row(t, "s") for t in ("ab12", "ab1", "ab2", "b", "a")])
    store.refresh_traces({"ab12", "ab1", "ab2", "b", "a"})
    assert store.trace_ids_with_prefix("ab1", 5) == ["ab1", "ab12"]
    assert store.trace_ids_with_prefix("a", 2) == ["a", "ab1"]
    assert store.trace_ids_with_prefix("c", 5) == []


def test_multi_megabyte_attributes_are_stored_whole(store: Store) -> None:
    big = "x" * (5 * 1024 * 1024)
    store.write_batch([span_row("t4", "s", attributes={"blob": big}, output=big)])
    span = store.get_span("t4", "s")
    assert len(span.attributes["blob"]) == len(big) and len(span.output) == len(big)


def test_migrations_apply_once(tmp_path) -> None:
    path = tmp_path / "m.db"
    Store(path).close()
    first = [r[0] for r in Store(path).conn.execute("SELECT name FROM _sqlite_migrations")]
    again = [r[0] for r in Store(path).conn.execute("SELECT name FROM _sqlite_migrations")]
    assert first == again == sorted(first) and len(set(first)) == len(first)
    assert first[:3] == ["m001_spans_and_traces", "m002_span_text_index", "m003_rules_layer"]


def test_span_timings_are_read_from_an_index_not_the_span_rows(tmp_path) -> None:
    store = Store(tmp_path / "t.db")
    store.write_batch(
        [
            span_row(
                trace_id="t1",
                span_id="a",
                kind="tool",
                name="lookup",
                tool_name="lookup",
                start_time="2026-01-01T00:00:00.000000Z",
                end_time="2026-01-01T00:00:01.500000Z",
                output="x" * 50_000,
            )
        ]
    )
    timings = list(store.span_timings())
    assert [(t.kind, t.tool_name, t.durations_ms, t.tokens) for t in timings] == [("tool", "lookup", [1500.0], [])]
    plan = " ".join(str(r) for r in store.conn.execute(f"EXPLAIN QUERY PLAN {SPAN_TIMINGS_SQL.format(where='')}"))
    assert "COVERING INDEX" in plan


def _scores(trace_id: str) -> TraceScores:
    ok = {"score": 5, "reason": "no problem seen"}
    return TraceScores(
        trace_id=trace_id,
        source="rules",
        factual_grounding=ok,
        privacy_and_safety=ok,
        instruction_adherence=ok,
        optimal_plan_execution=ok,
    )


def test_issue_with_quote_not_in_span_is_refused(store: Store) -> None:
    store.write_batch([span_row("t5", "s1", kind="tool", output='{"error": "HTTP 429 Too Many Requests"}')])
    real = Issue(
        trace_id="t5",
        span_id="s1",
        category="execution.rate_limited",
        severity="medium",
        confidence=0.9,
        evidence="HTTP 429 Too Many Requests",
        description="rate limited",
        source="rule:http",
    )
    invented = real.model_copy(update={"evidence": "HTTP 500 Internal Server Error"})
    wrong_span = real.model_copy(update={"span_id": "s9"})
    refused = store.save_analysis([("t5", [real, invented, wrong_span], _scores("t5"), "doc")], "v1")
    assert refused == [invented, wrong_span]
    assert store.issues() == [real]
    assert store.analysed("v1") == {"t5"} and store.analysed("v2") == set()


def test_changed_trace_is_analysed_again(store: Store) -> None:
    store.write_batch([span_row("t6", "s1", kind="tool", output="ok")])
    store.save_analysis([("t6", [], _scores("t6"), "doc")], "v1")
    counts = store.write_batch([span_row("t6", "s1", kind="tool", output="ok", status="error")])
    assert counts.changed == {"t6"}
    store.forget_analysis(counts.changed)
    assert store.analysed("v1") == set()
