"""The judge's loop against each provider's wire format, held to the providers' documented rules.

A real investigation (investigate_cluster over the demo store) talks over HTTP to the fake server,
through the native Anthropic SDK and through litellm's own request building for the anthropic,
openai, gemini, mistral, bedrock and ollama_chat routes. The fake server checks every request
against the SDKs' request types and the rules table in tests/fake_llm_server.py and answers 400
where the real service would; the script walks through what real models do that broke the judge
before: thinking blocks, a whitespace-only text block before a tool call, a turn that only calls
tools, a text-only reply (the nudge), and the budget warning right after tool results.
"""

from __future__ import annotations

import fake_llm_server as fake
import pytest

from investigator.judge.investigate import investigate_cluster
from investigator.judge.settings import JudgeSettings
from investigator.providers import missing_keys, register_provider, unregister_provider
from investigator.providers.base import BREAKER
from investigator.providers.litellm_provider import LiteLLMProvider
from investigator.runs import cluster_window

SUMMARY = {"summary": "Tool calls time out.", "priority": "high", "immediate_fix": "Raise the tool timeout."}


def _script(thinks: bool) -> list[fake.Turn]:
    def thought(text: str) -> str | None:
        return text if thinks else None

    return [
        fake.Turn(thinking=thought("Start with the overview."), text="\n\n", calls=[("cluster_overview", {})]),
        fake.Turn(thinking=thought("Look for the errors."), calls=[("search_spans", {"query": "error"})]),
        fake.Turn(thinking=thought("Enough to say something."), text="The errors look like timeouts."),
        fake.Turn(thinking=thought("Check the timeouts."), calls=[("search_spans", {"query": "timeout"})]),
        fake.Turn(thinking=thought("Submit."), calls=[("submit_summary", SUMMARY)]),
    ]


