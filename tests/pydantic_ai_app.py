"""Two pydantic-ai agent runs with pydantic-ai's own instrumentation on, as the OpenTelemetry SDK
records them, serialised by the SDK's OTLP encoder into an OTLP/JSON export request.

The model is pydantic-ai's `FunctionModel` following a script: `weather_agent` calls `get_weather`
(which answers) and `refund_order` (which raises `ModelRetry`), then answers; `lookup_agent` calls
`lookup_user`, which raises, and the run fails with it.

`export_request(version)` runs both with instrumentation format `version` (2 to 6 in pydantic-ai 2).
Run as a script under pydantic-ai 1.0, which still writes format version 1, it prints that request:
that is how `tests/data/pydantic_ai_v1_otlp.json` was recorded
(`pip install pydantic-ai-slim==1.0.0 "opentelemetry-sdk<1.38" "opentelemetry-exporter-otlp-proto-common<1.38"`,
then `python tests/pydantic_ai_app.py 1 > tests/data/pydantic_ai_v1_otlp.json`).
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings

SERVICE = "weather-bot"
MODEL = "scripted-weather"
INSTRUCTIONS = "You are a weather bot."
PROMPT = "Weather in Lisbon? And refund order A-1."
ANSWER = "It is sunny in Lisbon, 24°C. The refund failed."
WEATHER_CALL = ToolCallPart("get_weather", '{"city": "Lisbon"}', tool_call_id="call_w")
REFUND_CALL = ToolCallPart("refund_order", '{"order_id":"A-1"}', tool_call_id="call_r")
FORECAST = {"forecast": "sunny", "high_c": 24}
REFUND_RETRY = "refund window closed for order A-1"
LOOKUP_PROMPT = "Who is u1?"
LOOKUP_CALL = ToolCallPart("lookup_user", '{"user_id":"u1"}', tool_call_id="call_u")
LOOKUP_ERROR = "user service unavailable"


def _weather_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if not any(isinstance(m, ModelResponse) for m in messages):
        return ModelResponse(parts=[WEATHER_CALL, REFUND_CALL])
    return ModelResponse(parts=[TextPart(ANSWER)])


def _lookup_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[LOOKUP_CALL])


def _agent(model: FunctionModel, name: str, settings: InstrumentationSettings, **options: Any) -> Agent:
    try:  # pydantic-ai 2: instrumentation is a capability
        from pydantic_ai.capabilities.instrumentation import Instrumentation
    except ImportError:  # pydantic-ai 1
        return Agent(model, name=name, instrument=settings, **options)
    return Agent(model, name=name, capabilities=[Instrumentation(settings=settings)], **options)


def export_request(version: int) -> dict[str, Any]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # formats 2 to 4 are deprecated
        extra = {"event_mode": "attributes"} if version == 1 else {}
        settings = InstrumentationSettings(tracer_provider=provider, version=version, **extra)  # type: ignore[arg-type]

    weather = _agent(
        FunctionModel(_weather_model, model_name=MODEL), "weather_agent", settings, instructions=INSTRUCTIONS, retries=1
    )

    @weather.tool_plain
    def get_weather(city: str) -> dict[str, Any]:
        return {"city": city, **FORECAST}

    @weather.tool_plain
    def refund_order(order_id: str) -> str:
        raise ModelRetry(REFUND_RETRY)

    lookup = _agent(FunctionModel(_lookup_model, model_name=MODEL), "lookup_agent", settings)

    @lookup.tool_plain
    def lookup_user(user_id: str) -> str:
        raise RuntimeError(LOOKUP_ERROR)

    weather.run_sync(PROMPT)
    try:
        lookup.run_sync(LOOKUP_PROMPT)
    except RuntimeError:
        pass
    return MessageToDict(encode_spans(exporter.get_finished_spans()))


if __name__ == "__main__":
    json.dump(export_request(int(sys.argv[1])), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
