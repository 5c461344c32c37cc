"""Finding history across runs: statuses, reviews, and the review queue.

A finding's id is stable across runs (it is derived from the failure family), so its history is the
runs it appeared in. After each run its findings get a status: `new` (never seen before),
`recurring`, or `regressed` (marked fixed, and back). A finding is `resolved` once `RESOLVED_AFTER`
later runs saw its tool or agent run without it; a window in which that component did not run (a
quiet night) leaves its status as it was. Reviews feed back: false positives are suppressed in later runs,
duplicates merge into the finding they duplicate, fixed findings are watched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from investigator.findings import load_findings, merge, rank_key
from investigator.models import Finding
from investigator.store import Store
from investigator.timefmt import now_iso
from investigator.tools.context import component_of

RESOLVED_AFTER = 2
VERDICTS = ("fixed", "false-positive", "duplicate")


@dataclass
class Review:
    finding_id: str
    verdict: str
    of_id: str | None
    note: str | None
    reviewed_at: str


@dataclass
class FindingState:
    finding: Finding  # its latest occurrence
    status: str
    review: Review | None
    trace_counts: list[tuple[str, int]] = field(default_factory=list)  # (run_id, traces) per run it was in


def latest_reviews(store: Store) -> dict[str, Review]:
    """Each reviewed finding's latest review."""
    return {review.finding_id: review for review in all_reviews(store)}


def add_review(
    store: Store, finding_id: str, verdict: str, of_id: str | None = None, note: str | None = None
) -> Review:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}")
    if verdict == "duplicate" and not of_id:
        raise ValueError("a duplicate needs --of FINDING_ID")
    if of_id == finding_id:
        raise ValueError("a finding cannot duplicate itself")
    review = Review(finding_id, verdict, of_id, note, now_iso())
    store.add_review(finding_id, verdict, of_id, note, review.reviewed_at)
    return review


def all_reviews(store: Store) -> list[Review]:
    """Every review, oldest first."""
    return [Review(*row) for row in store.review_rows()]


def undo_review(store: Store, finding_id: str) -> Review | None:
    """Withdraw the latest review of a finding (the one before it, if any, applies again); None
    when the finding has no review."""
    row = store.pop_review(finding_id)
    return Review(*row) if row else None


def _canonical(finding_id: str, reviews: dict[str, Review]) -> str:
    """Follow duplicate verdicts to the finding a duplicate was merged into."""
    seen = set()
    while finding_id in reviews and reviews[finding_id].verdict == "duplicate" and finding_id not in seen:
        seen.add(finding_id)
        finding_id = reviews[finding_id].of_id or finding_id
    return finding_id


def apply_history(store: Store, run_id: str) -> list[Finding]:
    """Give this run's findings their status, suppress false positives and merge duplicates;
    rewrite the run's stored findings and return them ranked."""
    reviews = latest_reviews(store)
    order = [r[0] for r in store.runs_in_order()]
    earlier_runs = order[: order.index(run_id)] if run_id in order else order
    seen_before: dict[str, str] = {}  # finding id → last earlier run it was in
    for earlier in earlier_runs:
        for fid in store.finding_ids_of(earlier):
            seen_before[_canonical(fid, reviews)] = earlier
    merged: dict[str, Finding] = {}
    for finding in store.findings_of(run_id):
        canonical = _canonical(finding.id, reviews)
        review = reviews.get(canonical)
        if canonical in merged:  # a duplicate: its evidence and traces join the canonical finding
            first = merged[canonical]
            merged[canonical] = merge(first, finding, store).model_copy(
                update={"id": canonical, "status": first.status}
            )
            continue
        finding = finding.model_copy(update={"id": canonical})
        if canonical not in seen_before:
            finding.status = "new"
        elif review and review.verdict == "fixed":
            finding.status = "regressed"
        else:
            finding.status = "recurring"
        merged[canonical] = finding
    store.replace_findings(run_id, merged.values())
    # A false positive stays stored (it can still be shown and its review undone), but not reported.
    return sorted((f for f in merged.values() if not _dismissed(reviews.get(f.id))), key=rank_key)


def _dismissed(review: Review | None) -> bool:
    return review is not None and review.verdict == "false-positive"


def finding_states(store: Store) -> dict[str, FindingState]:
    """Every finding ever reported, with its latest occurrence, status, review and per-run trend."""
    reviews = latest_reviews(store)
    runs = store.runs_in_order()
    order = [r[0] for r in runs]
    windows = {run_id: (start, end) for run_id, start, end in runs}
    position = {run_id: i for i, run_id in enumerate(order)}
    states: dict[str, FindingState] = {}
    last_seen: dict[str, int] = {}
    for run_id in order:
        for finding in store.findings_of(run_id):
            state = states.get(finding.id)
            counts = (state.trace_counts if state else []) + [(run_id, finding.impact.trace_count)]
            states[finding.id] = FindingState(finding, finding.status, reviews.get(finding.id), counts)
            last_seen[finding.id] = position[run_id]
    for finding_id, state in states.items():
        later = order[last_seen[finding_id] + 1 :]
        place = _component(store, state.finding)
        # A window in which the component never ran says nothing about whether its failure is gone.
        if sum(store.component_ran(*windows[run_id], place) for run_id in later) >= RESOLVED_AFTER:
            state.status = "resolved"
    return states


def _component(store: Store, finding: Finding) -> str:
    """The tool or agent a finding's cited spans sit at, most of them; "" when they sit at none."""
    spans = [store.get_span(e.trace_id, e.span_id) for e in finding.evidence]
    names = Counter(component_of(span) for span in spans if span is not None)
    return min(names, key=lambda name: (-names[name], name)) if names else ""


def reported_findings(store: Store, run_id: str, dismissed: bool = False) -> list[Finding]:
    """A run's findings as every report and listing shows them, ranked: each with its status now
    (a finding a later window resolved reads resolved wherever it is shown), and without those
    reviewed as false positives unless `dismissed`."""
    states = finding_states(store)
    return [
        f.model_copy(update={"status": states[f.id].status}) if f.id in states else f
        for f in load_findings(store, run_id)
        if dismissed or not _dismissed(states[f.id].review if f.id in states else None)
    ]


def review_queue(store: Store, limit: int = 50) -> list[FindingState]:
    """Open findings (not reviewed, not resolved), highest impact first."""
    open_states = [
        s for s in finding_states(store).values()
        if s.status in ("new", "recurring", "regressed") and (s.review is None or s.status == "regressed")
    ]
    open_states.sort(key=lambda s: rank_key(s.finding))
    return open_states[:limit]
