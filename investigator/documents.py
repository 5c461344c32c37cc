"""Compact trace documents: one short, redacted text per suspect trace.

A document is the unit the clusterer vectorises (TF-IDF word and char n-grams) and the judge's
first view of a trace. It says what the trace was (workflow, agents, slices), what it did (the
tool sequence with counts), what went wrong (statuses, error messages, detector issues) and how
it ended (labels, outcome), in a few hundred tokens.

Two traces that failed the same way must produce near-identical documents, so free text is
redacted and then normalised: ids, uuids, hex, timestamps and numbers become fixed tokens and
placeholders lose their numbers. Documents are deterministic: the same trace gives the same text.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from investigator.models import SEVERITY_WEIGHTS, Issue, Span, Trace, in_start_order
from investigator.redact import RedactionContext, Redactor, strip_placeholder_numbers

DEFAULT_MAX_CHARS = 2000
LINE_CHARS = 220  # no single line may crowd out the rest
MESSAGE_CHARS = 160
MAX_TOOL_RUNS = 14

_DIGIT = re.compile(r"\d")
_DATE_START = re.compile(r"\d{4}-")
# (pattern, token, gate): the gate is a cheap pattern every match of the pattern contains, so a
# text without it is not scanned. Tokens carry no digits, so a gate stays true to the text as
# the patterns rewrite it.
_NORMALISERS: list[tuple[re.Pattern[str], str, re.Pattern[str]]] = [
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>",
     re.compile("-")),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>",
     _DATE_START),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>", _DATE_START),
    (re.compile(r"\b(?:0x)?(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>", _DIGIT),
    # Prefixed identifiers: call_a1B2c3, req_8f2K, ORD-2024-88123, span-17
    (re.compile(r"\b[A-Za-z]{2,12}[_-](?=[A-Za-z0-9_-]*\d)[A-Za-z0-9][A-Za-z0-9_-]{3,}\b"), "<id>", _DIGIT),
    (re.compile(r"\b[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[-_][A-Za-z0-9]*\d[A-Za-z0-9]*)+\b"), "<id>", _DIGIT),
    # HTTP statuses (404, 429, 503) tell failures apart; every other number is noise.
    (re.compile(r"(?<![\w.])(?![45]\d\d(?![\w.]))\d+(?:[.,]\d+)*"), "<n>", _DIGIT),
]
_SPACE = re.compile(r"\s+")


def normalise_message(text: str, limit: int = MESSAGE_CHARS) -> str:
    """An error message reduced to its shape, so "order 8812 not found" and "order 9921 not
    found" read the same. Apply after redaction: digits are gone afterwards."""
    text = strip_placeholder_numbers(text)
    for pattern, token, gate in _NORMALISERS:
        if gate.search(text):
            text = pattern.sub(token, text)
    text = _SPACE.sub(" ", text).strip()
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _tool_label(span: Span) -> str:
    return span.tool_name or span.name or "tool"


def tool_sequence(spans: list[Span], max_runs: int = MAX_TOOL_RUNS) -> str:
    """Consecutive calls of the same tool collapsed: "lookup_order x3 -> issue_refund x1 (error)"."""
    runs: list[list[Any]] = []  # [name, count, errors]
    for span in spans:
        if span.kind != "tool":
            continue
        name = _tool_label(span)
        failed = span.status == "error"
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
            runs[-1][2] += failed
        else:
            runs.append([name, 1, int(failed)])
    parts: list[str] = []
    for name, count, errors in runs[:max_runs]:
        note = "" if not errors else " (error)" if errors == count else f" ({errors} of {count} error)"
        parts.append(f"{name} x{count}{note}")
    if len(runs) > max_runs:
        parts.append(f"… +{len(runs) - max_runs} more")
    return " -> ".join(parts)


def _agents(spans: list[Span], limit: int = 8) -> list[str]:
    """The agents in the order control passed between them (hand-offs), repeats collapsed."""
    seen: list[str] = []
    for span in spans:
        name = span.agent or (span.name if span.kind == "agent" else None)
        if name and (not seen or seen[-1] != name):
            seen.append(name)
    return seen if len(seen) <= limit else seen[:limit] + [f"… +{len(seen) - limit} more"]


def _error_text(span: Span) -> str | None:
    for event in span.events:
        attrs = event.get("attributes") or {}
        if event.get("name") == "exception" and (attrs.get("exception.message") or attrs.get("exception.type")):
            kind = attrs.get("exception.type") or ""
            message = attrs.get("exception.message") or ""
            return f"{kind}: {message}" if kind and message else str(kind or message)
    if span.status_message:
        return span.status_message
    if span.kind == "tool" and span.output:
        return span.output
    return None


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def _pairs(mapping: dict[str, Any], redact: Any) -> str:
    return ", ".join(
        f"{key}={_clip(normalise_text(redact(_scalar(mapping[key]))), 60)}" for key in sorted(mapping)
    )


def normalise_text(text: str) -> str:
    """Whitespace collapsed and placeholder numbers dropped, numbers kept (labels, outcomes)."""
    return _SPACE.sub(" ", strip_placeholder_numbers(text)).strip()


