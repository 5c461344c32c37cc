"""Latency and token outliers within the population of traces analysed together.

A step is an outlier when it sits far above its peers (same tool, same model) by a robust measure
(median and MAD), and by a margin that matters in absolute terms too. These are cheap signals of
a slow dependency or a bloated context, reported at low severity and modest confidence.
"""

from __future__ import annotations

from collections.abc import Iterable

from investigator.detectors import detector, make_issue
from investigator.detectors.errors import status_failure
from investigator.detectors.population import Spread, total_tokens
from investigator.detectors.view import TraceView, find_quote
from investigator.models import Issue, Span

Z_THRESHOLD = 6.0
RATIO = 3.0
MIN_EXTRA_MS = 2000.0
MIN_EXTRA_TOKENS = 2000.0


def _evidence(span: Span) -> str | None:
    for text in (span.tool_args, span.input, span.output):
        if text and text.strip():
            quote = find_quote(span, text.strip()[:120])
            if quote:
                return quote
    return None


@detector("outliers", "1", ("execution.timeout", "planning.redundant_steps"))
def detect_outliers(view: TraceView) -> Iterable[Issue]:
    """Steps much slower, or much more token-hungry, than their peers in the population."""
    population = view.population
    if population is None:
        return
    for span in view.spans:
        spread = population.spread("duration_ms", span)
        # The duration is parsed only for spans with peers to compare with.
        if (
            spread is not None
            and (duration := span.duration_ms) is not None
            and _outlier(duration, spread, MIN_EXTRA_MS)
        ):
            evidence = _evidence(span)
            if evidence:
                yield make_issue(
                    "outliers", span, "execution.timeout", evidence,
                    f"'{span.tool_name or span.name}' took {duration / 1000:.1f}s,"
                    f" {duration / max(spread.median, 1):.0f}x"
                    f" the median of {spread.count} peers ({spread.median / 1000:.1f}s)",
                    0.5, "low",
                )
        tokens = total_tokens(span)
        spread = population.spread("tokens", span)
        if (
            tokens is not None
            and spread is not None
            and _outlier(tokens, spread, MIN_EXTRA_TOKENS)
            and not _exhausted(view)
        ):
            evidence = _evidence(span)
            if evidence:
                yield make_issue(
                    "outliers", span, "planning.redundant_steps", evidence,
                    f"'{span.model or span.name}' used {tokens} tokens, {tokens / max(spread.median, 1):.0f}x"
                    f" the median of {spread.count} peers",
                    0.5, "low",
                )


def _exhausted(view: TraceView) -> bool:
    """The run hit its token or turn limit: that is reported as such, its heavy steps are symptoms."""
    return any((f := status_failure(s)) is not None and f.code == "execution.resource_exhausted" for s in view.spans)


def _outlier(value: float, spread: Spread, min_extra: float) -> bool:
    median = spread.median
    return value >= RATIO * median and value - median >= min_extra and spread.robust_z(value) >= Z_THRESHOLD
