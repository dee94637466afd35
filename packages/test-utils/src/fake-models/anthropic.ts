/**
 * A loopback fake of the Anthropic Messages API, enough for Claude Code to hold a conversation:
 * POST /v1/messages answers a deterministic reply (an SSE stream when `stream` is set, else one
 * message), a test's `script` can turn a reply into a tool call, count_tokens and the model list
 * answer as the real API does, and every other path is a 404.
 */
import type http from 'node:http';
import { sendEvents, sendJson, startFakeServer, type FakeServer, type RecordedRequest } from './http.js';

/** One message of a request's history, flattened to text for assertions. */
export interface ConversationEntry {
  role: string;
  /** Text blocks joined by newlines; tool calls as `tool_use <name> <input JSON>`, results as `tool_result <text>`. */
  text: string;
}

/** What a script sees of one /v1/messages call. */
export interface AnthropicCall {
  model: string;
  stream: boolean;
  /** Names of the tools the request offered: Claude Code's main conversation carries them, its side requests (a title) do not. */
  tools: string[];
  conversation: ConversationEntry[];
  /** The last user-written text (context reminders and tool results skipped), or ''. */
  lastUserText: string;
  /** Texts of the tool_result blocks in the last message, when the last message returns tool results. */
  toolResults: string[];
}

/** A reply: text, or a tool call (optionally after a line of text, as Claude often does). */
export type AnthropicReply = { text: string } | { text?: string; toolUse: { name: string; input: Record<string, unknown> } };

export interface FakeAnthropicOptions {
  /** Chooses the reply to a call; undefined gives the default `reply <n>: <start of the last user text>`. */
  script?: (call: AnthropicCall) => AnthropicReply | undefined;
}

export interface FakeAnthropic extends FakeServer {
  /** The history each /v1/messages call carried, in call order; `{ withTools: true }` keeps only the main conversation's calls. */
  conversations(filter?: { withTools?: boolean }): ConversationEntry[][];
  /** Every /v1/messages call, in order. */
  calls(): AnthropicCall[];
  /** The distinct API keys (x-api-key, or a bearer token) the fake was sent, in the order first seen. */
  apiKeysSeen(): string[];
}

