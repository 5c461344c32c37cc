"""The judge's loop, driven by a scripted model: every tool, a refused submission and its
correction, recursion and its depth cap, each budget stop, and resuming after an interruption."""

from __future__ import annotations

import itertools
import re

import orjson
import pytest

from investigator.judge import graph
from investigator.judge.investigate import investigate_cluster
from investigator.judge.settings import JudgeSettings
from investigator.providers.scripted import ScriptedProvider, call
from investigator.runs import cluster_window

SCRIPTED = JudgeSettings(model="scripted", concurrency=1)


@pytest.fixture
def cluster(demo_store):
    clusters, _, _ = cluster_window(demo_store, None, None)
    return max((c for c in clusters if not c.noise), key=lambda c: (c.size, c.id))


def _issue(store, cluster, skip: int = 0):
    """A rules-layer issue of the cluster: its evidence is verbatim in its span."""
    return store.issues(cluster.trace_ids)[skip]


def _finding_args(issue, quote: str | None = None) -> dict:
    return {
        "title": "Refund tool called with invalid arguments",
        "category": issue.category,
        "severity": "high",
        "confidence": 0.8,
        "description": "The model passes malformed arguments.",
        "root_cause": "The schema does not mark the field required.",
        "immediate_fix": f"Mark it required; check against trace {issue.trace_id}.",
        "fix_layer": "tool",
        "trace_ids": [issue.trace_id],
        "evidence": [{"trace_id": issue.trace_id, "span_id": issue.span_id, "quote": quote or issue.evidence}],
    }


def _scores_args(trace_id: str) -> dict:
    dim = {"score": 3, "reason": "Some wasted steps."}
    return {
        "trace_id": trace_id,
        "factual_grounding": dim,
        "privacy_and_safety": dim,
        "instruction_adherence": dim,
        "optimal_plan_execution": dim,
    }


def _summary() -> dict:
    return {"summary": "Invalid tool arguments recur.", "priority": "high", "immediate_fix": "Mark it required."}


def test_the_loop_runs_every_tool_corrects_a_refused_finding_and_ends_on_the_summary(demo_store, cluster):
    issue = _issue(demo_store, cluster)
    t, s = issue.trace_id, issue.span_id
    script = ScriptedProvider(
        [
            call("cluster_overview"),
            call("trace_outline", {"trace_id": t}),
            call("read_span", {"trace_id": t, "span_id": s}),
            call("read_span_exact", {"trace_id": t, "span_id": s, "field": "output", "offset": 0, "length": 50}),
            call("get_children", {"trace_id": t, "span_id": s}),
            call("get_spans_by_type", {"kind": "tool", "trace_id": t}),
            call("search_spans", {"query": "error"}),
            call("submit_finding", _finding_args(issue, quote="words the span never said")),
            call("submit_finding", _finding_args(issue)),
            call("submit_scores", _scores_args(t)),
            call("submit_summary", _summary()),
        ]
    )
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_loop")

    assert result.stopped_by == "summary"
    assert result.turns == 11 and script.remaining == 0
    refusal = script.calls[8]["messages"][-1]["content"]
    assert refusal.startswith("rejected") and "verbatim" in refusal
    assert [f.category for f in result.findings] == [issue.category]
    assert result.findings[0].source == "llm:scripted"
    stored = demo_store.conn.execute("SELECT data FROM findings WHERE run_id = 'run_loop'").fetchall()
    assert [orjson.loads(r[0])["id"] for r in stored] == [result.findings[0].id]
    sources = {r[0] for r in demo_store.conn.execute("SELECT source FROM issues WHERE trace_id = ?", [t])}
    assert "llm:scripted" in sources
    scored = {x.source for x in demo_store.scores() if x.trace_id == t}
    assert "llm:scripted" in scored
    logged = demo_store.conn.execute("SELECT count(*) FROM llm_calls WHERE run_id = 'run_loop'").fetchone()[0]
    assert logged == 11


