"""The fast paths of span normalisation give exactly what the plain paths gave.

Each fast path (prefix tests before regexes, one-pass hints, strftime-free timestamps, flattening
without a call per scalar) is compared with a reference copy of the code it replaced, over generated
inputs, so the test fails as soon as a fast path drifts from it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from investigator import timefmt
from investigator.timefmt import to_iso

# ---------------------------------------------------------------- timefmt

# Today's (before the fast paths) strftime version, kept as the reference the fast paths must match.
_REF_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ref_format(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    else:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ref_from_epoch(value: float | int) -> str:
    v = abs(value)
    if v >= 1e17:
        seconds, nanos = divmod(int(value), 1_000_000_000)
        return _ref_format(_REF_EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000))
    if v >= 1e14:
        return _ref_format(_REF_EPOCH + timedelta(microseconds=int(value)))
    if v >= 1e11:
        return _ref_format(_REF_EPOCH + timedelta(milliseconds=value))
    return _ref_format(_REF_EPOCH + timedelta(seconds=value))


def _ref_from_text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty timestamp")
    if stripped.lstrip("-").replace(".", "", 1).isdigit():
        number = float(stripped) if "." in stripped else int(stripped)
        return _ref_from_epoch(number)
    return _ref_format(datetime.fromisoformat(stripped))


def _ref_to_iso(value: object) -> str | None:
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return _ref_from_epoch(value)
    if isinstance(value, str):
        if len(value) > 40:
            raise ValueError(f"not a timestamp: {value[:40]!r}…")
        try:
            return _ref_from_text(value)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    if isinstance(value, datetime):
        return _ref_format(value)
    raise ValueError(f"not a timestamp: {value!r}")


def _outcome(function: Any, value: Any) -> tuple[str, Any]:
    """What a call returns, or the type and message of what it raises (both must match)."""
    try:
        return "value", function(value)
    except Exception as exc:  # noqa: BLE001 - any exception, compared by type and text
        return type(exc).__name__, str(exc)


def _random_datetime(rng: random.Random) -> datetime:
    year = rng.choice([rng.randint(1, 9999), rng.randint(1, 999), rng.randint(1960, 2100), 1, 9999, 1000, 999])
    dt = datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                  rng.randint(0, 59), rng.choice([0, rng.randint(0, 999_999), 999_999, 500_000]))
    shape = rng.randrange(4)
    if shape == 0:
        return dt  # naive
    if shape == 1:
        return dt.replace(tzinfo=UTC)
    offset = timedelta(minutes=rng.randint(-23 * 60 - 59, 23 * 60 + 59))
    if shape == 2:
        offset = timedelta(hours=rng.randint(-12, 14))
    return dt.replace(tzinfo=timezone(offset))


def _iso_texts(rng: random.Random, dt: datetime) -> list[str]:
    """The same time written the ways exporters write it: offsets, Z, naive, fractions of any length."""
    naive = dt.replace(tzinfo=None)
    base = naive.isoformat(timespec="seconds")
    digits = f"{dt.microsecond:06d}"
    fraction = "." + digits[: rng.randint(1, 6)] if rng.random() < 0.8 else ""
    offset = dt.utcoffset()
    if offset is None:
        zone = rng.choice(["", "Z", "+00:00"])
    else:
        zone = rng.choice(["Z", dt.isoformat()[-6:], dt.strftime("%z")])
    separator = rng.choice(["T", "T", " "])
    written = base.replace("T", separator) + fraction + zone
    return [written, f" {written} ", dt.isoformat(), naive.isoformat(timespec="microseconds") + "Z",
            base + fraction + "Z", naive.date().isoformat()]


def _canonical_shape(rng: random.Random) -> str:
    """Text in the stored shape with any digits, so impossible dates and times (month 13, 30 February,
    hour 24, second 60, year 0000) and years before 1000 come up often."""
    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    year = rng.choice([digits(4), f"{rng.randint(1990, 2100)}", "0000", f"0{digits(3)}"])
    month = rng.choice([digits(2), f"{rng.randint(1, 12):02d}", "00", "13"])
    day = rng.choice([digits(2), f"{rng.randint(1, 31):02d}", "29", "30", "31", "00"])
    hour = rng.choice([digits(2), f"{rng.randint(0, 23):02d}", "24"])
    minute = rng.choice([digits(2), f"{rng.randint(0, 59):02d}", "60"])
    second = rng.choice([digits(2), f"{rng.randint(0, 59):02d}", "60"])
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}.{digits(6)}Z"


def _epoch_values(rng: random.Random) -> list[Any]:
    """Epoch times of every magnitude, sign and type, including the edges between magnitudes."""
    values: list[Any] = []
    for scale in (1, 1_000, 1_000_000, 1_000_000_000):
        seconds = rng.choice([rng.uniform(-1e10, 1.8e9), rng.uniform(0, 4e9), rng.randint(-(10**10), 10**10)])
        as_int = int(seconds * scale) + rng.randint(0, scale - 1)
        values += [as_int, -as_int, float(as_int), seconds * scale, str(as_int), str(-as_int), f"{seconds * scale:.3f}"]
    edges = [1e11, 1e14, 1e17, 10**11, 10**14, 10**17, 10**11 - 1, 10**14 - 1, 10**17 - 1, -(10**17), 99_999_999_999]
    values += edges + [str(e) for e in edges] + [rng.randint(10**20, 10**21), 10**30, -(10**26), 1e300, -1e20]
    return values


_ODD_VALUES: list[Any] = [
    None, "", 0, "0", 0.0, -0.0, True, False, "   ", "-", "--1", "1.2.3", ".5", "5.", "-.5", "²", "١٢٣",
    "nan", "inf", float("nan"), float("inf"), "2025-13-01T00:00:00Z", "2025-02-30", "not a time",
    "2025-12-29T09:20:00.349999Z ", "2025-12-29T09:20:00.349999z", "2025-12-29t09:20:00.349999Z",
    "2025-12-29T09:20:00.3499999Z", "2025-12-29T09:20:00,349999Z", "2025-12-29T09:20:00.349999+00:00",
    "２０２５-12-29T09:20:00.349999Z", "x" * 41, "1" * 41, [], {}, b"2025", datetime.max, datetime.min,
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-1))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=1))),
]


def _generated_times(seed: int, count: int) -> list[Any]:
    rng = random.Random(seed)
    values: list[Any] = list(_ODD_VALUES)
    for _ in range(count):
        dt = _random_datetime(rng)
        values += [dt, *_iso_texts(rng, dt), _canonical_shape(rng), *_epoch_values(rng)]
    return values


def test_to_iso_matches_the_strftime_reference_on_generated_values() -> None:
    values = _generated_times(seed=20251229, count=2000)
    mismatches = [(v, _outcome(to_iso, v), _outcome(_ref_to_iso, v)) for v in values
                  if _outcome(to_iso, v) != _outcome(_ref_to_iso, v)]
    assert not mismatches[:5]
    assert len(values) > 50_000


def test_the_stored_form_fast_path_is_taken_and_still_validated() -> None:
    assert timefmt._stored_form("2025-12-29T09:20:00.349999Z") == "2025-12-29T09:20:00.349999Z"
    assert timefmt._stored_form("2025-12-29T09:20:00.349999+00:00") is None
    assert timefmt._stored_form("0999-12-29T09:20:00.349999Z") is None  # strftime writes year 999 unpadded
    for impossible in ("2025-02-30T00:00:00.000000Z", "2025-13-01T00:00:00.000000Z", "2025-01-01T24:00:00.000000Z",
                       "2024-12-31T23:59:60.000000Z", "0000-01-01T00:00:00.000000Z"):
        with pytest.raises(ValueError, match="not a timestamp"):
            to_iso(impossible)
        with pytest.raises(ValueError):
            _ref_to_iso(impossible)


def test_epoch_nanoseconds_and_fields_formatting_match_the_reference() -> None:
    rng = random.Random(5)
    for _ in range(20_000):
        nanos = rng.randint(-(10**19), 10**19)
        assert _outcome(timefmt.from_epoch, nanos) == _outcome(_ref_from_epoch, nanos)
        dt = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                      rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999_999), tzinfo=UTC)
        assert timefmt._stored_text(dt) == dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- flatten

def _nested_value(rng: random.Random, depth: int) -> Any:
    """Attributes as exporters nest them: dicts, lists of dicts or scalars, and None among them."""
    shape = rng.randrange(6 if depth < 3 else 3)
    if shape == 0:
        return None
    if shape == 1:
        return rng.choice(["text", "", 0, 1.5, True, False])
    if shape == 2:
        return [rng.choice([None, "a", 1]) for _ in range(rng.randint(0, 3))]
    if shape == 3:
        return [_nested_value(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return {f"k{i}": _nested_value(rng, depth + 1) for i in range(rng.randint(0, 4))}


def test_flatten_dropping_none_matches_flattening_then_filtering() -> None:
    from investigator.ingest.base import flatten

    rng = random.Random(7)
    dropped = 0
    for _ in range(5000):
        value = {f"a{i}": _nested_value(rng, 0) for i in range(rng.randint(1, 5))}
        reference = {k: v for k, v in flatten(value).items() if v is not None}
        result = flatten(value, drop_none=True)
        assert list(result.items()) == list(reference.items()), value
        dropped += len(flatten(value)) - len(result)
    assert dropped > 1000  # None values came up, and were left out
