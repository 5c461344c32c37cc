"""Timestamps: every format's notion of time becomes one ISO-8601 UTC string.

The store keeps `YYYY-MM-DDTHH:MM:SS.ffffffZ` so times sort as text and window queries are
plain string comparisons.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _format(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    else:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_epoch(value: float | int) -> str:
    """Epoch seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude)."""
    v = abs(value)
    if v >= 1e17:  # nanoseconds
        seconds, nanos = divmod(int(value), 1_000_000_000)
        return _format(_EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000))
    if v >= 1e14:  # microseconds
        return _format(_EPOCH + timedelta(microseconds=int(value)))
    if v >= 1e11:  # milliseconds
        return _format(_EPOCH + timedelta(milliseconds=value))
    return _format(_EPOCH + timedelta(seconds=value))


@lru_cache(maxsize=4096)
def _from_text(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty timestamp")
    if stripped.lstrip("-").replace(".", "", 1).isdigit():
        number = float(stripped) if "." in stripped else int(stripped)
        return from_epoch(number)
    return _format(datetime.fromisoformat(stripped))


def to_iso(value: object) -> str | None:
    """Normalise a timestamp of any supported shape; None stays None. Raises ValueError on junk."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, (int, float)):
        return from_epoch(value)
    if isinstance(value, str):
        if len(value) > 40:
            raise ValueError(f"not a timestamp: {value[:40]!r}…")
        try:
            return _from_text(value)
        except ValueError:
            raise ValueError(f"not a timestamp: {value!r}") from None
    if isinstance(value, datetime):
        return _format(value)
    raise ValueError(f"not a timestamp: {value!r}")


# A stored timestamp as a datetime. Bound directly, without a wrapper: durations parse two per span.
parse_iso = datetime.fromisoformat


_MICROSECOND = timedelta(microseconds=1)


def duration_ms(start: str | None, end: str | None) -> float | None:
    """Milliseconds from `start` to `end`, to the microsecond: the float nearest the exact value."""
    if not start or not end:
        return None
    return (parse_iso(end) - parse_iso(start)) // _MICROSECOND / 1000


def now_iso() -> str:
    return _format(datetime.now(UTC))
