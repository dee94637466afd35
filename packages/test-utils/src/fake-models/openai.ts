/**
 * A loopback fake of the OpenAI Responses API, enough for Codex CLI: POST /v1/responses answers a
 * streamed (server-sent events) or plain response with deterministic replies, GET /v1/models a
 * model list, and anything else a 404 shaped like the real API's. A script can make a reply a shell
 * tool call first, so that the agent runs a command and the transcript holds a tool call and its
 * output.
 */
import type http from 'node:http';
import { sendEvents, sendJson, startFakeServer, type FakeServer, type RecordedRequest } from './http.js';

export interface ConversationMessage {
  /** user | assistant | developer | system */
  role: string;
  text: string;
}

/** What a script sees of one request: the latest prompt and how many responses came before. */
export interface FakeOpenAITurn {
  lastUserText: string;
  /** 1-based number of this /v1/responses call on the server. */
  call: number;
}

/** A shell command for the agent to run before the text reply, or null to reply with text at once. */
export type FakeOpenAIScript = (turn: FakeOpenAITurn) => { command: string } | null;

export interface FakeOpenAIOptions {
  script?: FakeOpenAIScript;
  /** When set, a request whose bearer token differs gets the real API's 401. */
  apiKey?: string;
  /** The model named in responses when a request names none. */
  model?: string;
}

export interface FakeOpenAI extends FakeServer {
  /** The input history each /v1/responses call carried: its messages in order (tool items left out). */
  conversations(): ConversationMessage[][];
  /** Bearer tokens of every request, in order (empty string for a request without one). */
  apiKeysSeen(): string[];
  /** Outputs of tool calls as the agent sent them back, in order. */
  toolOutputs(): string[];
}

type Item = Record<string, unknown>;

const TOOL_OUTPUT_TYPES = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output']);
/** Seconds since the epoch for created_at: fixed, so replies do not depend on the clock. */
const CREATED_AT = 1_700_000_000;

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  let calls = 0;
  const responseRequests: RecordedRequest[] = [];
  const server = await startFakeServer((request, response) => {
    const route = routeOf(request);
    if (route === 'responses' && request.method === 'POST') {
      if (!authorised(request, options.apiKey)) return sendUnauthorised(response);
      responseRequests.push(request);
      calls += 1;
      return answerResponses(request, response, calls, options);
    }
    if (route === 'models' && request.method === 'GET') {
      if (!authorised(request, options.apiKey)) return sendUnauthorised(response);
      return sendJson(response, 200, modelList(options.model ?? 'gpt-fake'));
    }
    // A WebSocket upgrade lands here too: the real API answers Codex's /v1/responses upgrade only
    // for OpenAI's own provider, and a 404 makes Codex fall back to HTTP.
    sendJson(response, 404, {
      error: { message: `Invalid URL (${request.method} ${request.url})`, type: 'invalid_request_error', param: null, code: null },
    });
  });
  return {
    ...server,
    conversations: () => responseRequests.map((request) => messagesOf(inputOf(request.body))),
    apiKeysSeen: () => server.requests.map((request) => bearerOf(request) ?? ''),
    toolOutputs: () =>
      responseRequests.flatMap((request) => inputOf(request.body).filter((item) => TOOL_OUTPUT_TYPES.has(String(item.type))).map(toolOutputText)),
  };
}

/** The API path without its version prefix or query: base URLs with and without /v1 both work. */
function routeOf(request: RecordedRequest): string {
  const pathname = request.url.split('?')[0]!.replace(/\/+$/, '');
  return pathname.replace(/^\/v1(?=\/)/, '').replace(/^\//, '');
}

function bearerOf(request: RecordedRequest): string | null {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(.*)$/i.exec(header) : null;
  return match ? match[1]! : null;
}

function authorised(request: RecordedRequest, apiKey: string | undefined): boolean {
  return apiKey === undefined || bearerOf(request) === apiKey;
}

function sendUnauthorised(response: http.ServerResponse): void {
  sendJson(response, 401, {
    error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
  });
}

function modelList(model: string): unknown {
  return { object: 'list', data: [{ id: model, object: 'model', created: CREATED_AT, owned_by: 'system' }] };
}

function inputOf(body: unknown): Item[] {
  if (typeof body !== 'object' || body === null) return [];
  const input = (body as { input?: unknown }).input;
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input.filter((item): item is Item => typeof item === 'object' && item !== null) : [];
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (typeof part === 'object' && part !== null && typeof (part as Item).text === 'string' ? ((part as Item).text as string) : ''))
    .join('');
}

function messagesOf(input: Item[]): ConversationMessage[] {
  return input
    .filter((item) => (item.type === 'message' || item.type === undefined) && typeof item.role === 'string')
    .map((item) => ({ role: item.role as string, text: textOf(item.content) }));
}

function toolOutputText(item: Item): string {
  const output = item.output;
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return textOf(output);
  return JSON.stringify(output ?? null);
}

