"""Real OpenAI Agents SDK runs, recorded the ways the SDK and this project record them.

A triage agent with a function tool and an input guardrail hands off to a billing agent whose
refund tool raises. The agents run with the SDK's own `Runner` against `ScriptedModel` (the
framework corpus's OpenAI-compatible server on loopback), which answers the Responses API and the
Chat Completions API (streamed as server-sent events when asked) from the script in `TURNS`, played
once per run: first function calls, then a final message. The same server stands in for
the traces ingest endpoint, so the SDK's own `BackendSpanExporter` (behind its
`BatchTraceProcessor`) POSTs its `{"data": [...]}` bodies there; they are kept byte for byte.
Beside it, a plain `TracingProcessor` keeps every `trace.export()` / `span.export()` dict and the
project's `InvestigatorTracingProcessor` writes its JSONL file.

The runs happen once per test session (`record_support_runs`), inside the first test that asks,
so the suite's network guards are on while the SDK runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunConfig,
    Runner,
    function_tool,
    input_guardrail,
)
from agents.tracing import Span, Trace, TracingProcessor
from agents.tracing import setup as tracing_setup
from agents.tracing.processors import BackendSpanExporter, BatchTraceProcessor
from agents.tracing.provider import DefaultTraceProvider
from openai import AsyncOpenAI

from investigator.agents_processor import InvestigatorTracingProcessor
from investigator.evals.frameworks.model_server import Exchange as Reply
from investigator.evals.frameworks.model_server import ScriptedModel, Turn

REQUEST_MODEL = "gpt-4.1-mini"
USER_MESSAGE = "I was charged twice for order A10492. Please refund the duplicate."
TRACE_METADATA = {"agent_version": "support-bot@2.5.0", "prompt_version": "triage-v8", "user_id": "cus_Q8n2LmV4xT"}
REFUND_ERROR = "payments API returned 503 Service Unavailable"


TURNS = (
    Turn((("lookup_order", '{"order_id":"A10492"}'),), None, 412, 18, 0),
    Turn((("transfer_to_billing_agent", "{}"),), None, 488, 12, 384),
    Turn((("refund_order", '{"order_id":"A10492","amount":149.0}'),), None, 530, 27, 0),
    Turn((), "I could not issue the refund for A10492 just now; the payments service is down.", 575, 41, 512),
)


class Collector(TracingProcessor):
    """Keeps `trace.export()` when a trace starts and `span.export()` when a span ends, as the
    SDK's own batch processor does."""

    def __init__(self) -> None:
        self.exports: list[dict[str, Any]] = []

    def on_trace_start(self, trace: Trace) -> None:
        self._keep(trace.export())

    def on_trace_end(self, trace: Trace) -> None:
        pass

    def on_span_start(self, span: Span[Any]) -> None:
        pass

    def on_span_end(self, span: Span[Any]) -> None:
        self._keep(span.export())

    def _keep(self, exported: dict[str, Any] | None) -> None:
        if exported:
            self.exports.append(json.loads(json.dumps(exported)))

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass


@function_tool
def lookup_order(order_id: str) -> dict[str, Any]:
    """Look up an order and the charges made for it."""
    return {"order_id": order_id, "charges": 2, "amount": 149.0}


@function_tool
def refund_order(order_id: str, amount: float) -> str:
    """Refund an amount charged for an order."""
    raise RuntimeError(REFUND_ERROR)