const MODELS = [
  { id: 'claude-opus-4-8', display_name: 'Claude Opus 4.8' },
  { id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6' },
  { id: 'claude-haiku-4-5', display_name: 'Claude Haiku 4.5' },
];
const MODELS_CREATED_AT = '2026-01-01T00:00:00Z';

export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const calls: AnthropicCall[] = [];
  const keys: string[] = [];
  let answered = 0;

  const server = await startFakeServer((request, response) => {
    const key = apiKeyOf(request);
    if (key !== null && !keys.includes(key)) keys.push(key);
    const path = request.url.split('?')[0]!;
    if (request.method === 'POST' && (path === '/v1/messages' || path === '/v1/messages/count_tokens')) {
      if (key === null) return sendApiError(response, 401, 'authentication_error', 'x-api-key header is required');
      const body = request.body as MessagesBody | null;
      if (body === null || typeof body !== 'object' || !Array.isArray(body.messages)) {
        return sendApiError(response, 400, 'invalid_request_error', 'messages: Field required');
      }
      if (path === '/v1/messages/count_tokens') return sendJson(response, 200, { input_tokens: promptTokens(body).total });
      const call = describeCall(body);
      calls.push(call);
      answered += 1;
      const reply = options.script?.(call) ?? { text: defaultReply(call) };
      const message = buildMessage(reply, call, body, answered);
      response.setHeader('request-id', `req_fake${String(answered).padStart(6, '0')}`);
      if (call.stream) sendEvents(response, streamEvents(message));
      else sendJson(response, 200, message);
      return;
    }
    if (request.method === 'GET' && path === '/v1/models') {
      const data = MODELS.map((m) => ({ type: 'model', id: m.id, display_name: m.display_name, created_at: MODELS_CREATED_AT }));
      return sendJson(response, 200, { data, has_more: false, first_id: data[0]!.id, last_id: data[data.length - 1]!.id });
    }
    if (request.method === 'GET' && path.startsWith('/v1/models/')) {
      const model = MODELS.find((m) => m.id === decodeURIComponent(path.slice('/v1/models/'.length)));
      if (model) return sendJson(response, 200, { type: 'model', ...model, created_at: MODELS_CREATED_AT });
    }
    // Telemetry, OAuth and profile endpoints, HEAD / and anything else: what the API says for an unknown path.
    if (request.method === 'HEAD') {
      response.writeHead(404);
      response.end();
      return;
    }
    sendApiError(response, 404, 'not_found_error', 'Not found');
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

interface ContentBlock {
  type: string;
  text?: string;
  name?: string;
  input?: unknown;
  content?: unknown;
}

interface MessagesBody {
  model?: string;
  stream?: boolean;
  system?: string | ContentBlock[];
  tools?: Array<{ name?: string }>;
  messages: Array<{ role: string; content: string | ContentBlock[] }>;
}

function apiKeyOf(request: RecordedRequest): string | null {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header;
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice('Bearer '.length);
  return null;
}

/** Claude Code puts context (date, CLAUDE.md, reminders) into the user turn as whole blocks of this shape. */
function isReminder(text: string): boolean {
  return /^\s*<system-reminder>[\s\S]*<\/system-reminder>\s*$/.test(text);
}

function blocksOf(content: string | ContentBlock[]): ContentBlock[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : content;
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c: ContentBlock) => (typeof c.text === 'string' ? c.text : '')).join('\n');
  return '';
}

function blockText(block: ContentBlock): string | null {
  if (block.type === 'text' && typeof block.text === 'string') return isReminder(block.text) ? null : block.text;
  if (block.type === 'tool_use') return `tool_use ${block.name} ${JSON.stringify(block.input ?? {})}`;
  if (block.type === 'tool_result') return `tool_result ${resultText(block.content)}`;
  return null;
}

function describeCall(body: MessagesBody): AnthropicCall {
  const conversation = body.messages.map((m) => ({
    role: m.role,
    text: blocksOf(m.content)
      .map(blockText)
      .filter((t): t is string => t !== null)
      .join('\n'),
  }));
  let lastUserText = '';
  for (const message of body.messages) {
    if (message.role !== 'user') continue;
    const texts = blocksOf(message.content).filter((b) => b.type === 'text' && typeof b.text === 'string' && !isReminder(b.text));
    if (texts.length > 0) lastUserText = texts.map((b) => b.text).join('\n');
  }
  const last = body.messages[body.messages.length - 1];
  const toolResults = last?.role === 'user' ? blocksOf(last.content).filter((b) => b.type === 'tool_result').map((b) => resultText(b.content)) : [];
  return {
    model: body.model ?? '',
    stream: body.stream === true,
    tools: (body.tools ?? []).map((t) => t.name ?? ''),
    conversation,
    lastUserText,
    toolResults,
  };
}

/** Numbered by the assistant turns already in the history, so a retried or resumed call gets the same reply. */
function defaultReply(call: AnthropicCall): string {
  const turn = call.conversation.filter((m) => m.role === 'assistant').length + 1;
  return `reply ${turn}: ${call.lastUserText.slice(0, 40)}`;
}

/** About four characters a token, like the real tokenizer on English text. */
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The prompt's tokens split as the real API reports them with prompt caching: the system prompt
 * and tools written to the cache on the first call and read from it later, the history before the
 * last message read from the cache, the last message as fresh input.
 */
function promptTokens(body: MessagesBody): { input: number; cacheCreation: number; cacheRead: number; total: number } {
  const prefix = tokens(JSON.stringify(body.system ?? '') + JSON.stringify(body.tools ?? []));
  const history = tokens(JSON.stringify(body.messages.slice(0, -1)));
  const input = tokens(JSON.stringify(body.messages.slice(-1)));
  const first = !body.messages.some((m) => m.role === 'assistant');
  const cacheCreation = first ? prefix : 0;
  const cacheRead = first ? 0 : prefix + history;
  return { input, cacheCreation, cacheRead, total: input + cacheCreation + cacheRead };
}

// ---------------------------------------------------------------------------------------------
// writing a reply

interface ReplyMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: Array<{ type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }>;
  stop_reason: 'end_turn' | 'tool_use';
  stop_sequence: null;
  usage: { input_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number; output_tokens: number; service_tier: 'standard' };
}

function buildMessage(reply: AnthropicReply, call: AnthropicCall, body: MessagesBody, n: number): ReplyMessage {
  const id = String(n).padStart(6, '0');
  const content: ReplyMessage['content'] = [];
  if (reply.text !== undefined && reply.text !== '') content.push({ type: 'text', text: reply.text });
  if ('toolUse' in reply) content.push({ type: 'tool_use', id: `toolu_fake${id}`, name: reply.toolUse.name, input: reply.toolUse.input });
  const prompt = promptTokens(body);
  const output = content.reduce((sum, block) => sum + tokens(block.type === 'text' ? block.text : JSON.stringify(block.input)), 0);
  return {
    id: `msg_fake${id}`,
    type: 'message',
    role: 'assistant',
    model: call.model,
    content,
    stop_reason: 'toolUse' in reply ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: {
      input_tokens: prompt.input,
      cache_creation_input_tokens: prompt.cacheCreation,
      cache_read_input_tokens: prompt.cacheRead,
      output_tokens: Math.max(1, output),
      service_tier: 'standard',
    },
  };
}

/** The event sequence the real API streams: start, a ping, each block in two deltas, the usage, stop. */
function streamEvents(message: ReplyMessage): Array<{ event: string; data: unknown }> {
  const events: Array<{ event: string; data: unknown }> = [];
  const add = (type: string, data: Record<string, unknown>) => events.push({ event: type, data: { type, ...data } });
  add('message_start', { message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } } });
  add('ping', {});
  message.content.forEach((block, index) => {
    if (block.type === 'text') {
      add('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const part of halves(block.text)) add('content_block_delta', { index, delta: { type: 'text_delta', text: part } });
    } else {
      add('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      for (const part of halves(JSON.stringify(block.input))) add('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: part } });
    }
    add('content_block_stop', { index });
  });
  add('message_delta', { delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: message.usage.output_tokens } });
  add('message_stop', {});
  return events;
}

function halves(text: string): string[] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((part) => part.length > 0);
}

function sendApiError(response: http.ServerResponse, status: number, type: string, message: string): void {
  sendJson(response, status, { type: 'error', error: { type, message } });
}
