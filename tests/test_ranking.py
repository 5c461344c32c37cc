"""Findings rank by expected harm (severity weight × traces affected × confidence), and their impact
reads in users' terms: traces, share of the window, distinct sessions and users."""

from __future__ import annotations

from investigator.findings import affected, expected_harm, rank_key
from investigator.models import Evidence, Finding, Impact


def finding(fid: str, severity: str, traces: int, confidence: float, cluster_impact: float) -> Finding:
    return Finding(
        id=fid,
        run_id="run_1",
        cluster_id="c_1",
        title="t",
        category="safety.secret_exposure" if severity == "critical" else "planning.redundant_steps",
        severity=severity,
        confidence=confidence,
        description="d",
        root_cause="r",
        immediate_fix="f (trace t1)",
        fix_layer="tool",
        evidence=[Evidence(trace_id="t1", span_id="s1", quote="quoted")],
        trace_ids=[f"t{n}" for n in range(traces)],
        impact=Impact(
            trace_count=traces, prevalence=0.1, severity_weight=1, impact_score=cluster_impact, window_traces=400
        ),
        source="offline",
    )


def test_a_critical_finding_outranks_a_medium_one_of_similar_reach_whatever_its_cluster_scored() -> None:
    leak = finding("f_leak", "critical", 9, 0.8, cluster_impact=0.0004)
    loops = finding("f_loop", "medium", 12, 0.9, cluster_impact=0.0100)
    assert expected_harm(leak) == 4 * 9 * 0.8 and expected_harm(loops) == 2 * 12 * 0.9
    assert [f.id for f in sorted([loops, leak], key=rank_key)] == ["f_leak", "f_loop"]
    wide = finding("f_wide", "medium", 40, 0.9, cluster_impact=0.0001)
    assert [f.id for f in sorted([leak, wide], key=rank_key)] == ["f_wide", "f_leak"]  # much wider reach wins


def test_impact_counts_distinct_sessions_and_users_of_the_affected_traces(demo_store) -> None:
    rows = demo_store.conn.execute(
        "SELECT trace_id, session_id, user_id FROM traces WHERE session_id IS NOT NULL ORDER BY trace_id LIMIT 6"
    ).fetchall()
    ids = [r[0] for r in rows]
    impact = affected(demo_store, finding("f", "high", 1, 0.9, 0.01).impact, ids)
    assert (impact.trace_count, impact.sessions, impact.users) == (
        6,
        len({r[1] for r in rows}),
        len({r[2] for r in rows}),
    )
    assert impact.sessions > 0 and impact.users > 0
    words = impact.in_words()
    assert words.startswith("6 traces (1.5% of the window's 400), ")
    assert f"{impact.sessions} session" in words and f"{impact.users} user" in words


def test_impact_counts_the_tokens_and_cost_of_the_model_calls_in_the_affected_traces(demo_store) -> None:
    rows = demo_store.conn.execute(
        "SELECT trace_id FROM spans WHERE kind = 'llm' AND cost > 0 GROUP BY trace_id ORDER BY trace_id LIMIT 3"
    ).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == 3
    calls = [(s.tokens_in or 0, s.tokens_out or 0, s.cost) for t in ids for s in demo_store.spans(t) if s.kind == "llm"]
    # An agent span that sums its calls' tokens (as some exporters write) is not counted again.
    demo_store.conn.execute(
        "UPDATE spans SET tokens_in = 10000, tokens_out = 500 WHERE trace_id = ? AND kind != 'llm'", [ids[0]]
    )
    impact = affected(demo_store, finding("f", "high", 1, 0.9, 0.01).impact, ids)
    assert impact.tokens == sum(i + o for i, o, _ in calls) > 0
    assert impact.cost_usd == round(sum(c for _, _, c in calls if c), 6)
    assert f"; {impact.tokens / 1000:.1f}k tokens" in impact.in_words()
    bare = affected(demo_store, finding("f", "high", 1, 0.9, 0.01).impact, ["no-such-trace"])
    assert (bare.tokens, bare.cost_usd) == (0, None) and "tokens" not in bare.in_words()
