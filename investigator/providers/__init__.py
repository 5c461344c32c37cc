"""Model providers, registered by name and imported lazily.

`get_provider(model)` maps a model name to a backend:

- "offline"         → the deterministic offline investigator (investigator.judge.offline)
- "scripted"        → a queue of canned outputs for tests (providers.scripted)
- "anthropic/<m>"   → the native Anthropic SDK, with prompt caching (providers.anthropic_provider)
- anything else     → litellm, which speaks to every other provider (providers.litellm_provider);
                      `ollama/<m>` is served as `ollama_chat/<m>` (the chat endpoint, with tools)

Prices and the user's sampling options live in providers.pricing.

Backends are imported only when first asked for, so the offline mode never loads an SDK.
"""

from __future__ import annotations

import importlib
import os
import threading

from investigator.providers.base import (
    BREAKER,
    CallLog,
    CircuitBreaker,
    Message,
    ModelConfig,
    ModelOutput,
    Provider,
    ProviderError,
    ToolCall,
    ToolSpec,
    TransientProviderError,
    generate,
)

__all__ = [
    "BREAKER", "CallLog", "CircuitBreaker", "Message", "ModelConfig", "ModelOutput", "Provider",
    "ProviderError", "ToolCall", "ToolSpec", "TransientProviderError", "generate", "get_provider",
    "register_provider", "unregister_provider", "missing_keys",
]

_registered: dict[str, Provider] = {}
_cache: dict[str, Provider] = {}
_lock = threading.Lock()


def register_provider(name: str, provider: Provider) -> None:
    """Make `provider` answer for model name `name` (exact match), ahead of the built-in ones."""
    with _lock:
        _registered[name] = provider


def unregister_provider(name: str) -> None:
    with _lock:
        _registered.pop(name, None)


def _load(model: str) -> Provider:
    if model == "offline":
        module = importlib.import_module("investigator.judge.offline")
        return module.OfflineProvider()
    if model == "scripted":
        from investigator.providers import scripted

        return scripted.active()
    if "/" not in model or not model.split("/", 1)[1]:
        raise ProviderError(
            f"unknown model {model!r}: use 'provider/model' (e.g. 'openai/gpt-4o-mini', "
            "'anthropic/claude-sonnet-4-5'), or 'offline'"
        )
    if model.startswith("anthropic/"):
        from investigator.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider()
    from investigator.providers.litellm_provider import LiteLLMProvider

    return LiteLLMProvider()


def get_provider(model: str) -> Provider:
    """The provider that serves `model`. SDK-backed providers are created once and reused;
    the scripted provider is looked up on every call so each test gets its own script."""
    with _lock:
        if model in _registered:
            return _registered[model]
        if model in _cache:
            return _cache[model]
    provider = _load(model)
    if model != "scripted":
        with _lock:
            _cache.setdefault(model, provider)
    return provider


def missing_keys(model: str) -> list[str]:
    """The API-key environment variables the provider of `model` needs and that are not set, so a
    run can refuse to start instead of retrying calls that cannot succeed."""
    if model in ("offline", "scripted") or "/" not in model:
        return []
    if model.startswith("anthropic/"):
        return [] if os.environ.get("ANTHROPIC_API_KEY") else ["ANTHROPIC_API_KEY"]
    from investigator.providers.litellm_provider import needs_no_key, route_model

    if needs_no_key(model):  # Ollama, vLLM, llama.cpp … on this machine or network: no key to ask for
        return []
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    missing = litellm.validate_environment(route_model(model)).get("missing_keys") or []
    return [name for name in missing if name.endswith("_KEY")]  # a base URL usually has a default
