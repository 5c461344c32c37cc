// One refund-agent run recorded by the real OpenTelemetry JS SDK, for tests/test_ingest_otel_js.py.
//
// Usage: node record.cjs 1|2 OUT_DIR   (the SDK's major version: 1.x or 2.x)
//
// The SDK's ConsoleSpanExporter prints each finished span to stdout (after one line of the app's own
// log). OUT_DIR/spans.json is the InMemorySpanExporter's finished spans as JSON.stringify writes them
// (dropping only `_spanProcessor`, the back-reference that makes them circular); OUT_DIR/readable.json
// is each span through the ReadableSpan interface (`spanContext()`, `parentSpanContext` or
// `parentSpanId`, HrTime times, `resource.attributes`).
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const api = require("@opentelemetry/api");

const [major, outDir] = process.argv.slice(2);
const sdk = major === "1" ? require("otel-sdk-trace-base-v1") : require("@opentelemetry/sdk-trace-base");
const resources = major === "1" ? require("otel-resources-v1") : require("@opentelemetry/resources");

const RESOURCE = {
  "service.name": "refund-agent-js",
  "service.version": "4.2.0",
  "deployment.environment.name": "staging",
};
const QUESTION = "I was charged twice for order A-10023, please refund one charge.";
const CALL = { id: "call_7Kq2ZxR1", name: "issue_refund", arguments: '{"charge_id":"ch_3PxK2M4bR7","amount":49.0}' };
const REFUND_ERROR = "402 Payment Required: refund window closed for charge ch_3PxK2M4bR7";
const SYSTEM = "You are a refund agent. " + "Follow the refund policy exactly. ".repeat(400); // longer than console.dir prints
const ANSWER = `Sorry, I couldn't refund "ch_3PxK2M4bR7": the refund window has closed.`; // printed in backticks

const memory = new sdk.InMemorySpanExporter();
const processors = [new sdk.SimpleSpanProcessor(memory), new sdk.SimpleSpanProcessor(new sdk.ConsoleSpanExporter())];
let provider;
if (major === "1") {
  provider = new sdk.BasicTracerProvider({ resource: new resources.Resource(RESOURCE) });
  processors.forEach((p) => provider.addSpanProcessor(p));
} else {
  provider = new sdk.BasicTracerProvider({ resource: resources.resourceFromAttributes(RESOURCE), spanProcessors: processors });
}
const tracer = provider.getTracer("refund.agent", "1.4.0");

console.log("refund agent ready on port 8080");

const agent = tracer.startSpan("RefundAgent", {
  attributes: {
    "openinference.span.kind": "AGENT",
    "agent.name": "RefundAgent",
    "session.id": "sess_js_41",
    "input.value": QUESTION,
  },
});
const inAgent = api.trace.setSpan(api.context.active(), agent);

const plan = tracer.startSpan("ChatCompletion", {
  kind: api.SpanKind.CLIENT,
  attributes: {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": SYSTEM,
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": QUESTION,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": CALL.id,
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": CALL.name,
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": CALL.arguments,
    "llm.token_count.prompt": 3412,
    "llm.token_count.completion": 31,
  },
}, inAgent);
plan.setStatus({ code: api.SpanStatusCode.OK });
plan.end();

const tool = tracer.startSpan("issue_refund", {
  attributes: { "openinference.span.kind": "TOOL", "tool.name": CALL.name, "input.value": CALL.arguments },
}, inAgent);
const error = new Error(REFUND_ERROR);
error.name = "PaymentGatewayError";
tool.recordException(error);
tool.setStatus({ code: api.SpanStatusCode.ERROR, message: `${error.name}: ${REFUND_ERROR}` });
tool.end();

const answer = tracer.startSpan("ChatCompletion", {
  kind: api.SpanKind.CLIENT,
  attributes: {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.input_messages.0.message.role": "user",
    "llm.input_messages.0.message.content": QUESTION,
    "llm.input_messages.1.message.role": "tool",
    "llm.input_messages.1.message.tool_call_id": CALL.id,
    "llm.input_messages.1.message.content": `${error.name}: ${REFUND_ERROR}`,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": ANSWER,
  },
}, inAgent);
answer.end();
agent.end();

const spans = memory.getFinishedSpans();
const readable = spans.map((s) => ({
  name: s.name,
  kind: s.kind,
  spanContext: s.spanContext(),
  parentSpanContext: s.parentSpanContext,
  parentSpanId: s.parentSpanId,
  startTime: s.startTime,
  endTime: s.endTime,
  status: s.status,
  attributes: s.attributes,
  events: s.events,
  links: s.links,
  resource: { attributes: s.resource.attributes },
  instrumentationScope: s.instrumentationScope ?? s.instrumentationLibrary,
}));
fs.writeFileSync(path.join(outDir, "spans.json"), JSON.stringify(spans, (k, v) => (k === "_spanProcessor" ? undefined : v)));
fs.writeFileSync(path.join(outDir, "readable.json"), JSON.stringify(readable, null, 2));
