"""The provider layer over real HTTP: litellm (OpenAI wire format) and the Anthropic SDK against a
local fake server, with retries, the circuit breaker and the call log."""

from __future__ import annotations

import http.client
import socket

import fake_llm_server as fake
import pytest

from investigator.providers import ModelConfig, ProviderError, generate, get_provider
from investigator.providers.base import CircuitBreaker
from investigator.providers.scripted import ScriptedProvider, ScriptExhausted, reply

READ_SPAN = {
    "type": "function",
    "function": {
        "name": "read_span",
        "description": "Read one span.",
        "parameters": {"type": "object", "properties": {"trace_id": {"type": "string"}, "span_id": {"type": "string"}}},
    },
}
ASK = [
    {"role": "system", "content": "You investigate traces."},
    {"role": "user", "content": "cluster c_1: 3 traces with tool errors"},
]
GPT = ModelConfig(model="openai/gpt-4o-mini")
CLAUDE = ModelConfig(model="anthropic/claude-sonnet-4-6", cache_prefix=2)


def _calls(store) -> list[dict]:
    cursor = store.conn.execute("SELECT * FROM llm_calls ORDER BY id")
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_openai_tool_calls_and_cached_usage_are_parsed(server):
    server.script(
        fake.openai_completion(
            tool_calls=[fake.openai_tool_call("call_a1", "read_span", '{"trace_id": "t1", "span_id": "s9"}')],
            prompt_tokens=1500,
            completion_tokens=40,
            cached_tokens=1024,
        )
    )
    out = generate(ASK, [READ_SPAN], GPT)
    assert [c.model_dump() for c in out.tool_calls] == [
        {"id": "call_a1", "name": "read_span", "arguments": {"trace_id": "t1", "span_id": "s9"}}
    ]
    assert (out.tokens_in, out.tokens_out, out.cached_tokens) == (1500, 40, 1024)
    assert out.model == "openai/gpt-4o-mini-2024-07-18"
    assert out.stop_reason == "tool_calls"
    # bundled gpt-4o-mini prices: uncached input, cached input and output billed separately
    assert out.cost_usd == pytest.approx(476 * 0.15e-6 + 1024 * 0.075e-6 + 40 * 0.6e-6)
    sent = server.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-proj-test-key"
    assert sent.body["messages"] == ASK and sent.body["tools"] == [READ_SPAN]


def test_malformed_tool_call_arguments_are_kept_raw(server):
    broken = '{"trace_id": "t1", "span_id": '
    server.script(fake.openai_completion(tool_calls=[fake.openai_tool_call("call_b2", "read_span", broken)]))
    out = generate(ASK, [READ_SPAN], GPT)
    assert out.tool_calls[0].arguments == {"_raw": broken}


def test_anthropic_request_marks_the_stable_prefix_and_the_newest_turn_for_caching(server):
    server.script(fake.anthropic_message(text="done"))
    long_system = "You investigate traces. " * 200  # ~1,200 tokens: over claude-sonnet-4-6's 1,024 minimum
    conversation = [{"role": "system", "content": long_system}, ASK[1]] + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "read_span", "arguments": '{"trace_id": "t1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "span text"},
    ]
    generate(conversation, [READ_SPAN], CLAUDE)
    body = server.received[0].body
    assert server.received[0].path == "/v1/messages"
    assert body["model"] == "claude-sonnet-4-6"
    assert body["system"] == [{"type": "text", "text": long_system, "cache_control": {"type": "ephemeral"}}]
    assert body["tools"][0]["input_schema"] == READ_SPAN["function"]["parameters"]
    assert "cache_control" not in body["tools"][-1]  # the tools alone are under the minimum: a wasted mark
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "cluster c_1: 3 traces with tool errors",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_span", "input": {"trace_id": "t1"}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "span text",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        },  # the rolling breakpoint
    ]
    marks = sum("cache_control" in b for m in body["messages"] for b in m["content"])
    assert marks + 1 <= 4  # and the system prompt: within the API's four breakpoints
    assert server.violations == []


def test_a_short_prompt_gets_no_cache_marks_it_could_not_use(server):
    server.script(fake.anthropic_message(text="done"))
    generate(ASK, [READ_SPAN], CLAUDE)
    body = server.received[0].body
    assert "cache_control" not in str(body)
    assert server.violations == []


def test_anthropic_usage_counts_cache_reads_as_cached_tokens(server):
    server.script(
        fake.anthropic_message(
            tool_uses=[{"id": "toolu_9", "name": "read_span", "input": {"trace_id": "t2"}}],
            input_tokens=200,
            output_tokens=50,
            cache_read_input_tokens=1800,
            cache_creation_input_tokens=100,
        )
    )
    out = generate(ASK, [READ_SPAN], CLAUDE)
    assert out.tool_calls[0].model_dump() == {"id": "toolu_9", "name": "read_span", "arguments": {"trace_id": "t2"}}
    assert (out.tokens_in, out.tokens_out, out.cached_tokens) == (2100, 50, 1800)
    assert out.stop_reason == "tool_use"
    assert out.cost_usd == pytest.approx(200 * 3e-6 + 1800 * 0.3e-6 + 100 * 3.75e-6 + 50 * 15e-6)


