// Runs the real Vercel AI SDK (`ai`) with telemetry on against its own mock language model, and
// prints what the OpenTelemetry JS SDK recorded as OTLP/JSON export requests (the JS OTLP
// transformer's own JSON serializer), one per SDK variant: {"ai-4": request, "ai-6": ..., ...}.
//
// The script (argv[2], JSON) says what the mock model does: call `get_weather` (which answers) and
// `refund_order` (which throws), then answer. ai 4 ends the call when a tool throws, so there the
// failing tool runs in a second call of its own.
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';

const script = JSON.parse(process.argv[2]);
const [weatherCall, refundCall] = script.calls;
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

function recorder() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': script.service }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const request = () => JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(exporter.getFinishedSpans())));
  return { tracer: provider.getTracer('ai'), request };
}

const weather = async ({ city }) => ({ city, ...script.forecast });
const refund = async () => {
  throw new Error(script.refund_error);
};

// ai 4: LanguageModelV1, `maxSteps`, `parameters`, usage as promptTokens/completionTokens.
async function ai4() {
  const ai = await import('ai-v4');
  const { MockLanguageModelV1 } = await import('ai-v4/test');
  const { tracer, request } = recorder();
  const v1Call = (call) => ({ toolCallType: 'function', toolCallId: call.id, toolName: call.name, args: call.args });
  const usage = ([promptTokens, completionTokens]) => ({ promptTokens, completionTokens });
  const steps = [
    { toolCalls: [v1Call(weatherCall)], finishReason: 'tool-calls', usage: usage(script.usage[0]) },
    { text: script.answer, finishReason: 'stop', usage: usage(script.usage[1]) },
  ];
  const model = (answers) => {
    let step = 0;
    return new MockLanguageModelV1({
      modelId: script.model,
      doGenerate: async () => ({ ...answers[Math.min(step++, answers.length - 1)], rawCall: { rawPrompt: null, rawSettings: {} } }),
    });
  };
  const telemetry = { isEnabled: true, functionId: script.function_id, tracer };
  await ai.generateText({
    model: model(steps), system: script.system, prompt: script.prompt, maxSteps: 3, experimental_telemetry: telemetry,
    tools: { get_weather: ai.tool({ parameters: z.object({ city: z.string() }), execute: weather }) },
  });
  const failing = [{ toolCalls: [v1Call(refundCall)], finishReason: 'tool-calls', usage: usage(script.usage[0]) }];
  await ai.generateText({
    model: model(failing), prompt: script.prompt, maxSteps: 3, experimental_telemetry: telemetry,
    tools: { refund_order: ai.tool({ parameters: z.object({ order_id: z.string() }), execute: refund }) },
  }).catch(() => undefined);
  return request();
}

// ai 5 and later: content parts, `stopWhen`, `inputSchema`, usage as inputTokens/outputTokens.
function v3Steps() {
  const usage = ([input, output]) => ({
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  });
  const content = script.calls.map((call) => ({ type: 'tool-call', toolCallId: call.id, toolName: call.name, input: call.args }));
  return [
    { content, finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: usage(script.usage[0]), warnings: [] },
    { content: [{ type: 'text', text: script.answer }], finishReason: { unified: 'stop', raw: 'stop' }, usage: usage(script.usage[1]), warnings: [] },
  ];
}

async function agentRun(ai, MockModel, telemetry) {
  await ai.generateText({
    model: new MockModel({ modelId: script.model, doGenerate: v3Steps() }),
    system: script.system, prompt: script.prompt, stopWhen: ai.stepCountIs(3), experimental_telemetry: telemetry,
    tools: {
      get_weather: ai.tool({ inputSchema: z.object({ city: z.string() }), execute: weather }),
      refund_order: ai.tool({ inputSchema: z.object({ order_id: z.string() }), execute: refund }),
    },
  });
}

async function ai6() {
  const ai = await import('ai-v6');
  const { MockLanguageModelV3, MockEmbeddingModelV3 } = await import('ai-v6/test');
  const { tracer, request } = recorder();
  const telemetry = { isEnabled: true, functionId: script.function_id, tracer };
  await agentRun(ai, MockLanguageModelV3, telemetry);
  // Each its own trace: a streamed answer (doStream), a structured answer, a call recorded with
  // inputs and outputs off (and no function id), and an embedding.
  const [input, output] = script.usage[1];
  const chunks = [
    { type: 'stream-start', warnings: [] },
    { type: 'text-start', id: 't1' },
    { type: 'text-delta', id: 't1', delta: script.answer },
    { type: 'text-end', id: 't1' },
    {
      type: 'finish', finishReason: { unified: 'stop', raw: 'stop' },
      usage: { inputTokens: { total: input, noCache: input }, outputTokens: { total: output, text: output } },
    },
  ];
  const streamed = ai.streamText({
    model: new MockLanguageModelV3({ modelId: script.model, doStream: { stream: ai.simulateReadableStream({ chunks }) } }),
    prompt: script.prompt, experimental_telemetry: telemetry,
  });
  await streamed.consumeStream();
  // ai 6 still counts a structured answer's tokens as promptTokens/completionTokens.
  const [objectIn, objectOut] = script.usage[0];
  const objectUsage = { inputTokens: { total: objectIn, noCache: objectIn }, outputTokens: { total: objectOut, text: objectOut } };
  const answered = (text) => ({ content: [{ type: 'text', text }], finishReason: { unified: 'stop', raw: 'stop' }, usage: objectUsage, warnings: [] });
  await ai.generateObject({
    model: new MockLanguageModelV3({ modelId: script.model, doGenerate: answered(script.object) }),
    schema: z.object({ city: z.string() }), prompt: script.prompt, experimental_telemetry: { ...telemetry, functionId: 'object-agent' },
  });
  await ai.generateText({
    model: new MockLanguageModelV3({ modelId: script.model, doGenerate: answered(script.answer) }), prompt: script.prompt,
    experimental_telemetry: { isEnabled: true, tracer, recordInputs: false, recordOutputs: false },
  });
  await ai.embed({
    model: new MockEmbeddingModelV3({ modelId: script.embedding_model, doEmbed: { embeddings: [[0.25, 0.5]], warnings: [] } }),
    value: script.prompt, experimental_telemetry: telemetry,
  });
  return request();
}

async function ai7(Integration) {
  const ai = await import('ai');
  const { MockLanguageModelV4 } = await import('ai/test');
  const { tracer, request } = recorder();
  await agentRun(ai, MockLanguageModelV4, { isEnabled: true, functionId: script.function_id, integrations: [new Integration({ tracer })] });
  return request();
}

const otel = await import('@ai-sdk/otel');
const requests = {
  'ai-4': await ai4(),
  'ai-6': await ai6(),
  'ai-7-legacy': await ai7(otel.LegacyOpenTelemetry),
  'ai-7': await ai7(otel.OpenTelemetry),
};
process.stdout.write(JSON.stringify(requests));
