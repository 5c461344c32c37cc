"""Latency and token outliers within the population of traces analysed together: performance
notes, not failures.

A slow step is not a failed one (a deadline it ran past is, and the error detectors see that from
the timeout it raised), and a token-hungry step is not wasted work by itself. So outliers are
noted in the trace's document, where the judge and the reader see them beside the failures, and
never become issues. A step is an outlier when it sits far above its peers (same tool; same model
in the same role) by a robust measure (median and MAD), and by a margin that matters in absolute
terms too.
"""

from __future__ import annotations

from investigator.detectors.failures import status_failure
from investigator.detectors.population import Spread, total_tokens
from investigator.detectors.view import TraceView

Z_THRESHOLD = 6.0
RATIO = 3.0
MIN_EXTRA_MS = 2000.0
MIN_EXTRA_TOKENS = 2000.0


def performance_notes(view: TraceView) -> list[str]:
    """One line per step much slower, or much more token-hungry, than its peers in the population."""
    population = view.population
    if population is None:
        return []
    notes = []
    exhausted = _exhausted(view)
    for span in view.spans:
        label = span.tool_name or span.name
        spread = population.spread("duration_ms", span)
        # The duration is parsed only for spans with peers to compare with.
        if (
            spread is not None
            and (duration := span.duration_ms) is not None
            and _outlier(duration, spread, MIN_EXTRA_MS)
        ):
            notes.append(
                f"{span.kind} {label} ({span.span_id}) took {duration / 1000:.1f}s,"
                f" {duration / max(spread.median, 1):.0f}x the median of {spread.count} peers"
                f" ({spread.median / 1000:.1f}s)"
            )
        tokens = total_tokens(span)
        spread = population.spread("tokens", span)
        if tokens is not None and spread is not None and not exhausted and _outlier(tokens, spread, MIN_EXTRA_TOKENS):
            notes.append(
                f"{span.kind} {span.model or label} ({span.span_id}) used {tokens} tokens,"
                f" {tokens / max(spread.median, 1):.0f}x the median of {spread.count} peers"
            )
    return notes


def _exhausted(view: TraceView) -> bool:
    """The run hit its token or turn limit: that is reported as such, its heavy steps are symptoms."""
    return any((f := status_failure(s)) is not None and f.code == "execution.resource_exhausted" for s in view.spans)


def _outlier(value: float, spread: Spread, min_extra: float) -> bool:
    median = spread.median
    return value >= RATIO * median and value - median >= min_extra and spread.robust_z(value) >= Z_THRESHOLD
