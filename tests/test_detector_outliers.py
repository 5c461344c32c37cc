"""Latency and token outliers are judged against peers in the population, and are performance
notes in the trace's document, never issues: a slow call is not a failed one."""

from __future__ import annotations

from span_builders import llm, tool, view

from investigator.detectors import run_detectors
from investigator.detectors.outliers import performance_notes
from investigator.detectors.population import PopulationStats, Timings
from investigator.models import Span

SLOW_ID = "5e1a9c0b3d7f2a64"


def peers(count: int = 40) -> list[Span]:
    return [
        tool(
            f"{n:016x}",
            1.0,
            1.0 + 0.8 + (n % 5) * 0.05,
            "track_shipment",
            '{"tracking_number": "1Z999"}',
            '{"status": "in_transit"}',
        )
        for n in range(count)
    ]


def slow_call(seconds: float = 30.0) -> Span:
    return tool(SLOW_ID, 1.0, 1.0 + seconds, "track_shipment", '{"tracking_number": "1Z999AA1"}', '{"status": "ok"}')


def test_a_call_far_slower_than_its_peers_is_noted_and_is_not_an_issue() -> None:
    slow = slow_call()
    trace_view = view(slow, population=PopulationStats.build(Timings.of([*peers(), slow])))
    [note] = performance_notes(trace_view)
    assert SLOW_ID in note and "took 30.0s" in note and "40 peers" not in note  # 41 spans, the slow one included
    assert run_detectors(trace_view) == []


def test_call_within_the_normal_spread_is_not_noted() -> None:
    normal = slow_call(0.95)
    assert performance_notes(view(normal, population=PopulationStats.build(Timings.of([*peers(), normal])))) == []


def test_small_groups_are_not_judged() -> None:
    slow = slow_call()
    assert performance_notes(view(slow, population=PopulationStats.build(Timings.of([*peers(5), slow])))) == []


def test_no_population_means_no_notes() -> None:
    assert performance_notes(view(slow_call())) == []


def test_failed_calls_are_no_baseline() -> None:
    """Forty fast failures and twenty-one normal calls: the baseline is the normal calls, so a call
    as slow as they are is not an outlier."""
    failed = [s.model_copy(update={"status": "error", "end_time": s.start_time}) for s in peers(40)]
    normal = peers(21)
    usual = slow_call(0.9)
    population = PopulationStats.build(Timings.of([*failed, *normal, usual]))
    assert performance_notes(view(usual, population=population)) == []
    assert population.spread("duration_ms", usual).count == 22


def test_model_calls_are_compared_within_the_same_agent_and_role() -> None:
    """A planner's long prompts are no outlier among a summariser's short ones: different roles."""
    hi, hello = [{"role": "user", "content": "hi"}], [{"role": "assistant", "content": "hello"}]
    summaries = [llm(f"{n:016x}", 1.0, 2.0, hi, hello, tokens_in=1200 + n * 10, tokens_out=150) for n in range(30)]
    summaries = [s.model_copy(update={"agent": "summariser"}) for s in summaries]
    plans = [
        llm(f"{n + 100:016x}", 1.0, 2.0, hi, hello, tokens_in=90000 + n * 10, tokens_out=150).model_copy(
            update={"agent": "planner"}
        )
        for n in range(30)
    ]
    population = PopulationStats.build(Timings.of([*summaries, *plans]))
    assert performance_notes(view(plans[0], population=population)) == []
    bloated = summaries[0].model_copy(update={"span_id": SLOW_ID, "tokens_in": 96000})
    population = PopulationStats.build(Timings.of([*summaries, *plans, bloated]))
    [note] = performance_notes(view(bloated, population=population))
    assert SLOW_ID in note and "96150 tokens" in note


def test_population_read_in_shares_equals_population_read_whole(demo_store) -> None:
    from investigator.detectors.population import samples

    values = samples(demo_store.span_timings())
    parts = [samples(demo_store.span_timings(k, 3)) for k in range(3)]
    whole, shared = PopulationStats.from_samples([values]), PopulationStats.from_samples(parts)
    assert whole.spreads and shared == whole
    assert {key: sum(len(p.get(key, [])) for p in parts) for key in values} == {
        key: len(v) for key, v in values.items()
    }


def test_timings_grouped_by_sqlite_equal_those_of_the_spans_in_hand(demo_store) -> None:
    """The store computes the groups in SQL; they must hold exactly what Timings.of finds in the spans."""
    from investigator.detectors.population import samples

    ids = [r[0] for r in demo_store.conn.execute("SELECT trace_id FROM traces")]
    spans = [s for trace in demo_store.spans_of(ids).values() for s in trace]
    stored, in_hand = samples(demo_store.span_timings()), samples(Timings.of(spans))
    assert len(stored) > 20 and any(key[0] == "tokens" for key in stored)
    assert {k: sorted(v) for k, v in stored.items()} == {k: sorted(v) for k, v in in_hand.items()}
