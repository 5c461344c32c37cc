"""Record/replay of provider HTTP traffic: the committed cassettes (recorded by
tests/record_cassettes.py against the local fake server) replay with no server and no key,
an unrecorded request fails with a clear message, and secrets never reach a cassette."""

from __future__ import annotations

import fake_llm_server as fake
import httpx2
import pytest
import yaml
from record_cassettes import CASSETTE_SCENARIOS, CASSETTES, Scenario, run_scenario

from investigator.providers import ModelConfig, ProviderError, generate
from investigator.providers.base import BREAKER
from investigator.providers.recording import recording

ALL_SCENARIOS = [(cassette, s) for cassette, scenarios in CASSETTE_SCENARIOS.items() for s in scenarios]


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch):
    """No base URL and no key: a replayed call addresses the real provider hosts, which only works
    because nothing leaves the process (the conftest guard would fail the test otherwise)."""
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    BREAKER.reset()
    yield
    BREAKER.reset()


def _check(scenario: Scenario, output) -> None:
    expect = scenario.expect
    if "tool" in expect:
        [call] = output.tool_calls
        assert (call.name, call.arguments) == (expect["tool"], expect["arguments"])
    if "text_starts" in expect:
        assert output.text.startswith(expect["text_starts"])
    assert (output.tokens_in, output.tokens_out, output.cached_tokens) == (
        expect["tokens_in"],
        expect["tokens_out"],
        expect["cached_tokens"],
    )


def test_recorded_cassettes_replay_with_no_server_and_no_key():
    for cassette, scenarios in CASSETTE_SCENARIOS.items():
        with recording("replay", CASSETTES, name=cassette):
            for scenario in scenarios:
                slept: list[float] = []
                output = run_scenario(scenario, sleep=slept.append)
                _check(scenario, output)
                assert slept == scenario.sleeps, scenario.name


def test_replay_is_order_independent_within_a_cassette():
    scenarios = CASSETTE_SCENARIOS["openai"]
    with recording("replay", CASSETTES, name="openai"):
        for scenario in reversed(scenarios):
            _check(scenario, run_scenario(scenario))


def test_unrecorded_request_fails_with_a_clear_message_and_is_not_retried(store):
    slept: list[float] = []
    with recording("replay", CASSETTES, name="openai"):
        with pytest.raises(ProviderError) as raised:
            generate(
                [{"role": "user", "content": "a question nobody recorded"}],
                [],
                ModelConfig(model="openai/gpt-4o-mini"),
                store=store,
                sleep=slept.append,
            )
    assert str(raised.value) == (
        f"request not in cassettes {CASSETTES}: POST https://api.openai.com/v1/chat/completions"
    )
    assert slept == []
    assert store.conn.execute("SELECT error FROM llm_calls").fetchall() == [(str(raised.value),)]


def test_replay_without_a_cassette_fails_before_any_call(tmp_path):
    with pytest.raises(ProviderError, match="no cassettes to replay"):
        with recording("replay", tmp_path):
            pass


def test_recording_drops_keys_from_headers_and_query(tmp_path, monkeypatch):
    with fake.FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-SECRET-openai-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-SECRET-anthropic-0123456789")
        server.script(
            fake.openai_completion(content="a"), fake.anthropic_message(text="b"), fake.openai_completion(content="c")
        )
        with recording("record", tmp_path):
            generate([{"role": "user", "content": "q"}], [], ModelConfig(model="openai/gpt-4o-mini"))
            generate([{"role": "user", "content": "q"}], [], ModelConfig(model="anthropic/claude-sonnet-4-6"))
            httpx2.post(
                f"{server.url}/openai/deployments/gpt-4o/chat/completions"
                "?api-version=2024-10-21&api-key=SECRET-query-key&access_token=SECRET-token",
                headers={"api-key": "SECRET-azure-key", "x-api-key": "SECRET-x-key"},
                json={},
            )
    text = (tmp_path / "llm.yaml").read_text()
    assert "SECRET" not in text
    assert "1b6a7c2e-5d4f" not in text  # the organisation id the fake Anthropic server sends
    interactions = yaml.safe_load(text)["interactions"]
    assert len(interactions) == 3
    assert interactions[2]["request"]["uri"].endswith("/chat/completions?api-version=2024-10-21")
    for interaction in interactions:
        headers = {h.lower() for h in interaction["request"]["headers"]}
        assert not headers & {"authorization", "x-api-key", "api-key"}


def test_record_then_replay_gives_the_same_output(tmp_path, monkeypatch):
    conversation = [{"role": "user", "content": "summarise span 00f067aa0ba902b7"}]
    config = ModelConfig(model="anthropic/claude-haiku-4-5", max_tokens=512)
    with fake.FakeLLMServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-test")
        server.script(
            fake.anthropic_rate_limited("4"),
            fake.anthropic_message(
                text="The tool call failed with a 404.",
                model="claude-haiku-4-5-20251001",
                input_tokens=900,
                output_tokens=12,
            ),
        )
        with recording("record", tmp_path, name="summaries"):
            recorded = generate(conversation, [], config, sleep=lambda s: None)
    monkeypatch.delenv("ANTHROPIC_BASE_URL")
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    slept: list[float] = []
    with recording("replay", tmp_path, name="summaries"):
        replayed = generate(conversation, [], config, sleep=slept.append)
    assert replayed == recorded
    assert replayed.text == "The tool call failed with a 404." and replayed.tokens_in == 900
    assert slept == [4.0]


