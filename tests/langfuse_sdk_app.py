"""An agent app instrumented with the real Langfuse Python SDK, run by the Langfuse tests as a program of
its own: `python langfuse_sdk_app.py LANGFUSE_URL MODEL_URL`.

It talks only to the two loopback servers it is given: a stand-in Langfuse host that keeps what the
SDK exports (OTLP to `/api/public/otel/v1/traces`), and a scripted model server answering the OpenAI
and Anthropic clients. It runs apart from the test process because `langfuse.openai` patches the
OpenAI client for the whole process and the SDK installs the global OpenTelemetry tracer provider.

Each trace is one way people record agents with Langfuse:
- `support-agent`: `@observe` agent, `langfuse.openai` chat completion that calls a tool, `@observe`
  tools (one returns, one raises), a warning guardrail, and trace attributes via `propagate_attributes`;
- `anthropic-agent`: a generation recording an Anthropic answer's content blocks (`tool_use`), then a
  tool whose `with` block raises;
- `genai-parts-agent`: generations whose messages are OTel GenAI `parts`, and the tool between them;
- `LangGraph`: a LangGraph ReAct agent traced by the LangChain `CallbackHandler`;
- `relay-tool-call`: an `@observe` span returning the `ToolMessage` of the LangChain tool it invoked.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from typing import Any


def _loopback_only() -> None:
    """Refuse any connection off this machine, as the test suite does in its own process."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] != "localhost":
            if not ipaddress.ip_address(address[0]).is_loopback:
                raise RuntimeError(f"langfuse_sdk_app tried to reach the network: {address!r}")
        real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]


LOOKUP_ORDER = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up an order by id.",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    },
}
QUESTION = "My headphones from order A-1001 arrived broken. Can I get a refund?"


def main(langfuse_url: str, model_url: str) -> None:
    _loopback_only()
    import anthropic
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langfuse import Langfuse, observe, propagate_attributes
    from langfuse.langchain import CallbackHandler
    from langfuse.openai import OpenAI
    from langgraph.prebuilt import create_react_agent

    langfuse = Langfuse(
        public_key="pk-lf-1234567890",
        secret_key="sk-lf-1234567890",
        base_url=langfuse_url,
        environment="production",
        release="2025.05.2",
    )
    openai_client = OpenAI(base_url=f"{model_url}/v1", api_key="sk-test", max_retries=0)
    anthropic_client = anthropic.Anthropic(base_url=model_url, api_key="sk-ant-test", max_retries=0)

    @observe(as_type="tool")
    def lookup_order(order_id: str) -> dict[str, Any]:
        return {"order_id": order_id, "status": "delivered", "total": 349.0, "currency": "USD"}

    @observe(as_type="tool")
    def issue_refund(order_id: str, amount: float) -> dict[str, Any]:
        raise PermissionError(f"refund of {amount:.2f} USD for {order_id} exceeds the auto-approval limit")

    @observe(as_type="agent", name="support-agent")
    def support_agent(question: str) -> str:
        with propagate_attributes(
            user_id="u_51720",
            session_id="sess_7f3a2b",
            tags=["refund", "support"],
            version="2.4.0",
            trace_name="support-chat",
            metadata={"channel": "web"},
        ):
            reply = openai_client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[
                    {"role": "system", "content": "You are a support agent."},
                    {"role": "user", "content": question},
                ],
                tools=[LOOKUP_ORDER],
            )
            call = reply.choices[0].message.tool_calls[0]
            order = lookup_order(**json.loads(call.function.arguments))
            try:
                issue_refund(order_id=order["order_id"], amount=order["total"])
            except PermissionError:
                pass
            with langfuse.start_as_current_observation(
                as_type="guardrail", name="refund-limit-check", input={"amount": order["total"]}
            ) as guard:
                guard.update(output={"allowed": False}, level="WARNING", status_message="escalated to a human")
            return "I've passed your refund request to our team."

    @observe(as_type="agent", name="anthropic-agent")
    def anthropic_agent(question: str) -> None:
        messages = [{"role": "user", "content": question}]
        with langfuse.start_as_current_observation(
            as_type="generation", name="claude-plan", model="claude-sonnet-4-6", input=messages
        ) as generation:
            answer = anthropic_client.messages.create(model="claude-sonnet-4-6", max_tokens=512, messages=messages)
            generation.update(
                output=answer.content,
                usage_details={"input": answer.usage.input_tokens, "output": answer.usage.output_tokens},
            )
        try:
            with langfuse.start_as_current_observation(
                as_type="tool", name="get_invoice", input={"order_id": "A-1001"}
            ):
                raise TimeoutError("invoice service did not answer within 5s")
        except TimeoutError:
            pass

    @observe(as_type="agent", name="genai-parts-agent")
    def parts_agent() -> None:
        system = {"role": "system", "parts": [{"type": "text", "content": "You answer weather questions."}]}
        user = {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
        asked = {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Checking the forecast."},
                {"type": "tool_call", "id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_call",
        }
        with langfuse.start_as_current_observation(
            as_type="generation", name="chat gpt-4o", model="gpt-4o", input=[system, user]
        ) as generation:
            generation.update(output=[asked])
        with langfuse.start_as_current_observation(
            as_type="tool", name="get_weather", input={"city": "Paris"}
        ) as weather:
            weather.update(output="18°C, sunny")
        answered = {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_w1", "response": "18°C, sunny"}],
        }
        with langfuse.start_as_current_observation(
            as_type="generation", name="chat gpt-4o", model="gpt-4o", input=[system, user, asked, answered]
        ) as generation:
            generation.update(output=[{"role": "assistant", "parts": [{"type": "text", "content": "18°C and sunny."}]}])

    @tool
    def find_customer(email: str) -> str:
        """Find a customer by email."""
        return json.dumps({"customer_id": "c_8812", "email": email})

    @tool
    def order_status(order_id: str) -> str:
        """The shipping status of an order."""
        return f"{order_id}: shipped, arriving Thursday"

    class ScriptedChatModel(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
            return self

    model = ScriptedChatModel(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[
                        {
                            "name": "find_customer",
                            "args": {"email": "dana@example.com"},
                            "id": "call_lc7",
                            "type": "tool_call",
                        },
                    ],
                ),
                AIMessage(content="I found your account, Dana."),
            ]
        )
    )
    graph = create_react_agent(model, [find_customer])
    graph.invoke({"messages": [HumanMessage("Find my account: dana@example.com")]}, {"callbacks": [CallbackHandler()]})

    @observe(name="relay-tool-call")
    def relay_tool_call(call: dict[str, Any]) -> Any:
        return order_status.invoke(call)

    support_agent(QUESTION)
    anthropic_agent(QUESTION)
    parts_agent()
    relay_tool_call({"name": "order_status", "args": {"order_id": "A-1002"}, "id": "call_lc9", "type": "tool_call"})
    langfuse.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
