"""The rules layer: deterministic detectors that turn one trace into per-trace issues.

A detector is registered with a name, a version, the taxonomy codes it may emit and a function
`detect(view: TraceView) -> Iterable[Issue]`. `run_detectors` runs them all over one trace and
keeps only issues that can be trusted downstream: a known code, a span of this trace, and an
evidence quote found verbatim in that span (kept in its readable, decoded form). One issue per (span, code)
survives, the most confident.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from investigator.detectors.population import PopulationStats
from investigator.detectors.view import TraceView
from investigator.evidence import readable_quote
from investigator.models import Issue, Severity, Span
from investigator.taxonomy import Taxonomy, default_taxonomy

__all__ = [
    "Detector",
    "PopulationStats",
    "TraceView",
    "all_detectors",
    "detector",
    "make_issue",
    "rules_version",
    "run_detectors",
]

log = logging.getLogger(__name__)

DetectFn = Callable[[TraceView], Iterable[Issue]]


@dataclass(frozen=True)
class Detector:
    name: str
    version: str
    codes: tuple[str, ...]
    detect: DetectFn

    @property
    def source(self) -> str:
        return f"rule:{self.name}"


_REGISTRY: dict[str, Detector] = {}


def detector(name: str, version: str, codes: Iterable[str]) -> Callable[[DetectFn], DetectFn]:
    """Register `detect` under `name`. Codes must exist in the default taxonomy."""
    codes = tuple(codes)
    unknown = [c for c in codes if c not in default_taxonomy()]
    if unknown:
        raise ValueError(f"detector {name!r} declares unknown codes {unknown}")

    def register(fn: DetectFn) -> DetectFn:
        _REGISTRY[name] = Detector(name, version, codes, fn)
        return fn

    return register


def make_issue(
    name: str,
    span: Span,
    code: str,
    evidence: str,
    description: str,
    confidence: float,
    severity: Severity | None = None,
    surfaced: Span | None = None,
) -> Issue:
    """An issue from detector `name` at `span` (where the failure was authored), and `surfaced`, the
    span where it showed when that is another one; severity defaults to the code's taxonomy severity."""
    return Issue(
        trace_id=span.trace_id,
        span_id=span.span_id,
        category=code,
        severity=severity or default_taxonomy().severity(code),
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        evidence=evidence,
        description=description,
        source=f"rule:{name}",
        surfaced_span_id=surfaced.span_id if surfaced is not None and surfaced.span_id != span.span_id else None,
    )


def all_detectors() -> list[Detector]:
    _load()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def rules_version() -> str:
    """Changes whenever any detector is added, removed or re-versioned (stored analyses go stale)."""
    signature = ";".join(f"{d.name}:{d.version}" for d in all_detectors())
    return "rules-" + hashlib.sha1(signature.encode()).hexdigest()[:10]


def run_detectors(
    view: TraceView,
    detectors: Iterable[Detector] | None = None,
    taxonomy: Taxonomy | None = None,
) -> list[Issue]:
    """Every trustworthy issue the detectors find in one trace, in span order then code order.

    A detector that raises is logged and skipped: one bad rule must not stop the rules layer."""
    tax = taxonomy or default_taxonomy()
    best: dict[tuple[str, str], Issue] = {}
    for det in detectors if detectors is not None else all_detectors():
        try:
            found = list(det.detect(view))
        except Exception:  # noqa: BLE001 - isolate detector bugs from the run
            log.exception("detector %s failed on trace %s", det.name, view.trace_id)
            continue
        for issue in found:
            span = view.by_id.get(issue.span_id)
            if span is None or issue.trace_id != view.trace_id or issue.category not in tax:
                log.debug("dropped issue from %s: unknown span or code", det.name)
                continue
            if issue.surfaced_span_id is not None and issue.surfaced_span_id not in view.by_id:
                log.debug("dropped issue from %s: it surfaced at a span not in the trace", det.name)
                continue
            quote = readable_quote(span, issue.evidence)
            if quote is None:
                log.debug("dropped issue from %s: evidence not verbatim in span %s", det.name, span.span_id)
                continue
            issue = issue.model_copy(update={"category": tax.resolve(issue.category), "evidence": quote})
            key = (issue.span_id, issue.category)
            if key not in best or issue.confidence > best[key].confidence:
                best[key] = issue
    return sorted(best.values(), key=lambda i: (view.position(view.by_id[i.span_id]), i.category, i.source))


def _load() -> None:
    """Import the detector modules so their registrations run."""
    from investigator.detectors import (  # noqa: F401
        arguments,
        authored,
        errors,
        exposure,
        formats,
        injection,
        limits,
        loops,
        recovery,
        termination,
    )
