"""The fake server's table of provider rules holds: every rule catches the request that breaks it
(so a loosened rule fails here), the server answers 400 in the provider's envelope for a "reject"
rule and records a "degrade" one, and requests are checked against the SDKs' request types."""

from __future__ import annotations

import fake_llm_server as fake
import httpx2
import pytest

PATHS = {
    "anthropic": "/v1/messages",
    "openai": "/v1/chat/completions",
    "mistral": "/v1/chat/completions",
    "gemini": "/v1beta/models/gemini-3-flash-preview:generateContent",
    "bedrock": "/model/us.anthropic.claude-sonnet-4-6/converse",
    "ollama": "/api/generate",
}


def test_rule_ids_are_unique_and_every_rule_has_a_provider_message():
    assert len(fake.RULES_BY_ID) == len(fake.RULES)
    assert all(rule.kind in ("reject", "degrade") and rule.message for rule in fake.RULES)
    assert {rule.dialect for rule in fake.RULES} == set(PATHS)


@pytest.mark.parametrize("rule", fake.RULES, ids=lambda r: r.id)
def test_each_rule_catches_the_request_that_breaks_it(rule):
    found = rule.check(rule.bad, fake.example_model(rule))
    assert found and all(rule.message in message or rule.message.lower() in message.lower() for message in found)


@pytest.mark.parametrize("rule", fake.RULES, ids=lambda r: r.id)
def test_the_server_answers_a_broken_rule_as_the_provider_would(rule):
    with fake.FakeLLMServer() as server:
        server.script(fake.Turn(text="accepted"))
        response = httpx2.post(server.url + PATHS[rule.dialect], json=rule.bad, timeout=10)
    assert rule.id in {v.rule for v in server.violations}
    if rule.kind == "reject":
        assert response.status_code == 400
        assert rule.message.lower() in response.text.lower()
    else:
        assert response.status_code == 200  # accepted: it only costs money or quality


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("anthropic", {"model": "claude-sonnet-4-6", "max_tokens": 10, "temperature": 0.0,
                       "messages": [{"role": "user", "content": "q"}]}, "body.temperature: unexpected field"),
        ("anthropic", {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q", "citations": None, "caller": {}}]}]},
         "body.messages.0.content.0.caller: unexpected field"),
        ("anthropic", {"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "q"}]},
         "body.max_tokens: required"),
        ("openai", {"model": "gpt-4o-mini", "messages": [
            {"role": "assistant", "content": None, "thinking_blocks": [],
             "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]},
         "body.messages.0.thinking_blocks: unexpected field"),
        ("openai", {"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}]},
         "body.messages.0.content.0.cache_control: unexpected field"),
    ],
)
def test_requests_are_checked_against_the_sdk_request_types(kind, body, error):
    assert error in fake.sdk_request_errors(kind, body)
    with fake.FakeLLMServer() as server:
        response = httpx2.post(server.url + PATHS[kind], json=body, timeout=10)
    assert response.status_code == 400 and error in response.text


def test_a_request_built_by_the_sdks_own_types_passes():
    anthropic_body = {
        "model": "claude-sonnet-5", "max_tokens": 16000,
        "system": [{"type": "text", "text": "s"}],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": fake.sign("t")},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]},
        ],
    }
    openai_body = {"model": "gpt-5", "max_completion_tokens": 100, "messages": [
        {"role": "system", "content": "s"}, {"role": "user", "content": "q"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r"}],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}]}
    assert fake.violations("/v1/messages", anthropic_body) == []
    assert fake.violations("/v1/chat/completions", openai_body) == []
