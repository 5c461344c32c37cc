"""Budgets and choices of one judge run."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class JudgeSettings:
    model: str = "offline"
    summarizer_model: str | None = None
    max_turns: int = 30  # model calls per cluster
    max_tokens: int = 400_000  # tokens in + out per cluster
    max_usd: float = 2.0  # per cluster
    max_seconds: float = 600.0  # wall time per cluster
    max_clusters: int = 10
    concurrency: int = 2
    subset_budget_fraction: float = 0.3  # a child investigation's share of its parent's budgets
    max_depth: int = 2
    keep_recent_results: int = 4  # tool results of the last N turns stay whole; older ones are stubbed

    def for_subset(self) -> JudgeSettings:
        """The smaller budget of a child investigation on a subset of the traces."""
        f = self.subset_budget_fraction
        return replace(
            self,
            max_turns=max(2, int(self.max_turns * f)),
            max_tokens=int(self.max_tokens * f),
            max_usd=self.max_usd * f,
            max_seconds=self.max_seconds * f,
        )
