"""Latency and token outliers are judged against peers in the population, at low severity."""

from __future__ import annotations

from span_builders import llm, tool, view

from investigator.detectors.outliers import detect_outliers
from investigator.detectors.population import PopulationStats, Timings
from investigator.models import Span


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


def test_call_far_slower_than_its_peers_is_a_low_severity_outlier() -> None:
    slow = tool(
        "5e1a9c0b3d7f2a64", 1.0, 31.0, "track_shipment", '{"tracking_number": "1Z999AA1"}', '{"status": "in_transit"}'
    )
    population = PopulationStats.build(Timings.of([*peers(), slow]))
    issues = list(detect_outliers(view(slow, population=population)))
    assert [(i.span_id, i.category, i.severity) for i in issues] == [("5e1a9c0b3d7f2a64", "execution.timeout", "low")]


def test_call_within_the_normal_spread_is_not_an_outlier() -> None:
    normal = tool(
        "5e1a9c0b3d7f2a64", 1.0, 1.95, "track_shipment", '{"tracking_number": "1Z999AA1"}', '{"status": "in_transit"}'
    )
    population = PopulationStats.build(Timings.of([*peers(), normal]))
    assert list(detect_outliers(view(normal, population=population))) == []


def test_small_groups_are_not_judged() -> None:
    slow = tool(
        "5e1a9c0b3d7f2a64", 1.0, 31.0, "track_shipment", '{"tracking_number": "1Z999AA1"}', '{"status": "in_transit"}'
    )
    population = PopulationStats.build(Timings.of([*peers(5), slow]))
    assert list(detect_outliers(view(slow, population=population))) == []


def test_no_population_means_no_outliers() -> None:
    slow = tool(
        "5e1a9c0b3d7f2a64", 1.0, 31.0, "track_shipment", '{"tracking_number": "1Z999AA1"}', '{"status": "in_transit"}'
    )
    assert list(detect_outliers(view(slow))) == []


def test_token_hungry_model_call_is_an_outlier() -> None:
    calls = [
        llm(
            f"{n:016x}",
            1.0,
            2.0,
            [{"role": "user", "content": "hi"}],
            [{"role": "assistant", "content": "hello"}],
            tokens_in=1200 + n * 10,
            tokens_out=150,
        )
        for n in range(30)
    ]
    bloated = llm(
        "5e1a9c0b3d7f2a64",
        1.0,
        2.0,
        [{"role": "user", "content": "hi"}],
        [{"role": "assistant", "content": "hello"}],
        tokens_in=96000,
        tokens_out=150,
    )
    population = PopulationStats.build(Timings.of([*calls, bloated]))
    issues = list(detect_outliers(view(bloated, population=population)))
    assert [(i.category, i.severity) for i in issues] == [("planning.redundant_steps", "low")]


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
