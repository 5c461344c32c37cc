"""A local stand-in for the OpenAI and Anthropic HTTP APIs, scripted per test.

It listens on 127.0.0.1 in a background thread and answers `POST /v1/chat/completions` (OpenAI
chat-completions wire format) and `POST /v1/messages` (Anthropic messages wire format) from a
queue of replies the test sets up. The reply builders produce bodies and headers shaped as the
real services send them: ids, usage blocks with cache fields, error envelopes, Retry-After.
Every request is kept (path, headers, JSON body) so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted HTTP answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


# --- OpenAI chat-completions ------------------------------------------------------------------


def openai_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A tool call as OpenAI sends it: the arguments are a JSON *string*, possibly malformed."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai_completion(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    prompt_tokens: int = 1117,
    completion_tokens: int = 46,
    cached_tokens: int = 0,
    model: str = "gpt-4o-mini-2024-07-18",
    completion_id: str = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    created: int = 1741569952,
) -> Reply:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306",
    }
    return Reply(200, body, {"x-request-id": "req_6f2ae3c5b1a84c0e9d7f3a1b2c4d5e6f", "openai-processing-ms": "412"})


def openai_rate_limited(retry_after: str = "2") -> Reply:
    body = {
        "error": {
            "message": "Rate limit reached for gpt-4o-mini in organization org-XqVbq2c1R7mT on tokens per min "
            "(TPM): Limit 200000, Used 199862, Requested 1163. Please try again in 307ms. Visit "
            "https://platform.openai.com/account/rate-limits to learn more.",
            "type": "tokens",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    return Reply(
        429,
        body,
        {
            "retry-after": retry_after,
            "x-ratelimit-remaining-tokens": "0",
            "x-request-id": "req_0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        },
    )


def openai_server_error() -> Reply:
    body = {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return Reply(500, body, {"x-request-id": "req_9f8e7d6c5b4a39281706f5e4d3c2b1a0"})


def openai_bad_request(message: str = "Invalid 'messages[1].content': string too long.") -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": None}}
    return Reply(400, body, {"x-request-id": "req_1b2c3d4e5f60718293a4b5c6d7e8f90a"})


# --- Anthropic messages -----------------------------------------------------------------------


def anthropic_message(
    *,
    text: str | None = None,
    tool_uses: list[dict[str, Any]] | None = None,
    input_tokens: int = 2095,
    output_tokens: int = 503,
    cache_read_input_tokens: int = 0,
    cache_creation_input_tokens: int = 0,
    model: str = "claude-sonnet-4-6",
    message_id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
) -> Reply:
    """A Messages API response; `tool_uses` are (id, name, input) dicts."""
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "text", "text": text})
    for use in tool_uses or []:
        content.append({"type": "tool_use", "id": use["id"], "name": use["name"], "input": use["input"]})
    body = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if tool_uses else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": cache_creation_input_tokens,
            "cache_read_input_tokens": cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        },
    }
    return Reply(
        200,
        body,
        {
            "request-id": "req_011CSHoEeqs5C35K2UUqR7Fy",
            "anthropic-organization-id": "1b6a7c2e-5d4f-4e3a-9b8c-7d6e5f4a3b2c",
        },
    )


def anthropic_error(status: int, error_type: str, message: str, retry_after: str | None = None) -> Reply:
    body = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fz",
    }
    headers = {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fz"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return Reply(status, body, headers)


def anthropic_rate_limited(retry_after: str = "3") -> Reply:
    return anthropic_error(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization (1b6a7c2e-5d4f-4e3a-9b8c-"
        "7d6e5f4a3b2c) of 30,000 input tokens per minute. For details, refer to: "
        "https://docs.claude.com/en/api/rate-limits.",
        retry_after,
    )


def anthropic_server_error() -> Reply:
    return anthropic_error(500, "api_error", "Internal server error")


def anthropic_overloaded() -> Reply:
    return anthropic_error(529, "overloaded_error", "Overloaded")


# --- The server -------------------------------------------------------------------------------


class FakeLLMServer:
    """Serves scripted replies in order; when the script runs out it asks the responder, if any, and
    otherwise answers 500 with a note, so a test that makes an unexpected call fails visibly."""

    def __init__(self, port: int = 0, responder: Callable[[Received], Reply] | None = None) -> None:
        self.responder = responder  # answers whatever the script does not
        self.replies: list[Reply] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> FakeLLMServer:
        with self._lock:
            self.replies.extend(replies)
        return self

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if self.replies:
                return self.replies.pop(0)
        if self.responder is not None:
            return self.responder(received)
        return Reply(
            500,
            {
                "error": {
                    "message": f"fake server: no scripted reply for {received.path}",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server._next(Received("POST", self.path, headers, body))
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