@pytest.mark.parametrize(
    ("budget", "settings", "step_tokens", "step_cost", "calls"),
    [
        ("turns", {"max_turns": 3}, 10, 0.0, 3),
        ("tokens", {"max_tokens": 1000}, 400, 0.0, 2),
        ("dollars", {"max_usd": 0.05}, 10, 0.02, 2),
        ("time", {"max_seconds": 150}, 10, 0.0, 2),
    ],
)
def test_each_budget_ends_the_investigation_and_keeps_what_was_found(
    demo_store, cluster, monkeypatch, budget, settings, step_tokens, step_cost, calls
):
    ticks = itertools.count(step=50)
    monkeypatch.setattr(graph, "clock", lambda: next(ticks))  # every clock reading is 50 s later
    issue = _issue(demo_store, cluster)
    steps = [call("submit_finding", _finding_args(issue), tokens_in=step_tokens, cost_usd=step_cost)]
    steps += [call("trace_outline", {"trace_id": issue.trace_id}, tokens_in=step_tokens, cost_usd=step_cost)] * 5
    script = ScriptedProvider(steps)
    config = JudgeSettings(**{**SCRIPTED.__dict__, **settings})

    result = investigate_cluster(demo_store, cluster, config, "run_budget")

    assert result.stopped_by == budget
    assert len(script.calls) == calls
    assert [f.category for f in result.findings] == [issue.category]
    assert demo_store.conn.execute("SELECT count(*) FROM findings WHERE run_id = 'run_budget'").fetchone()[0] == 1


def test_the_model_is_told_to_wrap_up_when_a_budget_runs_low(demo_store, cluster):
    issue = _issue(demo_store, cluster)
    script = ScriptedProvider(
        [call("trace_outline", {"trace_id": issue.trace_id})] * 4 + [call("submit_summary", _summary())]
    )
    investigate_cluster(demo_store, cluster, JudgeSettings(model="scripted", max_turns=5), "run_warn")

    last = script.calls[4]["messages"][-1]
    # after tool results the warning joins the last of them: Mistral refuses a user turn after a tool turn
    assert last["role"] == "tool"
    warning = last["content"].rsplit("\n\n", 1)[1]
    assert warning.startswith("Budget left: 1 turns") and "Submit your findings and scores now" in warning
    assert not any("Submit your findings and scores now" in (m["content"] or "") for m in script.calls[3]["messages"])
    assert all(m["role"] != "user" for m in script.calls[4]["messages"][2:])


def test_the_budget_note_names_no_price_computed_dollars_nor_wall_clock_seconds(demo_store, cluster, monkeypatch):
    ticks = itertools.count(step=50)
    monkeypatch.setattr(graph, "clock", lambda: next(ticks))
    issue = _issue(demo_store, cluster)
    script = ScriptedProvider([call("trace_outline", {"trace_id": issue.trace_id}, cost_usd=0.02)] * 3)
    settings = JudgeSettings(model="scripted", max_turns=5, max_usd=0.05, max_seconds=180)
    investigate_cluster(demo_store, cluster, settings, "run_note")

    notes = [line for call_ in script.calls for m in call_["messages"] if m["role"] == "tool"
             for line in m["content"].splitlines() if line.startswith("Budget left")]
    assert notes and notes[0].startswith("Budget left: 4 turns")
    assert not any("$" in n or re.search(r"\d+ s\b", n) for n in notes)
    low = graph.initial_state([]) | {"turns": 2, "cost": 0.0461, "elapsed": 171.3}
    assert graph.budget_text(low, settings) == (
        "Budget left: 3 turns, 400000 tokens; the dollar budget is nearly spent; the time budget is nearly spent."
    )


def test_a_sub_investigation_adds_its_findings_and_cannot_nest_past_the_depth_cap(demo_store, cluster):
    issue = _issue(demo_store, cluster)
    other = next(t for t in cluster.trace_ids if t != issue.trace_id)
    subset = [issue.trace_id, other]
    script = ScriptedProvider(
        [
            call("investigate_subset", {"trace_ids": subset, "question": "Why do these two fail?"}),
            # the child investigation, at depth 1 of at most 1
            call("investigate_subset", {"trace_ids": [issue.trace_id], "question": "deeper"}),
            call("submit_finding", _finding_args(issue)),
            call("submit_summary", _summary()),
            # back in the parent
            call("submit_summary", _summary()),
        ]
    )
    settings = JudgeSettings(model="scripted", max_depth=1)
    result = investigate_cluster(demo_store, cluster, settings, "run_sub")

    assert [f.category for f in result.findings] == [issue.category]
    assert len(result.children) == 1 and result.children[0].turns == 3
    child_first = script.calls[1]["messages"]
    assert "Why do these two fail?" in child_first[1]["content"]
    refused = script.calls[2]["messages"][-1]["content"]
    assert "not available" in refused
    assert "the sub-investigation of 2 traces returned 1 findings" in script.calls[4]["messages"][-1]["content"]


