"""Real OpenAI Agents SDK runs, recorded the ways the SDK and this project record them.

A triage agent with a function tool and an input guardrail hands off to a billing agent whose
refund tool raises. The agents run with the SDK's own `Runner` against `ScriptedOpenAI`, an
OpenAI-compatible server on loopback that answers the Responses API (`POST /v1/responses`) and the
Chat Completions API (`POST /v1/chat/completions`, streamed as server-sent events when asked) from
the script in `TURNS`: first function calls, then a final message. The same server stands in for
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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
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
from loopback import LoopbackServer
from openai import AsyncOpenAI

from investigator.agents_processor import InvestigatorTracingProcessor

REQUEST_MODEL = "gpt-4.1-mini"
RESPONSE_MODEL = "gpt-4.1-mini-2025-04-14"  # the dated model the API reports back
USER_MESSAGE = "I was charged twice for order A10492. Please refund the duplicate."
TRACE_METADATA = {"agent_version": "support-bot@2.5.0", "prompt_version": "triage-v8", "user_id": "cus_Q8n2LmV4xT"}
REFUND_ERROR = "payments API returned 503 Service Unavailable"


@dataclass(frozen=True)
class Turn:
    """One scripted model reply: tool calls (name, arguments as the model writes them) or text."""

    calls: tuple[tuple[str, str], ...]
    text: str | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int


TURNS = (
    Turn((("lookup_order", '{"order_id":"A10492"}'),), None, 412, 18, 0),
    Turn((("transfer_to_billing_agent", "{}"),), None, 488, 12, 384),
    Turn((("refund_order", '{"order_id":"A10492","amount":149.0}'),), None, 530, 27, 0),
    Turn((), "I could not issue the refund for A10492 just now; the payments service is down.", 575, 41, 512),
)


@dataclass
class Reply:
    """A model request the server received and the reply it sent."""

    api: str
    request: dict[str, Any]
    body: dict[str, Any]


class ScriptedOpenAI(LoopbackServer):
    """Answers each model request with the next turn of `TURNS` (the script restarts for every run)
    and keeps every traces-ingest body as received."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.ingest_bodies: list[bytes] = []
        self.next_turn = 0
        self._lock = threading.Lock()
        super().__init__()

    def _reply(self, path: str, request: dict[str, Any]) -> Reply:
        with self._lock:
            turn = TURNS[self.next_turn]
            self.next_turn = (self.next_turn + 1) % len(TURNS)
            n = len(self.replies)
            call_ids = [f"call_{n:02d}{i}Xk3vN8pQ2rT5wY7z" for i in range(len(turn.calls))]
            body = _response(request, turn, n, call_ids) if path == "/v1/responses" else _completion(turn, n, call_ids)
            reply = Reply(path, request, body)
            self.replies.append(reply)
            return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == "/v1/traces/ingest":
                    with server._lock:
                        server.ingest_bodies.append(raw)
                    self._send(200, b"{}")
                    return
                request = json.loads(raw)
                reply = server._reply(self.path, request)
                if request.get("stream"):
                    self._send(200, _sse(reply.body), "text/event-stream")
                else:
                    self._send(200, json.dumps(reply.body).encode())

            def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _response(request: dict[str, Any], turn: Turn, n: int, call_ids: list[str]) -> dict[str, Any]:
    """A Responses API `Response` as the API returns it: it echoes the instructions and tools."""
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_68c1f0a9{n:02d}{i}",
            "call_id": call_id,
            "name": name,
            "arguments": arguments,
            "status": "completed",
        }
        for i, (call_id, (name, arguments)) in enumerate(zip(call_ids, turn.calls, strict=True))
    ]
    if turn.text is not None:
        output.append(
            {
                "type": "message",
                "id": f"msg_68c1f0b3{n:02d}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
            }
        )
    return {
        "id": f"resp_68c1f0a2b3d4e5f6{n:04d}",
        "object": "response",
        "created_at": 1741476542 + n,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": None,
        "model": RESPONSE_MODEL,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": request.get("tools", []),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": turn.input_tokens,
            "input_tokens_details": {"cached_tokens": turn.cached_tokens},
            "output_tokens": turn.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": turn.input_tokens + turn.output_tokens,
        },
        "user": None,
        "metadata": {},
    }


def _completion(turn: Turn, n: int, call_ids: list[str]) -> dict[str, Any]:
    """A Chat Completions `chat.completion` as the API returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None, "annotations": []}
    if turn.calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, (name, arguments) in zip(call_ids, turn.calls, strict=True)
        ]
    return {
        "id": f"chatcmpl-B9MBs8CjcvOU2jLn4n570S5q{n:04d}",
        "object": "chat.completion",
        "created": 1741569952 + n,
        "model": RESPONSE_MODEL,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if turn.calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
            "prompt_tokens_details": {"cached_tokens": turn.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }


def _sse(completion: dict[str, Any]) -> bytes:
    """A `chat.completion` streamed as the API streams it with `include_usage`: a delta chunk, a
    finish chunk, a usage chunk with no choices, then `[DONE]`."""
    head = {k: completion[k] for k in ("id", "created", "model", "system_fingerprint")}
    message = completion["choices"][0]["message"]
    delta: dict[str, Any] = {"role": "assistant", "content": message["content"]}
    if message.get("tool_calls"):
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
    finish = completion["choices"][0]["finish_reason"]
    chunks = [
        {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
        {**head, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        {**head, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]},
    ]
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


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


async def _run_all(server: ScriptedOpenAI, collector: Collector, runs: list[Run]) -> None:
    client = AsyncOpenAI(base_url=f"{server.url}/v1", api_key="sk-test-not-a-real-key", max_retries=0)
    for run in runs:
        model: Any = (
            OpenAIResponsesModel(model=REQUEST_MODEL, openai_client=client)
            if run.api == "responses"
            else OpenAIChatCompletionsModel(model=REQUEST_MODEL, openai_client=client)
        )
        config = RunConfig(
            workflow_name="Customer support",
            group_id=f"conv_7b2e41c9d05f4a86b3e1{len(server.replies):04d}",
            trace_metadata=TRACE_METADATA,
            model_settings=ModelSettings(temperature=0.2, include_usage=True),
        )
        first = len(server.replies)
        if run.stream:
            streamed = Runner.run_streamed(_agents(model), USER_MESSAGE, run_config=config)
            async for _ in streamed.stream_events():
                pass
            result: Any = streamed
        else:
            result = await Runner.run(_agents(model), USER_MESSAGE, run_config=config)
        run.final_output = str(result.final_output)
        run.replies = server.replies[first:]
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
    with ScriptedOpenAI() as server:
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
