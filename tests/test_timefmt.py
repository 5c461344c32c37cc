"""Span durations are exact to the microsecond."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from investigator.timefmt import duration_ms, to_iso


def test_duration_is_the_float_nearest_the_exact_milliseconds() -> None:
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(20_000):
        start = base + timedelta(microseconds=rng.randint(0, 10**13))
        delta = timedelta(microseconds=rng.choice([rng.randint(-(10**6), 10**6), rng.randint(-(10**12), 10**12)]))
        expected = round((delta).total_seconds() * 1000.0, 3)
        assert duration_ms(to_iso(start), to_iso(start + delta)) == expected


def test_duration_examples() -> None:
    assert duration_ms("2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.500001Z") == 1500.001
    assert duration_ms("2026-01-01T00:00:02.000000Z", "2026-01-01T00:00:01.999999Z") == -0.001
    assert duration_ms(None, "2026-01-01T00:00:01.000000Z") is None