@pytest.mark.parametrize(("max_usd", "stopped_by", "parent_calls"), [(1.0, "summary", 2), (0.021, "dollars", 1)])
def test_what_a_sub_investigation_spends_counts_against_its_parents_budget(
    demo_store, cluster, max_usd, stopped_by, parent_calls
):
    issue = _issue(demo_store, cluster)
    other = next(t for t in cluster.trace_ids if t != issue.trace_id)
    script = ScriptedProvider(
        [
            call(
                "investigate_subset",
                {"trace_ids": [issue.trace_id, other], "question": "same cause?"},
                tokens_in=10,
                tokens_out=5,
                cost_usd=0.001,
            ),
            call("submit_finding", _finding_args(issue), tokens_in=300, tokens_out=40, cost_usd=0.01),  # the child
            call("submit_summary", _summary(), tokens_in=400, tokens_out=50, cost_usd=0.01),  # the child
            call("submit_summary", _summary(), tokens_in=20, tokens_out=5, cost_usd=0.001),
        ]
    )
    settings = JudgeSettings(model="scripted", max_depth=1, max_usd=max_usd, subset_budget_fraction=1.0)

    result = investigate_cluster(demo_store, cluster, settings, "run_spend")

    assert result.stopped_by == stopped_by
    assert len(script.calls) == 2 + parent_calls
    assert (result.children[0].tokens_in, result.children[0].cost_usd) == (700, pytest.approx(0.02))
    parent_in = 10 + 20 * (parent_calls - 1)
    assert result.tokens_in == parent_in + 700 and result.tokens_out == 5 * parent_calls + 90
    assert result.cost_usd == pytest.approx(0.001 * parent_calls + 0.02)


def test_a_reply_without_tool_calls_is_answered_with_a_nudge(demo_store, cluster):
    from investigator.providers.scripted import reply

    script = ScriptedProvider([reply("I think it is fine."), call("submit_summary", _summary())])
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_nudge")

    assert result.stopped_by == "summary"
    assert script.calls[1]["messages"][-2:] == [
        {"role": "assistant", "content": "I think it is fine."}, {"role": "user", "content": graph.NUDGE}
    ]


def test_an_interrupted_investigation_resumes_from_its_checkpoint(demo_store, cluster):
    issue = _issue(demo_store, cluster)
    ScriptedProvider([call("submit_finding", _finding_args(issue)), KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        investigate_cluster(demo_store, cluster, SCRIPTED, "run_resume")

    resumed = ScriptedProvider([call("submit_summary", _summary())])
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_resume")

    assert len(resumed.calls) == 1
    assert result.turns == 2 and result.stopped_by == "summary"
    assert [f.category for f in result.findings] == [issue.category]
    assert "accepted finding" in resumed.calls[0]["messages"][-1]["content"]


def _turn(n: int) -> list[dict]:
    args = orjson.dumps({"trace_id": f"t{n}"}).decode()
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": f"c{n}", "type": "function", "function": {"name": "trace_outline", "arguments": args}}
            ],
        },
        {"role": "tool", "tool_call_id": f"c{n}", "content": f"outline {n} " + "x" * 300},
    ]


def test_tool_results_older_than_the_kept_turns_are_stubbed_a_batch_at_a_time():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    for n in range(9):
        messages += _turn(n)
    kept = graph.elide(messages, keep_turns=4)

    tool_texts = [m["content"] for m in kept if m["role"] == "tool"]
    assert tool_texts[0] == '[earlier result of trace_outline({"trace_id":"t0"}) elided; call again if needed]'
    assert all(t.startswith("[earlier result of trace_outline") for t in tool_texts[:4])
    assert all(t.startswith("outline") for t in tool_texts[4:])
    assert messages[3]["content"].startswith("outline 0")  # the state itself keeps the full text


