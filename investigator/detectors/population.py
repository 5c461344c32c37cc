"""Population statistics for outlier detectors: robust centre and spread per comparable group.

A span is only slow or token-hungry relative to its peers: the same tool; for model calls the same
model in the same role (the same agent's step of the same name: a planning call is no peer of a
summarising one). Failed spans are no baseline. Medians and MADs resist the outliers they are
meant to find.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from investigator.models import Span

MIN_GROUP = 20
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Spread:
    median: float
    mad: float
    count: int

    def robust_z(self, value: float) -> float:
        """How many (MAD-scaled) deviations above the median `value` sits."""
        scale = self.mad * MAD_SCALE
        if scale <= 0:
            scale = max(abs(self.median) * 0.05, 1e-9)
        return (value - self.median) / scale


def group_key(span: Span) -> str | None:
    """The peer group a span is compared within; None for spans not worth comparing."""
    return _group_key(span.kind, span.name, span.tool_name, span.model, span.agent)


@lru_cache(maxsize=4096)  # a few hundred distinct groups, asked about for every span
def _group_key(kind: str, name: str, tool_name: str | None, model: str | None, agent: str | None) -> str | None:
    if kind == "tool":
        return f"tool:{tool_name or name}"
    if kind == "llm":
        return f"llm:{model or ''}|{agent or ''}|{name}"
    if kind in ("retriever", "embedding", "reranker"):
        return f"{kind}:{name}"
    return None


class Timings(NamedTuple):
    """What the population statistics read of the spans that share a kind, name, tool, model and
    agent and did not fail: the durations of those with both times, the token totals of those that
    report tokens."""

    kind: str
    name: str
    tool_name: str | None
    model: str | None
    agent: str | None
    durations_ms: list[float]
    tokens: list[int]

    @classmethod
    def of(cls, spans: Iterable[Span]) -> list[Timings]:
        """The timings of spans in hand (the store reads its own with `Store.span_timings`)."""
        groups: dict[tuple[str, str, str | None, str | None, str | None], Timings] = {}
        for span in spans:
            if span.status == "error":
                continue
            key = (span.kind, span.name, span.tool_name, span.model, span.agent)
            group = groups.get(key)
            if group is None:
                group = groups[key] = cls(*key, [], [])
            if (duration := span.duration_ms) is not None:
                group.durations_ms.append(duration)
            if (tokens := total_tokens(span)) is not None:
                group.tokens.append(tokens)
        return list(groups.values())


def total_tokens(span: Span) -> int | None:
    if span.tokens_in is None and span.tokens_out is None:
        return None
    return (span.tokens_in or 0) + (span.tokens_out or 0)


Samples = dict[tuple[str, str], list[float]]


def samples(timings: Iterable[Timings]) -> Samples:
    """The values each (metric, peer group) spread is computed from."""
    values: Samples = {}
    for group in timings:
        key = _group_key(group.kind, group.name, group.tool_name, group.model, group.agent)
        if key is None:
            continue
        durations = [duration for duration in group.durations_ms if duration >= 0]
        if durations:
            values.setdefault(("duration_ms", key), []).extend(durations)
        if group.tokens:
            values.setdefault(("tokens", key), []).extend(map(float, group.tokens))
    return values


@dataclass
class PopulationStats:
    """Per (metric, group) spreads, built from the spans of the traces being analysed together."""

    spreads: dict[tuple[str, str], Spread] = field(default_factory=dict)

    @classmethod
    def build(cls, timings: Iterable[Timings]) -> PopulationStats:
        return cls.from_samples([samples(timings)])

    @classmethod
    def from_samples(cls, parts: Iterable[Samples]) -> PopulationStats:
        """The spreads of several parts' samples taken together (read in parallel, say)."""
        values: Samples = {}
        for part in parts:
            for key, items in part.items():
                values.setdefault(key, []).extend(items)
        spreads = {}
        for key, items in values.items():
            array = np.asarray(items, dtype=float)
            median = float(np.median(array))
            mad = float(np.median(np.abs(array - median)))
            spreads[key] = Spread(median, mad, len(items))
        return cls(spreads)

    def spread(self, metric: str, span: Span) -> Spread | None:
        """The spread of `metric` among the span's peers, when the group is large enough to judge."""
        key = group_key(span)
        if key is None:
            return None
        spread = self.spreads.get((metric, key))
        if spread is None or spread.count < MIN_GROUP:
            return None
        return spread
