"""Masking trace text before it leaves the machine (to a remote model) or reaches people (reports,
`show`): personal data and secrets become placeholders (`<EMAIL_1>`), numbered once per trace so
the same value reads the same everywhere in that trace, and remembered so a quote written with
placeholders can be traced back to the raw text it stands for.

Span and trace ids are never masked, even when one looks like a card or phone number: a masked id
could not be cited or looked up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from investigator.redact import Match, RedactionContext, Redactor

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*?_\d+>")
_SHARED: Redactor | None = None


def shared_redactor() -> Redactor:
    """One redactor per process (building one compiles every pattern)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Redactor()
    return _SHARED


class TraceMasker:
    """Masks the texts of many traces with one placeholder numbering per trace.

    `ids_of(trace_id)` gives the ids that must stay readable in that trace's texts. `prime(trace_id)`,
    when given, yields the trace's own texts: they are masked first, so a value's number depends on
    the trace alone, not on which of its texts happens to be shown first.
    """

    def __init__(
        self,
        ids_of: Callable[[str], set[str]],
        prime: Callable[[str], Iterable[str]] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._ids_of = ids_of
        self._prime = prime
        self._redactor = redactor or shared_redactor()
        self._contexts: dict[str, RedactionContext] = {}
        self._originals: dict[str, dict[str, list[str]]] = {}

    def mask(self, text: str, trace_id: str) -> str:
        """`text` of trace `trace_id` with its personal data and secrets replaced by placeholders."""
        return self.mask_within(text, 0, len(text), trace_id) if text else text

    def mask_within(self, text: str, start: int, end: int, trace_id: str) -> str:
        """The part `text[start:end]` as it reads in the masked `text`: a value the part cuts
        through is masked whole, so a quote of a longer text never shows a piece of a secret that
        only its surroundings reveal, and stays verbatim in the masked text."""
        if trace_id not in self._contexts:
            self._contexts[trace_id] = RedactionContext()
            for own in self._prime(trace_id) if self._prime else ():
                self.mask(own, trace_id)
        pieces: list[str] = []
        cursor = start
        for match in self._matches(text, trace_id):
            if match.end <= start:
                continue
            if match.start >= end:
                break
            pieces.append(text[cursor : max(cursor, match.start)])
            pieces.append(self._placeholder(match, trace_id))
            cursor = max(cursor, match.end)
        pieces.append(text[cursor:end])
        return "".join(pieces)

    def _matches(self, text: str, trace_id: str) -> list[Match]:
        ids = self._ids_of(trace_id)
        return [m for m in self._redactor.find(text) if not any(m.value in i for i in ids)]

    def _placeholder(self, match: Match, trace_id: str) -> str:
        placeholder = self._contexts[trace_id].placeholder(match.kind, match.value)
        forms = self._originals.setdefault(trace_id, {}).setdefault(placeholder, [])
        if match.value not in forms:
            forms.append(match.value)
        return placeholder

    def unmasked(self, text: str, trace_id: str, limit: int = 16) -> list[str]:
        """The raw texts a `text` with this trace's placeholders may stand for (first form of each
        placeholder first); empty when it holds none of them."""
        originals = self._originals.get(trace_id, {})
        found = [p for p in dict.fromkeys(PLACEHOLDER.findall(text)) if p in originals]
        if not found:
            return []
        candidates = [text]
        for placeholder in found:
            candidates = [c.replace(placeholder, form) for c in candidates for form in originals[placeholder]][:limit]
        return candidates
