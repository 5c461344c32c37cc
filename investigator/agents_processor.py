"""A TracingProcessor for the OpenAI Agents SDK that records runs for the investigator.

    from agents import add_trace_processor
    from investigator.agents_processor import InvestigatorTracingProcessor

    add_trace_processor(InvestigatorTracingProcessor("runs.jsonl"))     # or "investigator.db"

With a `.jsonl` path every trace and finished span is appended as the SDK's own `export()` dict,
one orjson line each, which `investigator ingest runs.jsonl` reads back with the
`openai-agents` adapter. With a `.db`/`.sqlite` path or a `Store`, the export dicts of a trace are
buffered and ingested into the store when the trace ends (and on `force_flush` / `shutdown`).

The SDK exports a response span as its `response_id` and `usage` only; this processor adds the
`Response` object the model returned (`span_data.response`: the model, the output items) and the
input items sent (`span_data.input`), when the SDK kept them (it does unless the run sets
`trace_include_sensitive_data=False`).

The processor sits inside the user's agent run: every callback catches its own errors, logs them
and returns, so recording can fail without the run failing.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from agents.tracing import ResponseSpanData, TracingProcessor
from pydantic_core import to_jsonable_python

if TYPE_CHECKING:
    from agents.tracing import Span, Trace

    from investigator.store import Store

logger = logging.getLogger(__name__)

FORMAT = "openai-agents"
SOURCE = "openai-agents-processor"
_STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# Records held for a store that keeps failing; past this the processor stops buffering (and
# says so) rather than grow without bound inside the user's process.
MAX_BUFFERED = 100_000


class InvestigatorTracingProcessor(TracingProcessor):
    """Records Agents SDK traces to a JSONL file or straight into an investigator store."""

    def __init__(self, path_or_store: str | os.PathLike[str] | Store) -> None:
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._store: Store | None = None
        self._owns_store = False
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._failures = 0
        if isinstance(path_or_store, (str, os.PathLike)):
            self.path: Path | None = Path(path_or_store)
            self.mode = "store" if self.path.suffix.lower() in _STORE_SUFFIXES else "jsonl"
        else:
            self.path = None
            self.mode = "store"
            self._store = path_or_store

    def _flush_file(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    # ---- TracingProcessor callbacks ----

    def on_trace_start(self, trace: Trace) -> None:
        # The trace row is written first so a run that dies midway still names its workflow.
        self._record(trace, "trace start")

    def on_trace_end(self, trace: Trace) -> None:
        try:
            if self.mode == "jsonl":
                self._flush_file()
            else:
                self._ingest([trace.trace_id])
        except Exception:
            logger.warning(
                "investigator: could not flush trace %s", getattr(trace, "trace_id", "?"), exc_info=True
            )

    def on_span_start(self, span: Span[Any]) -> None:
        """Spans are recorded when they end, once their output, usage and error are known."""

    def on_span_end(self, span: Span[Any]) -> None:
        self._record(span, "span end")

    def force_flush(self) -> None:
        try:
            if self.mode == "jsonl":
                self._flush_file()
            else:
                with self._lock:
                    pending = list(self._buffers)
                self._ingest(pending)
        except Exception:
            logger.warning("investigator: force_flush failed", exc_info=True)

    def shutdown(self) -> None:
        self.force_flush()
        try:
            with self._lock:
                if self._file is not None:
                    self._file.close()
                    self._file = None
                if self._store is not None and self._owns_store:
                    self._store.close()
                    self._store = None
                    self._owns_store = False
        except Exception:
            logger.warning("investigator: shutdown failed", exc_info=True)

    # ---- internals ----

    def _record(self, item: Trace | Span[Any], what: str) -> None:
        try:
            exported = _export(item)
            if not exported:  # no-op traces and spans export None
                return
            if self.mode == "jsonl":
                line = orjson.dumps(exported, default=str) + b"\n"
                with self._lock:
                    if self._file is None:
                        assert self.path is not None
                        self.path.parent.mkdir(parents=True, exist_ok=True)
                        self._file = open(self.path, "ab")  # noqa: SIM115 - held until shutdown
                    self._file.write(line)
            else:
                # Round-trip through JSON so the buffer holds plain data, detached from live SDK
                # objects the run may still mutate.
                row = orjson.loads(orjson.dumps(exported, default=str))
                trace_id = str(exported.get("trace_id") or exported.get("id"))
                with self._lock:
                    if sum(map(len, self._buffers.values())) >= MAX_BUFFERED:
                        logger.error(
                            "investigator: %d records already buffered; dropping %s of trace %s",
                            MAX_BUFFERED,
                            what,
                            trace_id,
                        )
                        return
                    self._buffers.setdefault(trace_id, []).append(row)
        except Exception:
            self._failures += 1
            # A broken destination fails on every span; the first failure carries the traceback.
            if self._failures == 1:
                logger.warning("investigator: could not record %s", what, exc_info=True)
            elif self._failures % 1000 == 0:
                logger.warning("investigator: %d records could not be recorded", self._failures)

    def _ingest(self, trace_ids: list[str]) -> None:
        """Write the buffered records of these traces into the store; on failure they stay
        buffered for the next flush."""
        with self._lock:
            records = [row for tid in trace_ids for row in self._buffers.pop(tid, [])]
            if not records:
                return
            try:
                from investigator.ingest.pipeline import ingest_records

                report = ingest_records(self._open_store(), records, fmt=FORMAT, source=SOURCE)
            except Exception:
                for row in records:
                    tid = str(row.get("trace_id") or row.get("id"))
                    self._buffers.setdefault(tid, []).append(row)
                raise
        if report.quarantined:
            logger.warning("investigator: %d Agents SDK records were quarantined", report.quarantined)

    def _open_store(self) -> Store:
        if self._store is None:
            from investigator.store import Store

            assert self.path is not None
            self._store = Store(self.path)
            self._owns_store = True
        return self._store


def _export(item: Trace | Span[Any]) -> dict[str, Any] | None:
    """The SDK's `export()` of a trace or span; a response span also gets the response object and
    input items the SDK holds but does not export."""
    exported = item.export()
    data = getattr(item, "span_data", None)
    if exported and isinstance(data, ResponseSpanData):
        if data.response is not None:
            exported["span_data"]["response"] = to_jsonable_python(data.response, exclude_none=True)
        if data.input is not None:
            exported["span_data"]["input"] = to_jsonable_python(data.input)
    return exported