def test_stubbing_changes_what_was_sent_before_only_once_a_batch_so_the_prompt_cache_holds():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    previous: list[dict] = []
    rewrites = 0
    for n in range(16):
        messages += _turn(n)
        sent = graph.elide(messages, keep_turns=4)
        if sent[: len(previous)] != previous:  # an earlier message changed: the cached prefix is lost
            rewrites += 1
        previous = sent
    assert rewrites == 3  # at turns 8, 12 and 16, not at every turn from the fifth on


def test_an_empty_reply_is_not_stored_as_an_assistant_turn(demo_store, cluster):
    from investigator.providers.base import ModelOutput

    script = ScriptedProvider([ModelOutput(model="scripted", text="  \n"), call("submit_summary", _summary())])
    investigate_cluster(demo_store, cluster, SCRIPTED, "run_empty")

    sent = script.calls[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "user"]
    assert sent[-1] == {"role": "user", "content": graph.NUDGE}


def test_an_assistant_turn_that_only_calls_tools_has_no_content_and_keeps_its_echo(demo_store, cluster):
    from investigator.providers.base import ModelOutput, ToolCall

    echo = {"anthropic": [{"type": "thinking", "thinking": "t", "signature": "s"},
                          {"type": "tool_use", "id": "c1", "name": "cluster_overview", "input": {}}]}
    script = ScriptedProvider([
        ModelOutput(model="scripted", tool_calls=[ToolCall(id="c1", name="cluster_overview", arguments={})], echo=echo),
        call("submit_summary", _summary()),
    ])
    investigate_cluster(demo_store, cluster, SCRIPTED, "run_echo")

    assistant = script.calls[1]["messages"][2]
    assert assistant["role"] == "assistant" and assistant["content"] is None and assistant["echo"] == echo


def test_a_reply_cut_off_by_the_output_limit_runs_none_of_its_tool_calls(demo_store, cluster):
    from investigator.providers.base import ModelOutput, ToolCall

    cut = ModelOutput(model="scripted", truncated=True, stop_reason="max_tokens",
                      tool_calls=[ToolCall(id="c1", name="submit_summary", arguments={"summary": "Inval"})])
    script = ScriptedProvider([cut, call("submit_summary", _summary())])
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_cut")

    assert result.summary == _summary()  # the cut-off submission was not run
    sent = script.calls[1]["messages"]
    assert not any(m.get("tool_calls") for m in sent) and sent[-1] == {"role": "user", "content": graph.TRUNCATED}


@pytest.mark.parametrize(("output", "stopped_by"), [
    ({"refusal": "I can't help with that."}, "refusal"),
    ({"context_exceeded": True, "stop_reason": "model_context_window_exceeded"}, "tokens"),
])
def test_a_refusal_or_a_full_context_ends_the_investigation_keeping_what_was_found(
    demo_store, cluster, output, stopped_by
):
    from investigator.providers.base import ModelOutput

    issue = _issue(demo_store, cluster)
    script = ScriptedProvider([call("submit_finding", _finding_args(issue)), ModelOutput(model="scripted", **output)])
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_refusal")

    assert result.stopped_by == stopped_by and result.turns == 2 and len(script.calls) == 2
    assert [f.category for f in result.findings] == [issue.category]


def test_a_provider_error_ends_the_investigation_keeping_what_was_found(demo_store, cluster):
    from investigator.providers import ProviderError

    issue = _issue(demo_store, cluster)
    ScriptedProvider([call("submit_finding", _finding_args(issue)), ProviderError("HTTP 400: context too long")])
    result = investigate_cluster(demo_store, cluster, SCRIPTED, "run_error")

    assert result.stopped_by == "error" and result.error == "HTTP 400: context too long"
    assert [f.category for f in result.findings] == [issue.category]


def test_a_finished_investigation_leaves_no_checkpoint_behind_and_no_file_beside_the_store(demo_store, cluster):
    from pathlib import Path

    ScriptedProvider([call("submit_summary", _summary())])
    investigate_cluster(demo_store, cluster, SCRIPTED, "run_clean")

    assert demo_store.conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0  # kept in the store
    beside = {p.name for p in Path(demo_store.path).parent.iterdir()}
    assert beside <= {Path(demo_store.path).name + suffix for suffix in ("", "-wal", "-shm")}, beside