# (judge model, served by litellm even where a native provider exists, the model thinks)
ROUTES = {
    "anthropic-native": ("anthropic/claude-sonnet-5", False, True),
    "anthropic-native-4-6": ("anthropic/claude-sonnet-4-6", False, False),
    "anthropic": ("anthropic/claude-sonnet-5", True, True),
    "openai": ("openai/gpt-5", True, False),
    "openai-4o": ("openai/gpt-4o-mini", True, False),
    "gemini": ("gemini/gemini-3-flash-preview", True, True),
    "mistral": ("mistral/mistral-large-latest", True, False),
    "bedrock": ("bedrock/us.anthropic.claude-sonnet-4-6", True, False),
    "ollama": ("ollama/qwen3", True, True),
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    BREAKER.reset()
    with fake.FakeLLMServer() as srv:
        for name, value in {
            "OPENAI_BASE_URL": f"{srv.url}/v1", "OPENAI_API_KEY": "sk-proj-test",
            "ANTHROPIC_BASE_URL": srv.url, "ANTHROPIC_API_KEY": "sk-ant-test",
            "GEMINI_API_BASE": srv.url, "GEMINI_API_KEY": "gemini-test",
            "MISTRAL_API_BASE": f"{srv.url}/v1", "MISTRAL_API_KEY": "mistral-test",
            "AWS_BEDROCK_RUNTIME_ENDPOINT": srv.url, "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret", "AWS_REGION_NAME": "us-east-1",
            "OLLAMA_API_BASE": srv.url,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield srv
    BREAKER.reset()


@pytest.fixture
def cluster(demo_store):
    clusters, _, _ = cluster_window(demo_store, None, None)
    return max((c for c in clusters if not c.noise), key=lambda c: (c.size, c.id))


def _investigate(demo_store, cluster, model: str, via_litellm: bool):
    if via_litellm and model.startswith("anthropic/"):
        register_provider(model, LiteLLMProvider())
    try:
        return investigate_cluster(demo_store, cluster, JudgeSettings(model=model, max_turns=5, concurrency=1),
                                   "run_routes")
    finally:
        unregister_provider(model)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_judge_loop_sends_only_requests_the_provider_accepts(server, demo_store, cluster, route):
    model, via_litellm, thinks = ROUTES[route]
    server.script(*_script(thinks))

    result = _investigate(demo_store, cluster, model, via_litellm)

    assert server.violations == []
    assert result.error is None and result.stopped_by == "summary", result.error
    chats = [r for r in server.received if r.path != "/api/show"]
    assert len(chats) == 5
    kinds = {fake.dialect(r.path, r.body) for r in chats}
    assert len(kinds) == 1 and None not in kinds


def _assistant_turns(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m["role"] == "assistant"]


@pytest.mark.parametrize("via_litellm", [False, True], ids=["native", "litellm"])
def test_a_thinking_claude_gets_its_assistant_turns_back_exactly_as_sent(server, demo_store, cluster, via_litellm):
    server.script(*_script(thinks=True))
    _investigate(demo_store, cluster, "anthropic/claude-sonnet-5", via_litellm)

    second = server.received[1].body
    [first_turn] = _assistant_turns(second)
    assert [b["type"] for b in first_turn["content"]] == ["thinking", "tool_use"]  # "\n\n" dropped, order kept
    assert first_turn["content"][0] == {"type": "thinking", "thinking": "Start with the overview.",
                                        "signature": fake.sign("Start with the overview.")}
    assert second["max_tokens"] >= 4096 + fake.FAKE_THINKING_TOKENS  # room to think, then answer
    assert server.violations == []


def test_gemini_gets_its_thought_signatures_back(server, demo_store, cluster):
    server.script(*_script(thinks=True))
    _investigate(demo_store, cluster, "gemini/gemini-3-flash-preview", True)

    parts = [p for c in server.received[1].body["contents"] if c["role"] == "model" for p in c["parts"]]
    calls = [p for p in parts if "function_call" in p or "functionCall" in p]
    assert calls and all(p["thoughtSignature"] == fake.sign(fake.json.dumps(["cluster_overview", {}]))
                         for p in calls)
    assert not any(p.get("text") == "" for p in parts)


def test_mistral_gets_the_budget_warning_inside_the_last_tool_result(server, demo_store, cluster):
    server.script(*_script(thinks=False))
    _investigate(demo_store, cluster, "mistral/mistral-large-latest", True)

    last = server.received[4].body["messages"]
    assert last[-1]["role"] == "tool" and "Submit your findings and scores now" in last[-1]["content"]


def test_no_sampling_parameter_is_sent_unless_the_user_sets_one(server, demo_store, cluster):
    server.script(*_script(thinks=False))
    _investigate(demo_store, cluster, "openai/gpt-5", True)

    assert not any({"temperature", "top_p"} & set(r.body) for r in server.received)
    assert all("max_completion_tokens" in r.body and "max_tokens" not in r.body for r in server.received)


def test_a_user_temperature_is_sent_to_a_model_that_takes_one(server):
    from investigator.providers import ModelConfig, generate

    server.script(fake.Turn(text="ok"))
    generate([{"role": "user", "content": "q"}], [], ModelConfig(model="openai/gpt-4o-mini", temperature=0.2))
    assert server.received[0].body["temperature"] == 0.2


def test_claude_on_bedrock_gets_cache_points(server, demo_store, cluster):
    server.script(*_script(thinks=False))
    _investigate(demo_store, cluster, "bedrock/us.anthropic.claude-sonnet-4-6", True)

    for request in server.received:
        assert 1 <= fake._bedrock_cache_points(request.body) <= 4


def test_ollama_is_reached_through_its_chat_endpoint(server, demo_store, cluster):
    server.script(*_script(thinks=True))
    _investigate(demo_store, cluster, "ollama/qwen3", True)

    chats = [r for r in server.received if r.path != "/api/show"]
    assert {r.path for r in chats} == {"/api/chat"}
    assert chats[1].body["tools"]  # /api/generate would have flattened them into the prompt


def test_a_local_openai_compatible_server_needs_no_key(server, monkeypatch):
    from investigator.providers import ModelConfig, generate

    monkeypatch.delenv("OPENAI_API_KEY")
    assert missing_keys("openai/qwen2.5-7b-instruct") == []  # OPENAI_BASE_URL is a loopback address
    assert missing_keys("hosted_vllm/meta-llama/Llama-3.1-8B-Instruct") == []
    assert missing_keys("ollama/qwen3") == []
    server.script(fake.Turn(text="hello from vLLM"))
    out = generate([{"role": "user", "content": "q"}], [], ModelConfig(model="openai/qwen2.5-7b-instruct"))
    assert out.text == "hello from vLLM"
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.example.com/v1")
    assert missing_keys("openai/gpt-4o-mini") == ["OPENAI_API_KEY"]  # a remote server still needs its key


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-5", "openai/gpt-4o-mini"])
def test_a_refusal_is_read_and_ends_the_investigation(server, demo_store, cluster, model):
    server.script(fake.Turn(text="I can't help with that.", stop="refusal", refusal="I can't help with that."))
    result = _investigate(demo_store, cluster, model, False)

    assert result.stopped_by == "refusal" and result.turns == 1


def test_a_tool_call_cut_off_at_max_tokens_is_not_run(server, demo_store, cluster):
    server.script(
        fake.Turn(thinking="Submit.", calls=[("submit_summary", {"summary": "Tool calls ti"})], stop="max_tokens"),
        *_script(thinks=True)[-1:],
    )
    result = _investigate(demo_store, cluster, "anthropic/claude-sonnet-5", False)

    assert result.summary == SUMMARY and server.violations == []
    assert not _assistant_turns(server.received[1].body)  # the cut-off turn was not sent back either


def test_a_full_context_window_ends_the_investigation_on_the_token_budget(server, demo_store, cluster):
    server.script(fake.Turn(text="", stop="model_context_window_exceeded"))
    result = _investigate(demo_store, cluster, "anthropic/claude-sonnet-5", False)

    assert result.stopped_by == "tokens" and result.error is None


def test_a_cache_mark_never_lands_on_a_thinking_block():
    from investigator.providers.anthropic_provider import mark_cache

    messages = [
        {"role": "user", "content": [{"type": "text", "text": "x" * 8000}]},
        {"role": "assistant", "content": [{"type": "text", "text": "y" * 8000},
                                          {"type": "thinking", "thinking": "t", "signature": "s"}]},
    ]
    assert mark_cache([], [], messages, 1, 1024) == 2
    assert "cache_control" not in messages[1]["content"][1]
    assert "cache_control" in messages[1]["content"][0]
