"""A scripted model on loopback that speaks OpenAI's wire format, for running real agent frameworks
offline.

`ScriptedModel` answers `POST /v1/chat/completions` (streamed as server-sent events when asked)
and `POST /v1/responses` with the next `Turn` of the script in play: the tool calls or the text a
model would send, in the bodies the API sends (ids, usage, finish reasons). It also accepts the
OpenAI Agents SDK's trace exports (`POST /v1/traces/ingest`) and keeps their bodies byte for byte.
A framework pointed at it (`base_url=server.url + "/v1"`) runs its real loop, tools and
instrumentation; only the model's words are scripted.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

RESPONSE_MODEL = "gpt-4.1-mini-2025-04-14"  # the dated model the API reports back


@dataclass(frozen=True)
class Turn:
    """One scripted model reply: tool calls (name, arguments as the model writes them), text, or both.
    `delay_s` holds the reply back (a slow call); `finish` overrides the finish reason."""

    calls: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    input_tokens: int = 420
    output_tokens: int = 24
    cached_tokens: int = 0
    delay_s: float = 0.0
    finish: str | None = None


def call(name: str, arguments: str) -> Turn:
    return Turn(calls=((name, arguments),))


def say(text: str) -> Turn:
    return Turn(text=text)


@dataclass
class Exchange:
    """A model request the server received and the reply it sent."""

    api: str
    request: dict[str, Any]
    body: dict[str, Any]


class ScriptExhausted(RuntimeError):
    """The framework asked the model more often than the script has turns."""


@dataclass
class _Script:
    turns: Sequence[Turn]
    repeat_last: bool
    played: int = 0
    exchanges: list[Exchange] = field(default_factory=list)


class LoopbackServer:
    """An HTTP server on a free loopback port, serving from a thread for the length of a `with`
    block. Subclasses say how requests are answered in `_handler()`, and set their own state before
    calling `super().__init__()`."""

    def __init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class ScriptedModel(LoopbackServer):
    """The server; `with server.play(turns):` around one agent run. A script that runs out answers
    with its last turn again when `repeat_last` (a model stuck in a loop), else with an HTTP 500
    and `ScriptExhausted` is raised when the run ends."""

    def __init__(self, model: str = RESPONSE_MODEL) -> None:
        self.model = model
        self.ingest_bodies: list[bytes] = []
        self.exchanges: list[Exchange] = []
        self._script: _Script | None = None
        self._overrun = False
        self._lock = threading.Lock()
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    @contextmanager
    def play(self, turns: Sequence[Turn], repeat_last: bool = False) -> Iterator[list[Exchange]]:
        """Answer model requests from `turns` until the block ends; yields the exchanges as they happen."""
        script = _Script(list(turns), repeat_last)
        with self._lock:
            self._script, self._overrun = script, False
        try:
            yield script.exchanges
        finally:
            with self._lock:
                self._script, overrun = None, self._overrun
        if overrun:
            raise ScriptExhausted(f"the run asked for more than the {len(turns)} scripted turns")

    def _next(self, api: str, request: dict[str, Any]) -> Exchange | None:
        with self._lock:
            script = self._script
            if script is None or not script.turns:
                self._overrun = True
                return None
            if script.played >= len(script.turns) and not script.repeat_last:
                self._overrun = True
                return None
            turn = script.turns[min(script.played, len(script.turns) - 1)]
            script.played += 1
            n = len(self.exchanges)
        if turn.delay_s:
            time.sleep(turn.delay_s)
        call_ids = [f"call_{n:03d}{i}Xk3vN8pQ2rT5wY7z" for i in range(len(turn.calls))]
        if api == "/v1/responses":
            body = _response(request, turn, n, call_ids, self.model)
        else:
            body = _completion(turn, n, call_ids, self.model)
        exchange = Exchange(api, request, body)
        with self._lock:
            self.exchanges.append(exchange)
            script.exchanges.append(exchange)
        return exchange


def _handler(server: ScriptedModel) -> type[BaseHTTPRequestHandler]:
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
            exchange = server._next(self.path, request)
            if exchange is None:
                error = {"error": {"message": "the scripted model has no turn left", "type": "server_error"}}
                self._send(500, json.dumps(error).encode())
            elif request.get("stream") and self.path == "/v1/chat/completions":
                self._send(200, _sse(exchange.body), "text/event-stream")
            else:
                self._send(200, json.dumps(exchange.body).encode())

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _response(request: dict[str, Any], turn: Turn, n: int, call_ids: list[str], model: str) -> dict[str, Any]:
    """A Responses API `Response` as the API returns it: it echoes the instructions and tools."""
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_68c1f0a9{n:03d}{i}",
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
                "id": f"msg_68c1f0b3{n:03d}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
            }
        )
    incomplete = turn.finish in ("length", "max_output_tokens")
    return {
        "id": f"resp_68c1f0a2b3d4e5f6{n:04d}",
        "object": "response",
        "created_at": 1741476542 + n,
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": None,
        "model": model,
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


def _completion(turn: Turn, n: int, call_ids: list[str], model: str) -> dict[str, Any]:
    """A Chat Completions `chat.completion` as the API returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None, "annotations": []}
    if turn.calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, (name, arguments) in zip(call_ids, turn.calls, strict=True)
        ]
    finish = turn.finish or ("tool_calls" if turn.calls else "stop")
    return {
        "id": f"chatcmpl-B9MBs8CjcvOU2jLn4n570S5q{n:04d}",
        "object": "chat.completion",
        "created": 1741569952 + n,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
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
