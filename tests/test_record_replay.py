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
