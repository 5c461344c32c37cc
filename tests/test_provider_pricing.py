"""What a call costs when litellm's price table does not know the model: said before the run, and
a price the user configures (`--price`, `$INVESTIGATOR_PRICES`) is used; the user's temperature
reaches the model, and none is sent otherwise."""

from __future__ import annotations

import fake_llm_server as fake
import pytest
from click.testing import CliRunner

from investigator.cli import main as cli
from investigator.providers import ModelConfig, generate
from investigator.providers.pricing import Price, configured, parse_price, price_of, unpriced_warning

ASK = [{"role": "user", "content": "q"}]


def test_a_price_is_read_in_dollars_per_million_tokens():
    assert parse_price("openai/my-model=0.5,1.5") == ("openai/my-model", Price(0.5e-6, 1.5e-6))
    price = parse_price("m=1,2,0.1,1.25")[1]
    expected = [1e-6, 2e-6, 1e-7, 1.25e-6]
    assert [price.input, price.output, price.cache_read, price.cache_write] == pytest.approx(expected)
    for bad in ("m=1", "m=a,b", "=1,2", "m=-1,2"):
        with pytest.raises(ValueError):
            parse_price(bad)


@pytest.mark.parametrize("model", ["openai/my-finetune-7b", "anthropic/claude-internal-preview"])
def test_an_unknown_model_is_unpriced_until_a_price_is_configured(server, model):
    server.script(fake.Turn(text="ok", input_tokens=2000, output_tokens=100))
    out = generate(ASK, [], ModelConfig(model=model))
    assert (out.priced, out.cost_usd) == (False, 0.0)
    assert "--budget-usd cannot stop them" in unpriced_warning(model)

    server.script(fake.Turn(text="ok", input_tokens=2000, output_tokens=100))
    with configured(prices={model: Price(1e-6, 4e-6)}):
        assert unpriced_warning(model) is None
        out = generate(ASK, [], ModelConfig(model=model))
    assert out.priced and out.cost_usd == pytest.approx(2000 * 1e-6 + 100 * 4e-6)


def test_prices_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("INVESTIGATOR_PRICES", "openai/a=1,2; openai/b=3,4")
    assert price_of("openai/b") == Price(3e-6, 4e-6)
    assert price_of("openai/gpt-4o-mini").input == pytest.approx(0.15e-6)  # litellm's table still answers


def test_the_run_command_says_when_the_dollar_budget_cannot_bound_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-test")
    args = ["run", "--db", str(tmp_path / "s.db"), "--model", "openai/my-finetune-7b", "--replay", str(tmp_path)]
    unpriced = CliRunner().invoke(cli, args)
    assert "no price is known for openai/my-finetune-7b" in unpriced.output
    priced = CliRunner().invoke(cli, args + ["--price", "openai/my-finetune-7b=0.2,0.6"])
    assert "no price is known" not in priced.output
    broken = CliRunner().invoke(cli, args + ["--price", "openai/my-finetune-7b=cheap"])
    assert broken.exit_code == 2 and "expected MODEL=IN,OUT" in broken.output


def test_the_users_temperature_reaches_the_judge_and_none_is_sent_otherwise(demo_store):
    from investigator.judge.investigate import investigate_cluster
    from investigator.judge.settings import JudgeSettings
    from investigator.providers.scripted import ScriptedProvider, call
    from investigator.runs import cluster_window

    clusters, _, _ = cluster_window(demo_store, None, None)
    cluster = next(c for c in clusters if not c.noise)
    summary = {"summary": "s", "priority": "low", "immediate_fix": "f"}
    script = ScriptedProvider([call("submit_summary", summary)])
    investigate_cluster(demo_store, cluster, JudgeSettings(model="scripted"), "run_t0")
    assert script.calls[0]["config"].temperature is None
    script = ScriptedProvider([call("submit_summary", summary)])
    with configured(temperature=0.3):
        investigate_cluster(demo_store, cluster, JudgeSettings(model="scripted"), "run_t1")
    assert script.calls[0]["config"].temperature == 0.3


def test_the_native_anthropic_provider_refuses_a_temperature_rather_than_drop_it(server):
    from investigator.providers import ProviderError

    with pytest.raises(ProviderError, match="takes no temperature"):
        generate(ASK, [], ModelConfig(model="anthropic/claude-sonnet-4-6", temperature=0.0))
    assert server.received == []