@input_guardrail(name="support_topic_guardrail")
def support_topic(context: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
    return GuardrailFunctionOutput(output_info={"on_topic": True}, tripwire_triggered=False)


def _agents(model: Any) -> Agent[Any]:
    billing = Agent(
        name="Billing Agent", instructions="You resolve billing problems.", tools=[refund_order], model=model
    )
    return Agent(
        name="Triage Agent",
        instructions="Triage support requests.",
        tools=[lookup_order],
        handoffs=[billing],
        input_guardrails=[support_topic],
        model=model,
    )


@dataclass
class Run:
    """One agent run: the API its model spoke, whether it streamed, its trace and model exchanges."""

    api: str
    stream: bool
    trace_id: str = ""
    final_output: str = ""
    replies: list[Reply] = field(default_factory=list)


@dataclass
class Recording:
    runs: list[Run]
    exporter_files: list[Path]  # each body the BackendSpanExporter POSTed, saved as received
    exports: list[dict[str, Any]]  # what the Collector kept
    processor_file: Path  # what InvestigatorTracingProcessor wrote to JSONL
    processor_db: Path  # the store InvestigatorTracingProcessor wrote to

    def run(self, api: str, stream: bool = False) -> Run:
        return next(r for r in self.runs if (r.api, r.stream) == (api, stream))

    def rows(self, trace_id: str) -> list[dict[str, Any]]:
        """The Collector's export rows of one trace (its trace row first)."""
        return [r for r in self.exports if trace_id in (r.get("trace_id"), r.get("id"))]


@contextmanager
def sdk_tracing(*processors: TracingProcessor) -> Iterator[None]:
    """A fresh SDK trace provider with only these processors, restored afterwards."""
    saved = tracing_setup.GLOBAL_TRACE_PROVIDER
    provider = DefaultTraceProvider()
    provider.set_disabled(False)
    for processor in processors:
        provider.register_processor(processor)
    tracing_setup.GLOBAL_TRACE_PROVIDER = provider
    try:
        yield
    finally:
        tracing_setup.GLOBAL_TRACE_PROVIDER = saved


async def _run_all(server: ScriptedModel, collector: Collector, runs: list[Run]) -> None:
    client = AsyncOpenAI(base_url=f"{server.url}/v1", api_key="sk-test-not-a-real-key", max_retries=0)
    for run in runs:
        model: Any = (
            OpenAIResponsesModel(model=REQUEST_MODEL, openai_client=client)
            if run.api == "responses"
            else OpenAIChatCompletionsModel(model=REQUEST_MODEL, openai_client=client)
        )
        config = RunConfig(
            workflow_name="Customer support",
            group_id=f"conv_7b2e41c9d05f4a86b3e1{len(server.exchanges):04d}",
            trace_metadata=TRACE_METADATA,
            model_settings=ModelSettings(temperature=0.2, include_usage=True),
        )
        with server.play(TURNS) as exchanges:
            if run.stream:
                streamed = Runner.run_streamed(_agents(model), USER_MESSAGE, run_config=config)
                async for _ in streamed.stream_events():
                    pass
                result: Any = streamed
            else:
                result = await Runner.run(_agents(model), USER_MESSAGE, run_config=config)
        run.final_output = str(result.final_output)
        run.replies = list(exchanges)
        run.trace_id = [r["id"] for r in collector.exports if r["object"] == "trace"][-1]


_RECORDING: list[Recording] = []


def record_support_runs(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """The support scenario run three times (Responses API; Chat Completions; Chat Completions
    streamed), recorded by the SDK's exporter, a collecting processor and ours; once a session."""
    if _RECORDING:
        return _RECORDING[0]
    folder = tmp_path_factory.mktemp("agents_sdk")
    runs = [Run("responses", False), Run("chat", False), Run("chat", True)]
    collector = Collector()
    ours = InvestigatorTracingProcessor(folder / "processor" / "runs.jsonl")
    ours_db = InvestigatorTracingProcessor(folder / "processor" / "runs.db")
    with ScriptedModel() as server:
        exporter = BackendSpanExporter(api_key="sk-test-not-a-real-key", endpoint=f"{server.url}/v1/traces/ingest")
        batch = BatchTraceProcessor(exporter, schedule_delay=60.0)
        with sdk_tracing(collector, batch, ours, ours_db):
            asyncio.run(_run_all(server, collector, runs))
            batch.force_flush()
            batch.shutdown()
            ours.shutdown()
            ours_db.shutdown()
            exporter.close()
        bodies = list(server.ingest_bodies)
    exporter_dir = folder / "exporter"
    exporter_dir.mkdir()
    files = []
    for index, body in enumerate(bodies):
        path = exporter_dir / f"ingest-{index}.json"
        path.write_bytes(body)
        files.append(path)
    processor = folder / "processor"
    _RECORDING.append(Recording(runs, files, collector.exports, processor / "runs.jsonl", processor / "runs.db"))
    return _RECORDING[0]
