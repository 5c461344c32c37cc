"""Long span fields reach the judge as summaries written by a cheaper model.

A span's input or output can run to hundreds of kilobytes (retrieved documents, long
conversations). `read_span` hands anything over its threshold to the summarizer made here. A
summary is cached in the store per (span, field, model), so re-reading a span, a later run over
the same traces never pays twice. While provider traffic is recorded or replayed the cache is
written but not read: a warm store would otherwise leave summary calls out of a recording (or a
replay would look for calls the recording never made), so what is recorded depends on the store.
Without a model, or when the model fails, the summarizer falls back to a head-and-tail excerpt,
labelled as one, so the investigation goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from investigator.models import Span
from investigator.redact import RedactionContext, Redactor
from investigator.store import Store
from investigator.tools.context import fence

if TYPE_CHECKING:
    from investigator.providers.base import ModelConfig, ModelOutput

log = logging.getLogger(__name__)

HEAD_CHARS = 1200
TAIL_CHARS = 800
# What the summarizing model is shown of a field at most: its beginning and its end.
MAX_INPUT_CHARS = 60_000

Generate = Callable[..., "ModelOutput"]


def excerpt(text: str, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> str:
    """The first `head` and last `tail` characters of `text`, labelled as an excerpt."""
    if len(text) <= head + tail:
        return text
    omitted = len(text) - head - tail
    return (
        f"[excerpt, not a summary: the first {head} and last {tail} of {len(text)} characters]\n"
        f"{text[:head]}\n[… {omitted} characters omitted …]\n{text[-tail:]}"
    )


def _clip(text: str, limit: int = MAX_INPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    keep = limit // 2
    return f"{text[:keep]}\n[… {len(text) - 2 * keep} characters omitted …]\n{text[-keep:]}"


def prompt_template() -> str:
    """The summarizer's instructions, shipped as prompts/summarizer.txt."""
    return files("investigator.prompts").joinpath("summarizer.txt").read_text(encoding="utf-8")


def summary_messages(span: Span, field: str, text: str, length: int | None = None) -> list[dict[str, Any]]:
    """The chat messages that ask for a summary of one field of one span. `length` is the
    field's size before redaction, when `text` is a redacted copy."""
    instructions = prompt_template().format(
        kind=span.kind,
        name=span.name or "(unnamed)",
        field=field,
        length=len(text) if length is None else length,
        status=span.status,
    )
    return [
        {"role": "system", "content": instructions},
        {"role": "user", "content": fence(_clip(text), span.trace_id, span.span_id, field)},
    ]


def _label(summary: str, model: str, length: int) -> str:
    return f"[summary by {model} of {length} characters; not verbatim]\n{summary}"


def make_summarizer(
    store: Store,
    config: ModelConfig | None,
    run_id: str | None,
    *,
    generate: Generate | None = None,
) -> Callable[[Span, str, str], str]:
    """A summarizer for `read_span`: (span, field, text) -> summary text.

    `config` None means no summarizing model: every call returns an excerpt. `generate` defaults
    to `investigator.providers.generate` (the one entry point with retries and call logging)."""
    redactor = Redactor()

    def summarize(span: Span, field: str, text: str) -> str:
        if config is None:
            return excerpt(text)
        model = config.model
        from investigator.providers.recording import recording_mode

        cached = store.cached_summary(span.trace_id, span.span_id, field, model) if recording_mode() is None else None
        if cached is not None:
            return _label(cached, model, len(text))
        try:
            call = generate
            if call is None:
                from investigator.providers import generate as call
            safe_text = redactor.redact(text, RedactionContext())
            output = call(
                summary_messages(span, field, safe_text, len(text)),
                [],
                config,
                store=store,
                run_id=run_id,
                purpose="summarize",
            )
            summary = (output.text or "").strip()
        except Exception as exc:  # noqa: BLE001 - any failure: the excerpt keeps the investigation going
            log.warning("summarizing %s/%s %s failed: %s", span.trace_id, span.span_id, field, exc)
            return excerpt(text)
        if not summary:
            return excerpt(text)
        store.save_summary(span.trace_id, span.span_id, field, model, summary)
        return _label(summary, model, len(text))

    return summarize
