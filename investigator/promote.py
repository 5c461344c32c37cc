"""Promotion: a finding's traces become redacted regression cases for a team's own eval harness.

Cases are appended to a YAML file (`cases:` list). Each has a stable `case_id` (finding + trace), the
user's input as the trace recorded it (redacted), the expected behaviour (from the finding), the
failure category and severity, and the source trace IDs. Promoting again adds nothing twice.
Load them in pytest with `investigator.evalcases.pytest_cases(path)`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from investigator.models import Finding, Span
from investigator.redact import RedactionContext, Redactor
from investigator.store import Store


def _user_input(spans: list[Span]) -> str:
    """The first thing the user asked: the first user message an LLM step saw, else the root's input."""
    for span in spans:
        if span.kind == "llm" and span.input:
            try:
                messages = json.loads(span.input)
            except ValueError:
                continue
            if isinstance(messages, list):
                for message in messages:
                    if isinstance(message, dict) and message.get("role") == "user" and message.get("content"):
                        return str(message["content"])
    roots = [s for s in spans if s.parent_id is None and s.input]
    return (roots[0].input if roots else "") or ""


def _expected(finding: Finding) -> str:
    return (f"Does not show the failure '{finding.title}' ({finding.category}). "
            f"What went wrong: {finding.root_cause} The fix being verified: {finding.immediate_fix}")


def build_cases(store: Store, finding: Finding, max_traces: int, redactor: Redactor | None = None) -> list[dict]:
    redactor = redactor or Redactor()
    cited = [e.trace_id for e in finding.evidence]
    ordered = list(dict.fromkeys(cited + finding.trace_ids))[:max_traces]
    cases = []
    for trace_id in ordered:
        spans = store.spans(trace_id)
        if not spans:
            continue
        context = RedactionContext()
        cases.append({
            "case_id": "case_" + hashlib.sha1(f"{finding.id}|{trace_id}".encode()).hexdigest()[:12],
            "finding_id": finding.id,
            "category": finding.category,
            "severity": finding.severity,
            "input": redactor.redact(_user_input(spans), context),
            "expected_behavior": redactor.redact(_expected(finding), context),
            "source_trace_ids": [trace_id],
        })
    return cases


def promote_finding(store: Store, finding_id: str, path: str, max_traces: int = 5) -> tuple[int, int]:
    """Append the finding's cases to `path`; returns (cases added, cases in the file)."""
    finding = store.find_finding(finding_id)
    if finding is None:
        raise LookupError(f"no finding {finding_id!r}")
    target = Path(path)
    existing = yaml.safe_load(target.read_text()) if target.exists() else None
    cases = list((existing or {}).get("cases") or [])
    known = {c.get("case_id") for c in cases}
    new = [c for c in build_cases(store, finding, max_traces) if c["case_id"] not in known]
    cases.extend(new)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump({"cases": cases}, sort_keys=False, allow_unicode=True, width=100))
    return len(new), len(cases)
