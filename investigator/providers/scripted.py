"""A provider that plays back a script: the model for unit tests of anything that calls models.

A test builds `ScriptedProvider([...])` with the outputs the "model" should give, in order, and
calls with `ModelConfig(model="scripted")`. The most recently created script is the one that
answers, so the code under test needs no handle on it. A script step may be a ModelOutput, an
exception to raise (to exercise retries and error paths), or a callable that computes the output
from the conversation. Running past the end of the script raises, so a loop that calls the model
more often than the test expects fails loudly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from investigator.providers.base import Message, ModelConfig, ModelOutput, ProviderError, ToolCall, ToolSpec

Step = ModelOutput | BaseException | Callable[[list[Message], list[ToolSpec], ModelConfig], ModelOutput]

_active: ScriptedProvider | None = None
_active_lock = threading.Lock()


class ScriptExhausted(ProviderError):
    """The code under test called the model more times than the script has steps."""


class ScriptedProvider:
    """Returns the queued steps one per call and remembers every call it received."""

    name = "scripted"

    def __init__(self, steps: Iterable[Step] = (), *, activate: bool = True) -> None:
        self.steps: list[Step] = list(steps)
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if activate:
            self.activate()

    def activate(self) -> ScriptedProvider:
        """Make this script the one that answers model "scripted"."""
        global _active
        with _active_lock:
            _active = self
        return self

    def add(self, *steps: Step) -> ScriptedProvider:
        with self._lock:
            self.steps.extend(steps)
        return self

    @property
    def remaining(self) -> int:
        return len(self.steps)

    def generate(self, messages: list[Message], tools: list[ToolSpec], config: ModelConfig) -> ModelOutput:
        with self._lock:
            self.calls.append({"messages": [dict(m) for m in messages], "tools": list(tools), "config": config})
            if not self.steps:
                raise ScriptExhausted(
                    f"scripted model called {len(self.calls)} times but the script has only "
                    f"{len(self.calls) - 1} steps"
                )
            step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, ModelOutput):
            return step
        return step(messages, tools, config)


def active() -> ScriptedProvider:
    """The script that answers model "scripted"; an empty one (which raises when called) if no
    test has set one."""
    global _active
    with _active_lock:
        if _active is None:
            _active = ScriptedProvider(activate=False)
        return _active


def reply(text: str, *, tokens_in: int = 10, tokens_out: int = 5, cost_usd: float = 0.0) -> ModelOutput:
    """A scripted plain-text answer."""
    return ModelOutput(text=text, tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd,
                       model="scripted", stop_reason="stop")


def call(name: str, arguments: dict[str, Any] | None = None, *, call_id: str | None = None,
         tokens_in: int = 10, tokens_out: int = 5, cost_usd: float = 0.0) -> ModelOutput:
    """A scripted answer that calls one tool."""
    return ModelOutput(
        tool_calls=[ToolCall(id=call_id or f"call_{name}", name=name, arguments=arguments or {})],
        tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd, model="scripted",
        stop_reason="tool_calls",
    )