def _request(root: Span | None) -> str | None:
    """The user's request, from the root span's input (chat messages or plain text)."""
    if root is None or not root.input:
        return None
    text = root.input
    if text[:1] in "[{":
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if isinstance(value, dict):
            value = value.get("messages") or value.get("input") or value
        if isinstance(value, list):
            users = [m for m in value if isinstance(m, dict) and m.get("role") == "user"]
            if users:
                content = users[-1].get("content")
                return content if isinstance(content, str) else _scalar(content)
            return None
        if isinstance(value, dict):
            return None
        return _scalar(value)
    return text


def build_document(
    trace: Trace,
    spans: list[Span],
    issues: list[Issue],
    redactor: Redactor,
    max_chars: int = DEFAULT_MAX_CHARS,
    notes: list[str] | None = None,
) -> str:
    """The compact, redacted document of one trace, at most `max_chars` characters. `notes` are
    performance notes (steps far slower or heavier than their peers): context, not failures."""
    ctx = RedactionContext()

    def redact(text: str) -> str:
        return redactor.redact(text, ctx)

    ordered = in_start_order(spans)
    by_id = {s.span_id: s for s in ordered}
    root = by_id.get(trace.root_span_id or "") or next((s for s in ordered if s.parent_id is None), None)
    sections: list[tuple[int, list[str]]] = []  # (priority: lower is dropped first, lines)

    workflow = trace.name or (root.name if root else "") or "unnamed"
    failed = sum(1 for s in ordered if s.status == "error")
    head = [f"workflow: {workflow}", f"status: {trace.status}; {failed} of {len(ordered)} spans failed"]
    slices = {k: v for k, v in (("model", trace.model), ("agent_version", trace.agent_version),
                                ("prompt_version", trace.prompt_version), ("service", trace.service)) if v}
    if slices:
        head.append("slices: " + " ".join(f"{k}={v}" for k, v in slices.items()))
    if trace.tags:
        head.append("tags: " + ", ".join(sorted(str(t) for t in trace.tags)))
    sections.append((9, head))

    agents = _agents(ordered)
    llm = [s for s in ordered if s.kind == "llm"]
    flow = []
    if agents:
        flow.append("agents: " + " -> ".join(agents))
    if llm:
        models = sorted({s.model for s in llm if s.model})
        flow.append(f"llm calls: {len(llm)}" + (f" ({', '.join(models)})" if models else ""))
    tools = tool_sequence(ordered)
    if tools:
        flow.append("tools: " + tools)
    sections.append((8, flow))

    issue_lines = _issue_lines(issues, by_id, redact)
    if issue_lines:
        sections.append((7, ["issues:"] + issue_lines))

    error_lines = _error_lines(ordered, redact)
    if error_lines:
        sections.append((6, ["errors:"] + error_lines))

    if notes:
        sections.append((4, ["performance:"] + [f"- {note}" for note in notes]))

    tail = []
    if trace.labels:
        tail.append("labels: " + _pairs(trace.labels, redact))
    if trace.outcome:
        tail.append("outcome: " + _pairs(trace.outcome, redact))
    if tail:
        sections.append((5, tail))

    request = _request(root)
    if request:
        sections.append((1, ["request: " + normalise_message(redact(request), MESSAGE_CHARS)]))

    return _fit(sections, max_chars)


def _issue_lines(issues: list[Issue], by_id: dict[str, Span], redact: Any) -> list[str]:
    """Detector issues, most severe first, identical ones merged with a count."""
    order = {span_id: index for index, span_id in enumerate(by_id)}
    ranked = sorted(
        issues,
        key=lambda i: (-SEVERITY_WEIGHTS.get(i.severity, 0), order.get(i.span_id, len(order)), i.category),
    )
    lines: dict[str, int] = {}
    for issue in ranked:
        span = by_id.get(issue.span_id)
        where = f" @{_tool_label(span) if span.kind == 'tool' else span.name}" if span else ""
        evidence = normalise_message(redact(issue.evidence), 100)
        line = f"- {issue.category} [{issue.severity}]{where}: \"{evidence}\""
        lines[line] = lines.get(line, 0) + 1
    return [line if n == 1 else f"{line} x{n}" for line, n in lines.items()]


def _error_lines(spans: list[Span], redact: Any) -> list[str]:
    lines: dict[str, int] = {}
    for span in spans:
        if span.status != "error":
            continue
        message = _error_text(span)
        if not message:
            continue  # a parent marked failed because a child failed; the child's line says why
        label = _tool_label(span) if span.kind == "tool" else span.name
        line = f"- {span.kind} {label}: {normalise_message(redact(message))}"
        lines[line] = lines.get(line, 0) + 1
    return [line if n == 1 else f"{line} x{n}" for line, n in lines.items()]


def _fit(sections: list[tuple[int, list[str]]], max_chars: int) -> str:
    """Join the sections, dropping lines from the least important ones until the text fits."""
    lines = [[_clip(line, LINE_CHARS) for line in body] for _, body in sections]
    dropped = [0] * len(sections)

    def render() -> str:
        out: list[str] = []
        for body, n in zip(lines, dropped, strict=True):
            out.extend(body)
            if n and body:
                out.append(f"… +{n} more")
        return "\n".join(out)

    text = render()
    by_priority = sorted(range(len(sections)), key=lambda i: (sections[i][0], -i))
    while len(text) > max_chars:
        victim = next((i for i in by_priority if len(lines[i]) > 1 or (lines[i] and sections[i][0] < 9)), None)
        if victim is None:
            break
        lines[victim].pop()
        dropped[victim] += 1
        text = render()
    return _clip(text, max_chars)