@pytest.mark.parametrize(
    ("config", "limited", "ok"),
    [
        (GPT, lambda: fake.openai_rate_limited("7"), lambda: fake.openai_completion(content="ok")),
        (CLAUDE, lambda: fake.anthropic_rate_limited("7"), lambda: fake.anthropic_message(text="ok")),
    ],
    ids=["openai", "anthropic"],
)
def test_rate_limit_waits_for_retry_after_then_succeeds(server, store, config, limited, ok):
    server.script(limited(), ok())
    slept: list[float] = []
    out = generate(ASK, [], config, store=store, run_id="r1", cluster_id="c1", sleep=slept.append)
    assert out.text == "ok"
    assert slept == [7.0]
    rows = _calls(store)
    assert len(rows) == 2
    assert "429" in rows[0]["error"] and "rate limit" in rows[0]["error"].lower()
    assert rows[1]["error"] is None and rows[1]["tokens_in"] > 0


def test_server_errors_are_retried_with_exponential_backoff(server):
    server.script(fake.openai_server_error(), fake.openai_server_error(), fake.openai_completion(content="ok"))
    slept: list[float] = []
    assert generate(ASK, [], GPT, sleep=slept.append).text == "ok"
    assert slept == [1.0, 2.0]
    assert len(server.received) == 3


def test_overloaded_anthropic_is_retried(server):
    server.script(fake.anthropic_overloaded(), fake.anthropic_message(text="ok"))
    slept: list[float] = []
    assert generate(ASK, [], CLAUDE, sleep=slept.append).text == "ok"
    assert slept == [1.0]


def test_retry_after_is_capped_at_sixty_seconds(server):
    server.script(fake.openai_rate_limited("600"), fake.openai_completion(content="ok"))
    slept: list[float] = []
    generate(ASK, [], GPT, sleep=slept.append)
    assert slept == [60.0]


def test_bad_request_is_not_retried(server, store):
    server.script(fake.openai_bad_request("Invalid 'messages[1].content': string too long."))
    slept: list[float] = []
    with pytest.raises(ProviderError, match="string too long"):
        generate(ASK, [], GPT, store=store, sleep=slept.append)
    assert slept == [] and len(server.received) == 1
    assert len(_calls(store)) == 1


def test_gives_up_after_five_attempts_and_logs_each(server, store):
    server.script(*(fake.openai_server_error() for _ in range(5)))
    breaker = CircuitBreaker(threshold=10)
    with pytest.raises(ProviderError, match="gave up after 5 attempts"):
        generate(ASK, [], GPT, store=store, run_id="r1", cluster_id="c2", sleep=lambda s: None, breaker=breaker)
    rows = _calls(store)
    assert len(server.received) == 5 and len(rows) == 5
    assert all(r["error"] and r["run_id"] == "r1" and r["cluster_id"] == "c2" for r in rows)


def test_one_call_that_met_five_overloads_counts_once_against_the_circuit_breaker(server):
    breaker = CircuitBreaker()
    server.script(*(fake.anthropic_overloaded() for _ in range(5)))
    with pytest.raises(ProviderError, match="gave up after 5 attempts"):
        generate(ASK, [], CLAUDE, sleep=lambda s: None, breaker=breaker)
    assert not breaker.is_open("anthropic")  # other clusters still reach the provider
    server.script(fake.anthropic_message(text="fine"))
    assert generate(ASK, [], CLAUDE, breaker=breaker).text == "fine"


def test_circuit_breaker_fails_fast_after_consecutive_failed_calls_then_recovers(server, store, monkeypatch):
    from investigator.providers import base

    monkeypatch.setattr(base, "MAX_ATTEMPTS", 1)  # one attempt per call: each error is a failed call
    now = [1000.0]
    breaker = CircuitBreaker(clock=lambda: now[0])
    server.script(*(fake.anthropic_server_error() for _ in range(5)))
    for _ in range(5):
        with pytest.raises(ProviderError):
            generate(ASK, [], CLAUDE, sleep=lambda s: None, breaker=breaker)
    assert breaker.is_open("anthropic")
    with pytest.raises(ProviderError, match="5 calls in a row failed"):
        generate(ASK, [], CLAUDE, store=store, sleep=lambda s: None, breaker=breaker)
    assert len(server.received) == 5  # the fast failure never reached the server
    assert "5 calls in a row failed" in _calls(store)[0]["error"]
    # other providers are unaffected
    server.script(fake.openai_completion(content="fine"))
    assert generate(ASK, [], GPT, breaker=breaker).text == "fine"
    now[0] += 61
    server.script(fake.anthropic_message(text="back"))
    assert generate(ASK, [], CLAUDE, breaker=breaker).text == "back"
    assert not breaker.is_open("anthropic")


