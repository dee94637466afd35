/**
 * A loopback fake of the Gemini API (generativelanguage, v1beta), enough for Gemini CLI to hold a
 * conversation with API-key auth: `:streamGenerateContent?alt=sse` streams a deterministic reply,
 * `:generateContent` answers once (in JSON mode with a value that fits the requested schema, which
 * is how the CLI's model router and next-speaker check ask), `:countTokens` counts, the model list
 * answers, and every other path is the API's 404. A test's `script` can turn a reply into a
 * functionCall; the functionResponse that comes back is answered with text.
 */
import type http from 'node:http';
import { sendEvents, sendJson, startFakeServer, type FakeServer, type RecordedRequest } from './http.js';

/** One content of a request's history, flattened to text for assertions. */
export interface ConversationEntry {
  /** `user` or `model`, as the request says. */
  role: string;
  /** Text parts joined by newlines; calls as `functionCall <name> <args JSON>`, results as `functionResponse <name> <response JSON>`. */
  text: string;
}

/** What a script sees of one generate call. */
export interface GeminiCall {
  /** The model named in the path (`gemini-2.5-pro` of `/v1beta/models/gemini-2.5-pro:generateContent`). */
  model: string;
  stream: boolean;
  /** Whether the request asked for JSON (responseMimeType application/json or a response schema). */
  json: boolean;
  /** Names of the function declarations the request offered: the CLI's main conversation carries them, its side requests do not. */
  tools: string[];
  conversation: ConversationEntry[];
  /** The last user-written text (the CLI's `<session_context>` block skipped), or ''. */
  lastUserText: string;
  /** The functionResponse parts of the last content, when the last content returns tool results. */
  functionResponses: Array<{ name: string; response: unknown }>;
}

/** A reply: text, or a function call (optionally after a line of text). */
export type GeminiReply = { text: string } | { text?: string; functionCall: { name: string; args: Record<string, unknown> } };

export interface FakeGeminiOptions {
  /** Chooses the reply to a call that wants text; undefined gives the default `reply <n>: <start of the last user text>`. */
  script?: (call: GeminiCall) => GeminiReply | undefined;
}

export interface FakeGemini extends FakeServer {
  /** The history each generate call carried, in call order; `{ withTools: true }` keeps only the main conversation's calls. */
  conversations(filter?: { withTools?: boolean }): ConversationEntry[][];
  /** Every generate call (streamed or not), in order. */
  calls(): GeminiCall[];
  /** The distinct API keys (x-goog-api-key header or `key=` query) the fake was sent, in the order first seen. */
  apiKeysSeen(): string[];
}

const MODELS = [
  { id: 'gemini-3.1-pro-preview', displayName: 'Gemini 3.1 Pro Preview' },
  { id: 'gemini-3-flash-preview', displayName: 'Gemini 3 Flash Preview' },
  { id: 'gemini-2.5-pro', displayName: 'Gemini 2.5 Pro' },
  { id: 'gemini-2.5-flash', displayName: 'Gemini 2.5 Flash' },
  { id: 'gemini-2.5-flash-lite', displayName: 'Gemini 2.5 Flash-Lite' },
];

const MODEL_PATH = /^\/v1(?:beta|alpha)?\/models\/([^/:]+):(streamGenerateContent|generateContent|countTokens)$/;

