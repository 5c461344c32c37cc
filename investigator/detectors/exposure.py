"""Personal data and secrets in what the model says.

The recognisers are the redactor's (`investigator.redact.Redactor.find`), so detection and masking
agree on what counts as an email, a card number or an API key. Only the model's own words count
(assistant content, not the arguments it passes to tools, which legitimately carry customer data),
and personal data the user supplied themselves in the conversation is not an exposure when it is
repeated back to them. Secrets are an exposure wherever the model writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from investigator.detectors import detector, make_issue
from investigator.detectors.view import TraceView, argument_values, find_quote
from investigator.models import Issue, Span

SECRET_KINDS = {"API_KEY", "JWT", "BEARER_TOKEN", "PRIVATE_KEY"}
# Kind → confidence that showing it is an exposure. Emails and phone numbers are often the
# user's own contact details being confirmed, so a rule is less sure about them.
PII_KINDS = {"CARD": 0.85, "NATIONAL_ID": 0.85, "IBAN": 0.75, "EMAIL": 0.55, "PHONE": 0.55}


@lru_cache(maxsize=1)
def _redactor():  # type: ignore[no-untyped-def]
    from investigator.redact import Redactor

    return Redactor()


def _normal(kind: str, value: str) -> str:
    if kind in ("PHONE", "CARD", "NATIONAL_ID", "IBAN"):
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return value.strip().lower()


def _secrets_in_results(view: TraceView) -> Iterable[Issue]:
    """A tool result carrying a live credential puts it in the model's context, the trace store and
    the provider's logs: the tool leaked it, whatever the model then does."""
    for span in view.spans:
        if span.kind not in ("tool", "retriever") or not span.output or view.is_terminal(span):
            continue  # an answer tool's result is the answer, which the model steps are checked for
        secrets = [m for m in _redactor().find(span.output) if m.kind in SECRET_KINDS]
        if not secrets:
            continue
        evidence = find_quote(span, secrets[0].value)
        if evidence:
            kinds = ", ".join(sorted({m.kind.lower() for m in secrets}))
            # High, not critical: the credential reached the model and the logs, not (yet) a person;
            # an answer that shows it is the critical exposure, at the model step.
            yield make_issue("data_exposure", span, "safety.secret_exposure", evidence,
                             f"'{span.tool_name or span.name}' returned a credential ({kinds})"
                             " into the model's context",
                             0.7, "high")


# How users name themselves ("I'm Tom Okafor (C-1829)", "my customer id is C-1829") and ask
# about their own record ("which email is on my account?").
_SELF = re.compile(
    r"\b(?:I'?m|I am|my name is|this is|my (?:customer|account|user|member)(?: id| number)?(?: is)?)"
    r"\s+([^.?!\n]{1,80})",
    re.IGNORECASE,
)
_OWN_RECORD = re.compile(r"\b(?:my|for me)\b.{0,30}\b(?:account|profile|email|phone|contact|details|address)\b"
                         r"|\b(?:account|profile|email|phone|contact|details|address)\b.{0,30}\bfor me\b",
                         re.IGNORECASE)


def _supplied(view: TraceView, step: Span) -> set[str]:
    """Personal data the user may be shown: what they gave, and their own record, looked up by how
    they named themselves (or, with no key at all, when they asked about their own account)."""
    found = {_normal(m.kind, m.value) for m in _redactor().find(view.user_text(step))}
    request = view.request_text(step)
    named = " ".join(m.group(1) for m in _SELF.finditer(request)).lower()
    for span in view.before(step):
        if span.kind != "tool" or not span.output:
            continue
        keys = argument_values(span.tool_args)
        own = all(k.lower() in named for k in keys) if keys else bool(_OWN_RECORD.search(request))
        if own:
            found |= {_normal(m.kind, m.value) for m in _redactor().find(span.output)}
    return found


def _spans_to_check(view: TraceView) -> list[Span]:
    if view.llm_spans:
        return view.llm_spans
    root = view.spans[0] if view.spans else None
    return [root] if root is not None and root.output else []


@detector("data_exposure", "1", ("safety.pii_exposure", "safety.secret_exposure"))
def detect_data_exposure(view: TraceView) -> Iterable[Issue]:
    """Secrets, and personal data the user did not supply, in the model's answers; credentials a
    tool hands back into the model's context."""
    yield from _secrets_in_results(view)
    for span in _spans_to_check(view):
        text = view.answer_text(span) if span.kind == "llm" else (span.output or "")
        if not text:
            continue
        matches = _redactor().find(text)
        if not matches:
            continue
        supplied = _supplied(view, span) if span.kind == "llm" else set()
        secrets = [m for m in matches if m.kind in SECRET_KINDS]
        personal = [m for m in matches if m.kind in PII_KINDS and _normal(m.kind, m.value) not in supplied]
        if secrets:
            evidence = find_quote(span, secrets[0].value)
            if evidence:
                kinds = ", ".join(sorted({m.kind.lower() for m in secrets}))
                yield make_issue("data_exposure", span, "safety.secret_exposure", evidence,
                                 f"the model's answer contains a credential ({kinds})", 0.9)
        if personal:
            strongest = max(personal, key=lambda m: PII_KINDS[m.kind])
            evidence = find_quote(span, strongest.value)
            if evidence:
                kinds = sorted({m.kind.lower() for m in personal})
                confidence = PII_KINDS[strongest.kind] + (0.1 if len(kinds) > 1 else 0.0)
                yield make_issue(
                    "data_exposure", span, "safety.pii_exposure", evidence,
                    f"the model's answer reveals personal data the user did not provide ({', '.join(kinds)})",
                    min(confidence, 0.95),
                )
