"""Release diff: how failure-category rates differ between two cohorts of traces.

A cohort is the traces whose slice attribute (model, agent_version, prompt_version, service, or any
trace attribute) has one value. For every category, the share of each cohort's traces with at least
one issue of it, the change, and Fisher's exact test of whether the two rates differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import fisher_exact

from investigator.models import Trace
from investigator.store import Store


@dataclass
class CategoryDiff:
    category: str
    count_a: int
    count_b: int
    rate_a: float
    rate_b: float
    change: float
    p_value: float


@dataclass
class Diff:
    attribute: str
    value_a: str
    value_b: str
    traces_a: int
    traces_b: int
    categories: list[CategoryDiff]


def _value(trace: Trace, attribute: str) -> str | None:
    value = getattr(trace, attribute, None) if attribute in Trace.model_fields else None
    if value in (None, ""):
        value = trace.attributes.get(attribute)
    return None if value in (None, "") else str(value)


def diff_cohorts(store: Store, attribute: str, value_a: str, value_b: str,
                 since: str | None = None, until: str | None = None) -> Diff:
    """Compare category rates between traces with attribute == value_a and == value_b."""
    cohorts: dict[str, set[str]] = {value_a: set(), value_b: set()}
    for trace in store.list_traces(since=since, until=until):
        value = _value(trace, attribute)
        if value in cohorts:
            cohorts[value].add(trace.trace_id)
    with_category: dict[str, dict[str, set[str]]] = {}
    for issue in store.issues(cohorts[value_a] | cohorts[value_b]):
        side = value_a if issue.trace_id in cohorts[value_a] else value_b
        with_category.setdefault(issue.category, {value_a: set(), value_b: set()})[side].add(issue.trace_id)
    n_a, n_b = len(cohorts[value_a]), len(cohorts[value_b])
    rows = []
    for category, sides in with_category.items():
        a, b = len(sides[value_a]), len(sides[value_b])
        rate_a, rate_b = (a / n_a if n_a else 0.0), (b / n_b if n_b else 0.0)
        p_value = float(fisher_exact([[a, n_a - a], [b, n_b - b]])[1]) if n_a and n_b else 1.0
        rows.append(CategoryDiff(category, a, b, round(rate_a, 4), round(rate_b, 4), round(rate_b - rate_a, 4),
                                 round(p_value, 6)))
    rows.sort(key=lambda r: (-abs(r.change), r.p_value, r.category))
    return Diff(attribute, value_a, value_b, n_a, n_b, rows)