export async function startFakeGemini(options: FakeGeminiOptions = {}): Promise<FakeGemini> {
  const calls: GeminiCall[] = [];
  const keys: string[] = [];
  let answered = 0;

  const server = await startFakeServer((request, response) => {
    const key = apiKeyOf(request);
    if (key !== null && !keys.includes(key)) keys.push(key);
    const path = request.url.split('?')[0]!;
    const method = MODEL_PATH.exec(path);
    if (request.method === 'POST' && method) {
      const model = decodeURIComponent(method[1]!);
      const verb = method[2]!;
      if (key === null) return sendApiError(response, 403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers. Please use an API key.");
      const body = request.body as GenerateBody | null;
      if (body === null || typeof body !== 'object') return sendApiError(response, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      if (verb === 'countTokens') {
        const total = promptTokens(body);
        return sendJson(response, 200, { totalTokens: total, promptTokensDetails: [{ modality: 'TEXT', tokenCount: total }] });
      }
      if (!Array.isArray(body.contents) || body.contents.length === 0) {
        return sendApiError(response, 400, 'INVALID_ARGUMENT', '* GenerateContentRequest.contents: contents is not specified');
      }
      const call = describeCall(model, verb === 'streamGenerateContent', body);
      calls.push(call);
      answered += 1;
      const responseId = `fake-response-${String(answered).padStart(6, '0')}`;
      if (call.json) {
        const value = sampleOf(body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema);
        const answer = buildResponse({ text: JSON.stringify(value) }, call.model, body, responseId);
        return call.stream ? sendEvents(response, [{ data: answer }]) : sendJson(response, 200, answer);
      }
      const reply = options.script?.(call) ?? { text: defaultReply(call) };
      const answer = buildResponse(reply, call.model, body, responseId);
      return call.stream ? sendEvents(response, streamChunks(answer)) : sendJson(response, 200, answer);
    }
    if (request.method === 'GET' && /^\/v1(beta|alpha)?\/models$/.test(path)) {
      return sendJson(response, 200, { models: MODELS.map(modelInfo) });
    }
    const single = /^\/v1(?:beta|alpha)?\/models\/([^/:]+)$/.exec(path);
    if (request.method === 'GET' && single) {
      const model = MODELS.find((m) => m.id === decodeURIComponent(single[1]!));
      if (model) return sendJson(response, 200, modelInfo(model));
      return sendApiError(response, 404, 'NOT_FOUND', `models/${single[1]} is not found for API version v1beta.`);
    }
    if (request.method === 'HEAD') {
      response.writeHead(404);
      response.end();
      return;
    }
    // Code Assist (OAuth only), Clearcut and anything else: what Google's front end says for an unknown path.
    sendApiError(response, 404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
  });

  return {
    ...server,
    conversations: (filter = {}) => calls.filter((c) => !filter.withTools || c.tools.length > 0).map((c) => c.conversation),
    calls: () => [...calls],
    apiKeysSeen: () => [...keys],
  };
}

// ---------------------------------------------------------------------------------------------
// reading a request

interface Part {
  text?: string;
  thought?: boolean;
  functionCall?: { name?: string; args?: unknown };
  functionResponse?: { name?: string; response?: unknown };
}

interface Content {
  role?: string;
  parts?: Part[];
}

interface GenerateBody {
  contents?: Content[];
  systemInstruction?: Content;
  tools?: Array<{ functionDeclarations?: Array<{ name?: string }> }>;
  generationConfig?: { responseMimeType?: string; responseJsonSchema?: unknown; responseSchema?: unknown };
}

function apiKeyOf(request: RecordedRequest): string | null {
  const header = request.headers['x-goog-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const query = new URL(request.url, 'http://fake').searchParams.get('key');
  return query !== null && query.length > 0 ? query : null;
}

/** Gemini CLI opens a conversation with a context block (date, OS, directory listing) as the first user part. */
function isContextBlock(text: string): boolean {
  return /^\s*<(session_context|hook_context)>/.test(text);
}

function partText(part: Part): string | null {
  if (typeof part.text === 'string') return part.thought === true ? null : part.text;
  if (part.functionCall) return `functionCall ${part.functionCall.name ?? ''} ${JSON.stringify(part.functionCall.args ?? {})}`;
  if (part.functionResponse) return `functionResponse ${part.functionResponse.name ?? ''} ${JSON.stringify(part.functionResponse.response ?? {})}`;
  return null;
}

function describeCall(model: string, stream: boolean, body: GenerateBody): GeminiCall {
  const contents = body.contents ?? [];
  const conversation = contents.map((c) => ({
    role: c.role ?? 'user',
    text: (c.parts ?? [])
      .map(partText)
      .filter((t): t is string => t !== null)
      .join('\n'),
  }));
  let lastUserText = '';
  for (const content of contents) {
    if ((content.role ?? 'user') !== 'user') continue;
    const texts = (content.parts ?? []).filter((p) => typeof p.text === 'string' && p.thought !== true && !isContextBlock(p.text));
    if (texts.length > 0) lastUserText = texts.map((p) => p.text).join('\n');
  }
  const last = contents[contents.length - 1];
  const functionResponses =
    (last?.role ?? 'user') === 'user'
      ? (last?.parts ?? []).flatMap((p) => (p.functionResponse ? [{ name: p.functionResponse.name ?? '', response: p.functionResponse.response ?? null }] : []))
      : [];
  const config = body.generationConfig ?? {};
  return {
    model,
    stream,
    json: config.responseMimeType === 'application/json' || config.responseJsonSchema !== undefined || config.responseSchema !== undefined,
    tools: (body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name ?? '')),
    conversation,
    lastUserText,
    functionResponses,
  };
}

/** Numbered by the model turns already in the history, so a retried or resumed call gets the same reply. */
function defaultReply(call: GeminiCall): string {
  const turn = call.conversation.filter((c) => c.role === 'model').length + 1;
  return `reply ${turn}: ${call.lastUserText.slice(0, 40)}`;
}

/**
 * A value that fits a response schema (OpenAPI-style types in either case, or JSON Schema). An
 * enum that offers `user` answers `user`: the CLI's next-speaker check then hands the turn back
 * instead of asking the model to go on.
 */
function sampleOf(schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object') return {};
  const s = schema as { type?: unknown; enum?: unknown[]; properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[] };
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum.includes('user') ? 'user' : s.enum[0];
  if (Array.isArray(s.anyOf) && s.anyOf.length > 0) return sampleOf(s.anyOf[0]);
  const type = String(Array.isArray(s.type) ? s.type[0] : (s.type ?? (s.properties ? 'object' : 'string'))).toLowerCase();
  switch (type) {
    case 'object':
      return Object.fromEntries(Object.entries(s.properties ?? {}).map(([name, sub]) => [name, sampleOf(sub)]));
    case 'array':
      return s.items === undefined ? [] : [sampleOf(s.items)];
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return 'fake';
  }
}

/** About four characters a token, like the real tokenizer on English text. */
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function promptTokens(body: GenerateBody): number {
  return tokens(JSON.stringify(body.contents ?? []) + JSON.stringify(body.systemInstruction ?? '') + JSON.stringify(body.tools ?? []));
}

// ---------------------------------------------------------------------------------------------
// writing a reply

interface ResponsePart {
  text?: string;
  functionCall?: { name: string; args: Record<string, unknown> };
}

interface GenerateResponse {
  candidates: Array<{ content: { role: 'model'; parts: ResponsePart[] }; finishReason?: 'STOP'; index: 0 }>;
  usageMetadata: { promptTokenCount: number; candidatesTokenCount?: number; totalTokenCount: number; promptTokensDetails: Array<{ modality: 'TEXT'; tokenCount: number }> };
  modelVersion: string;
  responseId: string;
}

function buildResponse(reply: GeminiReply, model: string, body: GenerateBody, responseId: string): GenerateResponse {
  const parts: ResponsePart[] = [];
  if (reply.text !== undefined && reply.text !== '') parts.push({ text: reply.text });
  if ('functionCall' in reply) parts.push({ functionCall: { name: reply.functionCall.name, args: reply.functionCall.args } });
  const prompt = promptTokens(body);
  const output = Math.max(1, parts.reduce((sum, p) => sum + tokens(p.text ?? JSON.stringify(p.functionCall)), 0));
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: prompt, candidatesTokenCount: output, totalTokenCount: prompt + output, promptTokensDetails: [{ modality: 'TEXT', tokenCount: prompt }] },
    modelVersion: model,
    responseId,
  };
}

/**
 * The chunks the real API streams: text in pieces, each chunk with the usage so far (the prompt
 * count from the first chunk on, the candidates count only at the end), a function call whole in
 * the last chunk, finishReason on the last chunk only.
 */
function streamChunks(answer: GenerateResponse): Array<{ data: GenerateResponse }> {
  const { promptTokenCount, promptTokensDetails } = answer.usageMetadata;
  const parts = answer.candidates[0]!.content.parts;
  const pieces: ResponsePart[][] = [];
  for (const part of parts) {
    if (part.text !== undefined) pieces.push(...halves(part.text).map((text) => [{ text }]));
    else pieces.push([part]);
  }
  if (pieces.length === 0) pieces.push([]);
  return pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    return {
      data: {
        candidates: [{ content: { role: 'model', parts: piece }, ...(last ? { finishReason: 'STOP' as const } : {}), index: 0 }],
        usageMetadata: last ? answer.usageMetadata : { promptTokenCount, totalTokenCount: promptTokenCount, promptTokensDetails },
        modelVersion: answer.modelVersion,
        responseId: answer.responseId,
      },
    };
  });
}

function halves(text: string): string[] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((part) => part.length > 0);
}

function modelInfo(model: { id: string; displayName: string }): Record<string, unknown> {
  return {
    name: `models/${model.id}`,
    version: '001',
    displayName: model.displayName,
    inputTokenLimit: 1_048_576,
    outputTokenLimit: 65_536,
    supportedGenerationMethods: ['generateContent', 'countTokens', 'createCachedContent', 'batchGenerateContent'],
    temperature: 1,
    topP: 0.95,
    topK: 64,
    maxTemperature: 2,
    thinking: true,
  };
}

function sendApiError(response: http.ServerResponse, status: number, state: string, message: string): void {
  sendJson(response, status, { error: { code: status, message, status: state } });
}
