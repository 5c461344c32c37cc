"""Reports safe to share: every text a report or `show` takes from traces or from the judge has its
personal data and secrets masked, unless the user asks for the raw text (`--no-redact`).

Placeholders are numbered per trace from the trace's own texts, so a value reads the same in every
quote, preview and output of that trace, and a masked evidence quote is still verbatim in the masked
text of the span it cites. The judge's prose of a finding (title, description, cause, fix, score
reasons) has one numbering per finding; cohort values have one per report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from investigator.evidence import quote_in_span, span_texts
from investigator.masking import TraceMasker
from investigator.models import DimensionScore, Evidence, Finding, Span
from investigator.store import Store

_SHOWN_FIELDS = ("name", "input", "output", "status_message", "tool_args")


class ReportMasking:
    """Masks what one report shows, reading each cited trace from `store` once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ids: dict[str, set[str]] = {}
        self._masker = TraceMasker(self._ids_of, self._texts_of)

    def _ids_of(self, key: str) -> set[str]:
        if key not in self._ids:
            self._ids[key] = {key, *(span.span_id for span in self.store.spans(key))}
        return self._ids[key]

    def _texts_of(self, key: str) -> Iterator[str]:
        for span in self.store.spans(key):
            yield from span_texts(span)

    def text(self, text: str, trace_id: str) -> str:
        """A text of trace `trace_id`, masked."""
        return self._masker.mask(text, trace_id)

    def span(self, span: Span) -> Span:
        """`span` with its texts, attribute values and event values masked: previews cut from it
        never show a piece of a secret."""
        texts = {field: getattr(span, field) for field in _SHOWN_FIELDS if getattr(span, field)}
        masked = {field: self.text(value, span.trace_id) for field, value in texts.items()}
        masked["attributes"] = self._values(span.attributes, span.trace_id)
        masked["events"] = self._values(span.events, span.trace_id)
        return span.model_copy(update=masked)

    def _values(self, value: Any, trace_id: str) -> Any:
        if isinstance(value, str):
            return self.text(value, trace_id)
        if isinstance(value, dict):
            return {key: self._values(item, trace_id) for key, item in value.items()}
        if isinstance(value, list):
            return [self._values(item, trace_id) for item in value]
        return value

    def quote(self, evidence: Evidence) -> str:
        """An evidence quote as it reads in the masked text of the span it cites."""
        span = self.store.get_span(evidence.trace_id, evidence.span_id)
        for text in span_texts(span) if span else ():
            at = text.find(evidence.quote)
            if at >= 0:
                return self._masker.mask_within(text, at, at + len(evidence.quote), evidence.trace_id)
        return self.text(evidence.quote, evidence.trace_id)

    def quote_in_span(self, span: Span, quote: str) -> bool:
        """True when a quote as a report shows it is verbatim in the masked text of `span` (the
        check a reader can make against the report's own trace view)."""
        return quote_in_span(span, quote, shown=lambda text: self.text(text, span.trace_id))

    def finding(self, finding: Finding) -> Finding:
        """`finding` with its quotes masked per trace and its prose masked per finding."""
        key = f"finding {finding.id}"
        self._ids[key] = {*finding.trace_ids, *(e.span_id for e in finding.evidence)}

        def prose(text: str) -> str:
            return self._masker.mask(text, key)

        return finding.model_copy(update={
            "title": prose(finding.title),
            "description": prose(finding.description),
            "root_cause": prose(finding.root_cause),
            "immediate_fix": prose(finding.immediate_fix),
            "evidence": [e.model_copy(update={"quote": self.quote(e)}) for e in finding.evidence],
            "scores": {d: DimensionScore(score=s.score, reason=prose(s.reason)) for d, s in finding.scores.items()},
            "cohorts": [c.model_copy(update={"value": self.cohort_value(c.value)}) for c in finding.cohorts],
        })

    def cohort_value(self, value: str) -> str:
        """A cohort's value, which may be personal (a user id that is an email)."""
        self._ids.setdefault("cohorts", set())
        return self._masker.mask(value, "cohorts")

