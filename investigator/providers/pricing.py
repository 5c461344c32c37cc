"""What a model call costs, and the model options a user sets for a run.

Prices come first from what the user configured (`--price MODEL=IN,OUT` or `$INVESTIGATOR_PRICES`,
dollars per million tokens), then from litellm's bundled price table (never fetched). A model in
neither is *unpriced*: its calls cost an unknown amount, so a dollar budget cannot bound them; the
CLI says so before the run starts and the call log records the cost as 0.

Sampling parameters are sent only when the user sets them (`--temperature` or
`$INVESTIGATOR_TEMPERATURE`): reasoning models (gpt-5*, o3*, o4*, Claude ≥ 4.7) reject any value.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PRICES_ENV = "INVESTIGATOR_PRICES"
TEMPERATURE_ENV = "INVESTIGATOR_TEMPERATURE"


@dataclass(frozen=True)
class Price:
    """Dollars per token. Cache reads and writes default to the input price when not given."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
        """The cost of one call; `input_tokens` excludes the cached ones."""
        read = self.input if self.cache_read is None else self.cache_read
        write = self.input if self.cache_write is None else self.cache_write
        return round(input_tokens * self.input + output_tokens * self.output + cache_read * read
                     + cache_write * write, 8)


def parse_price(text: str) -> tuple[str, Price]:
    """`MODEL=IN,OUT[,CACHE_READ[,CACHE_WRITE]]` in dollars per million tokens → (model, Price)."""
    model, sep, numbers = text.partition("=")
    parts = [p.strip() for p in numbers.split(",")]
    if not sep or not model.strip() or not 2 <= len(parts) <= 4:
        raise ValueError(
            f"price {text!r}: expected MODEL=IN,OUT[,CACHE_READ[,CACHE_WRITE]] (dollars per million tokens)"
        )
    try:
        values = [float(p) / 1e6 for p in parts]
    except ValueError:
        raise ValueError(f"price {text!r}: the prices must be numbers (dollars per million tokens)") from None
    if any(v < 0 for v in values):
        raise ValueError(f"price {text!r}: prices cannot be negative")
    values += [None] * (4 - len(values))
    return model.strip(), Price(*values)


@dataclass
class ModelOptions:
    """What the user chose for this process's model calls, on top of the defaults."""

    temperature: float | None = None
    prices: dict[str, Price] = field(default_factory=dict)


_override: ModelOptions | None = None
_lock = threading.Lock()


def _from_env() -> ModelOptions:
    options = ModelOptions()
    raw = os.environ.get(TEMPERATURE_ENV, "").strip()
    if raw:
        try:
            options.temperature = float(raw)
        except ValueError:
            raise ValueError(f"${TEMPERATURE_ENV} must be a number, not {raw!r}") from None
    for item in filter(None, (p.strip() for p in os.environ.get(PRICES_ENV, "").split(";"))):
        model, price = parse_price(item)
        options.prices[model] = price
    return options


def model_options() -> ModelOptions:
    """The options in force: those of `configured(...)` when one is open, else the environment's."""
    with _lock:
        if _override is not None:
            return _override
    return _from_env()


@contextmanager
def configured(temperature: float | None = None, prices: dict[str, Price] | None = None) -> Iterator[ModelOptions]:
    """Use these options (over the environment's) until the block ends; the CLI opens one per run."""
    global _override
    base = _from_env()
    options = ModelOptions(
        temperature=base.temperature if temperature is None else temperature,
        prices={**base.prices, **(prices or {})},
    )
    with _lock:
        previous, _override = _override, options
    try:
        yield options
    finally:
        with _lock:
            _override = previous


def _litellm_table() -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:  # pragma: no cover - litellm is a dependency
        return {}
    return litellm.model_cost


def model_info(model: str) -> dict[str, Any]:
    """litellm's table entry for `model` ("provider/name"), tried with and without the prefix."""
    table = _litellm_table()
    name = model.split("/", 1)[1] if "/" in model else model
    for key in (model, name, name.split("/", 1)[-1]):
        entry = table.get(key)
        if entry:
            return entry
    return {}


def configured_price(model: str) -> Price | None:
    prices = model_options().prices
    name = model.split("/", 1)[1] if "/" in model else model
    return prices.get(model) or prices.get(name)


def price_of(model: str) -> Price | None:
    """The price of `model`: the configured one, else litellm's; None when neither knows it."""
    configured_one = configured_price(model)
    if configured_one is not None:
        return configured_one
    info = model_info(model)
    if not info or info.get("input_cost_per_token") is None or info.get("output_cost_per_token") is None:
        return None
    return Price(
        input=float(info["input_cost_per_token"]),
        output=float(info["output_cost_per_token"]),
        cache_read=info.get("cache_read_input_token_cost"),
        cache_write=info.get("cache_creation_input_token_cost"),
    )


def unpriced_warning(model: str) -> str | None:
    """What to tell the user when `model` has no price (offline and scripted models cost nothing)."""
    if model in ("offline", "scripted") or "/" not in model or price_of(model) is not None:
        return None
    return (f"no price is known for {model}: its calls are logged at $0 and --budget-usd cannot stop them;"
            f" set one with --price {model}=IN,OUT (dollars per million input and output tokens)")