function answerResponses(request: RecordedRequest, response: http.ServerResponse, call: number, options: FakeOpenAIOptions): void {
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Item;
  const input = inputOf(body);
  const model = typeof body.model === 'string' ? body.model : (options.model ?? 'gpt-fake');
  const lastUserText = messagesOf(input).filter((m) => m.role === 'user').at(-1)?.text ?? '';
  const toolResultCame = input.length > 0 && TOOL_OUTPUT_TYPES.has(String(input.at(-1)!.type));
  const planned = toolResultCame ? null : (options.script?.({ lastUserText, call }) ?? null);
  const item = planned === null ? messageItem(call, `reply ${call}: ${lastUserText.slice(0, 40)}`) : toolCallItem(call, planned.command, body);
  const usage = usageOf(input, item);
  const id = `resp_${pad(call)}`;
  const created = { id, object: 'response', created_at: CREATED_AT + call, status: 'in_progress', model, output: [], usage: null };
  const completed = { ...created, status: 'completed', output: [item], usage };
  if (body.stream !== true) return sendJson(response, 200, completed);
  const events = [
    { type: 'response.created', response: created },
    { type: 'response.in_progress', response: created },
    ...itemEvents(item),
    { type: 'response.completed', response: completed },
  ];
  sendEvents(
    response,
    events.map((data, index) => ({ event: data.type, data: { ...data, sequence_number: index } })),
  );
}

function pad(call: number): string {
  return String(call).padStart(4, '0');
}

function messageItem(call: number, text: string): Item {
  return {
    type: 'message',
    id: `msg_${pad(call)}`,
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

/**
 * A shell call in whichever form the request offers: Codex's `exec_command` or `shell` function
 * tools, the built-in local shell, or, when the model runs in code mode (its only tool a JavaScript
 * `exec` cell), a script that calls `exec_command` from there.
 */
function toolCallItem(call: number, command: string, body: Item): Item {
  const tools = offeredTools(body);
  const callId = `call_${pad(call)}`;
  if (tools.has('function:exec_command')) {
    return { type: 'function_call', id: `fc_${pad(call)}`, call_id: callId, name: 'exec_command', arguments: JSON.stringify({ cmd: command }), status: 'completed' };
  }
  if (tools.has('function:shell')) {
    const args = JSON.stringify({ command: ['bash', '-lc', command] });
    return { type: 'function_call', id: `fc_${pad(call)}`, call_id: callId, name: 'shell', arguments: args, status: 'completed' };
  }
  if (tools.has('local_shell')) {
    const action = { type: 'exec', command: ['bash', '-lc', command], env: {}, timeout_ms: 10_000, working_directory: null, user: null };
    return { type: 'local_shell_call', id: `lsh_${pad(call)}`, call_id: callId, action, status: 'completed' };
  }
  if (tools.has('custom:exec')) {
    const source = `const result = await tools.exec_command({ cmd: ${JSON.stringify(command)} });\ntext(result);\n`;
    return { type: 'custom_tool_call', id: `ctc_${pad(call)}`, call_id: callId, name: 'exec', input: source, status: 'completed' };
  }
  throw new Error(`the request offers no shell tool (tools: ${[...tools].join(', ') || 'none'})`);
}

/** `kind:name` of every tool the request offers, top-level and in Codex's `additional_tools` namespaces. */
function offeredTools(body: Item): Set<string> {
  const found = new Set<string>();
  const visit = (tool: unknown): void => {
    if (typeof tool !== 'object' || tool === null) return;
    const { type, name, tools } = tool as Item;
    if (typeof type === 'string') found.add(typeof name === 'string' ? `${type}:${name}` : type);
    if (Array.isArray(tools)) tools.forEach(visit);
  };
  if (Array.isArray(body.tools)) body.tools.forEach(visit);
  for (const item of inputOf(body)) if (item.type === 'additional_tools' && Array.isArray(item.tools)) item.tools.forEach(visit);
  return found;
}

/** Deterministic counts that do not depend on paths or ids: ten per input item, one per output word. */
function usageOf(input: Item[], item: Item): unknown {
  const inputTokens = 100 + 10 * input.length;
  const outputTokens = item.type === 'message' ? textOf(item.content).split(/\s+/).filter(Boolean).length : 20;
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
}

/** The events the real API streams for one output item, from added to done. */
function itemEvents(item: Item): Array<{ type: string; [key: string]: unknown }> {
  const itemId = item.id as string;
  const at = { output_index: 0 };
  if (item.type === 'message') {
    const text = textOf(item.content);
    const part = { type: 'output_text', text: '', annotations: [] };
    return [
      { type: 'response.output_item.added', ...at, item: { ...item, status: 'in_progress', content: [] } },
      { type: 'response.content_part.added', ...at, item_id: itemId, content_index: 0, part },
      { type: 'response.output_text.delta', ...at, item_id: itemId, content_index: 0, delta: text },
      { type: 'response.output_text.done', ...at, item_id: itemId, content_index: 0, text },
      { type: 'response.content_part.done', ...at, item_id: itemId, content_index: 0, part: { ...part, text } },
      { type: 'response.output_item.done', ...at, item },
    ];
  }
  if (item.type === 'function_call') {
    const args = item.arguments as string;
    return [
      { type: 'response.output_item.added', ...at, item: { ...item, status: 'in_progress', arguments: '' } },
      { type: 'response.function_call_arguments.delta', ...at, item_id: itemId, delta: args },
      { type: 'response.function_call_arguments.done', ...at, item_id: itemId, arguments: args },
      { type: 'response.output_item.done', ...at, item },
    ];
  }
  if (item.type === 'custom_tool_call') {
    const input = item.input as string;
    return [
      { type: 'response.output_item.added', ...at, item: { ...item, status: 'in_progress', input: '' } },
      { type: 'response.custom_tool_call_input.delta', ...at, item_id: itemId, delta: input },
      { type: 'response.custom_tool_call_input.done', ...at, item_id: itemId, input },
      { type: 'response.output_item.done', ...at, item },
    ];
  }
  return [
    { type: 'response.output_item.added', ...at, item: { ...item, status: 'in_progress' } },
    { type: 'response.output_item.done', ...at, item },
  ];
}