def _chat(max_tokens: int, ids: tuple[str, str], dollars: str, question: str = "Why do refunds fail?") -> dict:
    return {
        "model": "qwen3", "max_tokens": max_tokens, "temperature": 0.2,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": question, "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": ids[0], "type": "function", "function": {"name": "search_spans", "arguments": "{}"}},
                {"id": ids[1], "type": "function", "function": {"name": "trace_outline", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": ids[0], "content": f"3 spans. Spent {dollars} of the budget."},
            {"role": "tool", "tool_call_id": ids[1], "content": "an outline"},
        ],
    }


def test_replay_matches_on_what_the_model_saw_not_on_limits_ids_or_prices(tmp_path):
    from vcr.errors import CannotOverwriteExistingCassetteException

    with fake.FakeLLMServer(enforce=False) as server:
        server.script(fake.openai_completion(content="recorded"))
        with recording("record", tmp_path):
            httpx2.post(f"{server.url}/v1/chat/completions", json=_chat(4096, ("call_a1", "call_b2"), "$0.0123"))
        url = f"{server.url}/v1/chat/completions"
    with recording("replay", tmp_path):
        # another output limit and sampling value, Ollama's fresh random ids, another price table
        again = _chat(12288, ("call_9f", "call_0c"), "$0.0456")
        again["temperature"] = 1.0
        again["messages"][0]["content"][0].pop("cache_control")
        assert httpx2.post(url, json=again).json()["choices"][0]["message"]["content"] == "recorded"
        with pytest.raises(CannotOverwriteExistingCassetteException):  # what the model saw differs
            httpx2.post(url, json=_chat(4096, ("call_a1", "call_b2"), "$0.0123", question="Why do logins fail?"))
        with pytest.raises(CannotOverwriteExistingCassetteException):  # the ids pair up differently
            httpx2.post(url, json=_chat(4096, ("call_a1", "call_a1"), "$0.0123"))


def test_credential_exchanges_are_never_recorded():
    from vcr.request import Request

    from investigator.providers.recording import scrub_request

    for uri in ("https://oauth2.googleapis.com/token", "https://sts.us-east-1.amazonaws.com/",
                "https://sts.amazonaws.com/?Action=AssumeRoleWithWebIdentity", "http://169.254.169.254/latest/api/token",
                "https://login.microsoftonline.com/tenant/oauth2/v2.0/token"):
        assert scrub_request(Request("POST", uri, b"grant_type=refresh_token&refresh_token=SECRET", {})) is None
    kept = scrub_request(Request("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse", b"{}", {}))
    assert kept is not None


def test_credentials_in_bodies_are_scrubbed_from_cassettes(tmp_path):
    with fake.FakeLLMServer(enforce=False) as server:
        server.script(
            fake.Reply(200, {"access_token": "ya29.SECRET-access", "expires_in": 3599, "token_type": "Bearer",
                             "id_token": "SECRET-id"}),
            fake.Reply(200, {"ok": True}),
        )
        with recording("record", tmp_path):
            httpx2.post(f"{server.url}/token", data={"grant_type": "refresh_token", "refresh_token": "SECRET-refresh",
                                                     "client_secret": "SECRET-client", "client_id": "123.apps"})
            httpx2.post(f"{server.url}/v1/messages", json={"model": "m", "max_tokens": 8, "api_key": "SECRET-inline"})
    text = (tmp_path / "llm.yaml").read_text()
    assert "SECRET" not in text
    assert "123.apps" in text and "max_tokens" in text  # only the credential fields are blanked


def test_a_warm_summary_cache_does_not_change_which_calls_a_recording_holds(store, tmp_path):
    from investigator.ingest.base import span_row
    from investigator.providers.scripted import ScriptedProvider, reply
    from investigator.summarizer import make_summarizer

    trace, span_id = "1f0e2d3c4b5a69788796a5b4c3d2e1f0", "3a9c0d71e5f2b846"
    store.write_batch([span_row(trace, span_id, name="kb_search", kind="retriever", status="ok",
                                source_format="openinference", start_time="2025-05-20T08:14:02.118000Z",
                                end_time="2025-05-20T08:14:02.540000Z", input="q", output="x" * 5000)])
    store.refresh_traces([trace])
    span = store.get_span(trace, span_id)
    store.save_summary(span.trace_id, span.span_id, "output", "scripted", "a summary from an earlier run")
    script = ScriptedProvider([reply("a summary made now")])
    summarize = make_summarizer(store, ModelConfig(model="scripted"), "run_1")

    assert "an earlier run" in summarize(span, "output", "x" * 5000)  # outside a recording: the cache answers
    with recording("record", tmp_path):
        assert "made now" in summarize(span, "output", "x" * 5000)  # recorded whatever the store holds
    assert len(script.calls) == 1