@pytest.mark.parametrize(
    ("config", "limited", "ok"),
    [
        (GPT, fake.openai_rate_limited, lambda: fake.openai_completion(content="ok")),
        (CLAUDE, fake.anthropic_rate_limited, lambda: fake.anthropic_message(text="ok")),
    ],
    ids=["openai", "anthropic"],
)
def test_retry_after_ms_is_preferred_to_retry_after(server, config, limited, ok):
    reply = limited("7")
    reply.headers["retry-after-ms"] = "1500"
    server.script(reply, ok())
    slept: list[float] = []
    assert generate(ASK, [], config, sleep=slept.append).text == "ok"
    assert slept == [1.5]


@pytest.mark.parametrize(("config", "error"), [(GPT, fake.openai_server_error), (CLAUDE, fake.anthropic_overloaded)],
                         ids=["openai", "anthropic"])
def test_a_server_that_says_do_not_retry_is_not_retried(server, config, error):
    reply = error()
    reply.headers["x-should-retry"] = "false"
    server.script(reply)
    slept: list[float] = []
    with pytest.raises(ProviderError) as raised:
        generate(ASK, [], config, sleep=slept.append)
    assert "gave up" not in str(raised.value)
    assert slept == [] and len(server.received) == 1


def test_a_server_that_says_retry_is_retried_even_on_a_bad_request_status(server):
    reply = fake.anthropic_error(400, "invalid_request_error", "try again")
    reply.headers["x-should-retry"] = "true"
    server.script(reply, fake.anthropic_message(text="ok"))
    slept: list[float] = []
    assert generate(ASK, [], CLAUDE, sleep=slept.append).text == "ok"
    assert slept == [1.0]


def test_an_exhausted_quota_is_not_retried(server):
    body = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    server.script(fake.Reply(429, body))
    slept: list[float] = []
    with pytest.raises(ProviderError, match="quota"):
        generate(ASK, [], GPT, sleep=slept.append)
    assert slept == [] and len(server.received) == 1


def test_every_call_is_logged_with_usage_cost_and_latency(server, store):
    server.script(fake.openai_completion(content="a", prompt_tokens=300, completion_tokens=20, cached_tokens=128))
    generate(ASK, [], GPT, store=store, run_id="run_5", cluster_id="c_9", purpose="summarize")
    [row] = _calls(store)
    assert row["run_id"] == "run_5" and row["cluster_id"] == "c_9" and row["purpose"] == "summarize"
    assert row["model"] == "openai/gpt-4o-mini"
    assert (row["tokens_in"], row["tokens_out"], row["cached_tokens"]) == (300, 20, 128)
    assert row["cost_usd"] > 0 and row["latency_ms"] > 0 and row["error"] is None
    assert row["created_at"].endswith("Z")


def test_missing_anthropic_key_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY is not set"):
        generate(ASK, [], CLAUDE)
    assert server.received == []


def test_model_names_resolve_to_providers():
    assert type(get_provider("anthropic/claude-sonnet-4-6")).__name__ == "AnthropicProvider"
    assert type(get_provider("openai/gpt-4o")).__name__ == "LiteLLMProvider"
    assert type(get_provider("mistral/mistral-large-latest")).__name__ == "LiteLLMProvider"
    with pytest.raises(ProviderError, match="provider/model"):
        get_provider("gpt-4o")


def test_scripted_provider_plays_its_script_then_refuses(store):
    script = ScriptedProvider([reply("first", tokens_in=12), reply("second")])
    config = ModelConfig(model="scripted")
    assert generate(ASK, [], config, store=store).text == "first"
    assert generate(ASK, [], config).text == "second"
    with pytest.raises(ScriptExhausted, match="called 3 times"):
        generate(ASK, [], config)
    assert len(script.calls) == 3 and script.calls[0]["messages"] == ASK
    assert _calls(store)[0]["tokens_in"] == 12


def test_reaching_a_real_provider_through_a_proxy_is_refused(no_real_provider):
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(1)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.getsockname()[1], timeout=2)
        conn.set_tunnel("api.openai.com", 443)
        with pytest.raises(RuntimeError, match="real LLM provider: api.openai.com"):
            conn.request("POST", "/v1/chat/completions", body=b"{}")
        conn.close()
    finally:
        proxy.close()
    assert no_real_provider == ["api.openai.com"]
    no_real_provider.clear()  # the refusal was the point of this test; do not fail it at teardown
