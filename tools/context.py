"""What every span tool works against: the store, the cluster under investigation, and what the
model has submitted so far.

One `ToolContext` exists per investigation (and one per recursive sub-investigation). Tools read
traces through it, fence trace content as untrusted data, and — when the model is a remote LLM —
redact personal data and secrets before anything leaves the machine. Because the model then sees
placeholders (`<EMAIL_1>`), the context remembers what each placeholder stood for, so a quote the
model copies from a redacted result can still be checked against the raw span.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from investigator.clustering import Cluster
from investigator.errors import ToolError
from investigator.masking import TraceMasker
from investigator.models import Finding, Span, TraceScores
from investigator.store import Store
from investigator.taxonomy import Taxonomy, default_taxonomy

Summarizer = Callable[[Span, str, str], str]

_FENCE = re.compile(r"<(/?)(trace_data)", re.IGNORECASE)


def escape_fence(text: str) -> str:
    """Neutralise anything in trace text that could open or close a `<trace_data>` fence, so
    content cannot pretend to end the data block and speak as the tool."""
    return _FENCE.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)


def fence(
    text: str,
    trace_id: str,
    span_id: str | None = None,
    field: str | None = None,
    inline: bool = False,
) -> str:
    """Trace content wrapped as labelled, untrusted data (on its own lines unless `inline`)."""
    attrs = f'trace_id="{escape_fence(trace_id)}"'
    if span_id is not None:
        attrs += f' span_id="{escape_fence(span_id)}"'
    if field is not None:
        attrs += f' field="{field}"'
    sep = "" if inline else "\n"
    return f"<trace_data {attrs}>{sep}{escape_fence(text)}{sep}</trace_data>"


class ToolResult(str):
    """A tool's text for the model, carrying the same content as typed data (`data`) for a
    program that reads results, so none has to parse the text. `data` describes only what the
    text shows."""

    data: dict[str, Any] | None

    def __new__(cls, text: str, data: dict[str, Any] | None = None) -> ToolResult:
        made = super().__new__(cls, text)
        made.data = data
        return made


@dataclass
class ToolContext:
    """The state one investigation's tools share (see the judge contract)."""

    store: Store
    run_id: str
    cluster: Cluster
    trace_ids: set[str]
    depth: int = 0
    summarizer: Summarizer | None = None
    model_name: str = "offline"
    findings: list[Finding] = field(default_factory=list)
    scores: list[TraceScores] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    recurse: Callable[[list[str], str], list[Finding]] | None = None
    budget_note: Callable[[], str] | None = None
    read_threshold: int = 3000
    max_result_chars: int = 6000
    # None: redact whenever the model is not the offline investigator (text leaves the machine).
    redact: bool | None = None
    taxonomy: Taxonomy = field(default_factory=default_taxonomy)
    _masker: TraceMasker = field(init=False, repr=False)
    _spans: dict[str, dict[str, Span]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self._masker = TraceMasker(self._ids)

    @property
    def source(self) -> str:
        """The `source` label of what this investigation produces."""
        return "offline" if self.model_name == "offline" else f"llm:{self.model_name}"

    @property
    def redacting(self) -> bool:
        return self.redact if self.redact is not None else self.model_name != "offline"

    # ------------------------------------------------------------------ reading

    def check_trace(self, trace_id: str) -> None:
        if trace_id not in self.trace_ids:
            raise ToolError(
                f"trace {trace_id!r} is not part of this investigation; use a trace id from "
                "cluster_overview or search_spans"
            )

    def spans(self, trace_id: str) -> list[Span]:
        """The spans of a trace of this investigation, in start order (cached)."""
        self.check_trace(trace_id)
        cached = self._spans.get(trace_id)
        if cached is None:
            cached = {s.span_id: s for s in self.store.spans(trace_id)}
            self._spans[trace_id] = cached
        return list(cached.values())

    def span(self, trace_id: str, span_id: str) -> Span:
        """One span of a trace of this investigation; a ToolError names the problem."""
        self.spans(trace_id)
        found = self._spans[trace_id].get(span_id)
        if found is None:
            raise ToolError(
                f"span {span_id!r} does not exist in trace {trace_id!r}; call trace_outline"
                f"({trace_id!r}) to see its span ids"
            )
        return found

    # ---------------------------------------------------------------- redaction

    def safe(self, text: str, trace_id: str) -> str:
        """`text` as it may be shown to the model: redacted when text leaves the machine, with
        one placeholder numbering per trace."""
        if not text or not self.redacting:
            return text
        return self._masker.mask(text, trace_id)

    def _ids(self, trace_id: str) -> set[str]:
        if trace_id not in self.trace_ids:
            return {trace_id}
        self.spans(trace_id)
        return {trace_id, *self._spans[trace_id]}

    def unredacted(self, text: str, trace_id: str) -> list[str]:
        """The raw texts a model-written `text` with placeholders may stand for (first form of each
        placeholder first); empty when it holds no placeholder this trace produced."""
        return self._masker.unmasked(text, trace_id)


def component_of(span: Span) -> str:
    """The component a span's failure belongs to: the tool it ran, else the agent it ran in."""
    return span.tool_name if span.kind == "tool" and span.tool_name else span.agent or ""

