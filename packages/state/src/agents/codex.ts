/**
 * What swarm knows about OpenAI Codex CLI (0.171): `codex exec --json` without a terminal, resumed
 * by session id; the endpoint as a model provider given with `-c` overrides (Codex itself reads no
 * base-URL variable); the home files that hold credentials or the environment; and the rollout
 * files (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`) it keeps of every session.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import '../engine-errors.js';
import type { AgentAdapter, AgentCommand, AgentEndpoint, AgentInvocation, ParsedEvent, ParsedTranscript, TranscriptRecord, TranscriptSession } from './types.js';

const BASE_URL_ENV = 'OPENAI_BASE_URL';
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const API_KEY_ENV = ['OPENAI_API_KEY', 'CODEX_API_KEY'];
/** The provider swarm defines, so that the key comes from a variable and not from a login. */
const PROVIDER_ID = 'swarm';
/** Texts of tool calls and results are cut here; the raw line keeps everything. */
const MAX_TEXT = 2000;

export const codexAdapter: AgentAdapter = {
  name: 'codex',
  packageName: '@openai/codex',
  binName: 'codex',
  baseUrlEnv: BASE_URL_ENV,
  defaultBaseUrl: DEFAULT_BASE_URL,
  apiKeyEnv: API_KEY_ENV,
  command: codexCommand,
  endpoint: codexEndpoint,
  excludedHomePaths: [
    '.codex/auth.json',
    // MCP OAuth tokens when no keyring is available, and a gateway's OAuth tokens.
    '.codex/.credentials.json',
    '.codex/gateway_oauth.json',
    // The encrypted secrets store (its key lives in the OS keyring, which the sandbox does not have).
    '.codex/secrets/',
    // A dump of the shell's whole environment, keys included; removed at a clean exit, left behind when the step is killed.
    '.codex/shell_snapshots/',
    // Per-process scratch: helper symlinks into the CLI's install directory, a plugin checkout.
    '.codex/tmp/',
    '.codex/.tmp/',
  ],
  transcriptFiles: (homeDir) => rolloutFiles(path.join(homeDir, '.codex', 'sessions')),
  parseTranscript: (content) => parseRollout(content),
  renderLine,
};

function codexCommand(invocation: AgentInvocation): AgentCommand {
  const keyEnv = API_KEY_ENV.find((name) => (invocation.env[name] ?? '') !== '') ?? API_KEY_ENV[0]!;
  const config = [
    `model_provider=${tomlString(PROVIDER_ID)}`,
    `model_providers.${PROVIDER_ID}.name=${tomlString(PROVIDER_ID)}`,
    `model_providers.${PROVIDER_ID}.base_url=${tomlString(codexEndpoint(invocation.env).baseUrl)}`,
    `model_providers.${PROVIDER_ID}.env_key=${tomlString(keyEnv)}`,
    `model_providers.${PROVIDER_ID}.wire_api="responses"`,
    // What else Codex would contact: a plugin marketplace (github.com, chatgpt.com), metrics
    // (ab.chatgpt.com) and the release check (api.github.com).
    'features.plugins=false',
    'analytics.enabled=false',
    'check_for_update_on_startup=false',
  ].flatMap((pair) => ['-c', pair]);
  // Swarm's sandbox fences the step; Codex's own sandbox needs user namespaces, which it has not.
  const options = ['--dangerously-bypass-approvals-and-sandbox', ...config];
  const head = invocation.interactive ? [invocation.bin, ...options] : [invocation.bin, 'exec', '--json', '--skip-git-repo-check', ...options];
  const resume = invocation.resumeSessionId === null ? [] : ['resume', invocation.resumeSessionId];
  const argv = [...head, ...resume];
  if (invocation.interactive && invocation.prompt === '') argv.push(...invocation.extraArgs);
  // A prompt that looks like an option needs `--` before it, and then nothing may follow it.
  else if (invocation.prompt.startsWith('-')) argv.push(...invocation.extraArgs, '--', invocation.prompt);
  else argv.push(invocation.prompt, ...invocation.extraArgs);
  // No CODEX_HOME: Codex refuses one that does not exist yet, and ~/.codex is its default.
  return { argv, env: {}, homeFiles: [] };
}

function codexEndpoint(env: Readonly<Record<string, string>>): AgentEndpoint {
  const baseUrl = (env[BASE_URL_ENV] ?? '').trim() || DEFAULT_BASE_URL;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new SwarmError('AGENT_OPTIONS_INVALID', `${BASE_URL_ENV} is not an http(s) URL: ${JSON.stringify(baseUrl)}`, {
      details: { variable: BASE_URL_ENV },
      hint: `give ${BASE_URL_ENV} as http(s)://host[:port]/path (Codex appends /responses)`,
    });
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return { baseUrl, allowHost: `${url.hostname}:${port}` };
}

/** A TOML basic string: JSON's escapes are TOML's. */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * `sessions/YYYY/MM/DD/rollout-*.jsonl`: walked to that depth only, never through a link (the step
 * wrote this tree, and swarm lists it on the host), and never failing on what is not a directory.
 */
function rolloutFiles(dir: string): string[] {
  const files: string[] = [];
  const walk = (at: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const abs = path.join(at, entry.name);
      if (entry.isDirectory() && depth < 3) walk(abs, depth + 1);
      else if (entry.isFile() && /^rollout-.*\.jsonl$/.test(entry.name)) files.push(abs);
    }
  };
  walk(dir, 0);
  return files.sort();
}

// ---------------------------------------------------------------------------------------------
// rollout files

type Json = Record<string, unknown>;

interface TokenTotals {
  input: number;
  output: number;
}

/** What one line leaves for the next: tool names by call id, the last running token totals. */
interface ReadState {
  toolByCall: Map<string, string>;
  totals: TokenTotals | null;
}

/**
 * Reads a rollout: one JSON envelope a line (`{timestamp, type, payload}`; before mid-2025 the
 * items stood alone on their lines), the session in `session_meta`, the model in `turn_context`.
 */
function parseRollout(content: Buffer): ParsedTranscript {
  const records: TranscriptRecord[] = [];
  const state: ReadState = { toolByCall: new Map(), totals: null };
  let session: TranscriptSession | null = null;
  let model: string | null = null;
  let truncatedTail = false;
  let start = 0;
  while (start < content.length) {
    const newline = content.indexOf(0x0a, start);
    const end = newline === -1 ? content.length : newline;
    const raw = content.subarray(start, end).toString('utf8').replace(/\r$/, '');
    const offset = start;
    start = end + 1;
    if (raw.trim() === '') continue;
    const value = parseJson(raw);
    if (value === undefined && newline === -1) {
      truncatedTail = true;
      break;
    }
    const line = isObject(value) ? value : null;
    const meta = line ? sessionMetaOf(line, records.length === 0) : null;
    if (meta && session === null) session = { sessionId: meta.id, cwd: meta.cwd, model: null, startedAt: meta.startedAt, endedAt: null };
    if (line?.type === 'turn_context' && isObject(line.payload) && typeof line.payload.model === 'string') model = line.payload.model;
    if (meta?.model && model === null) model = meta.model;
    records.push({ offset, raw, event: line ? eventOf(line, state, meta !== null) : unknownEvent('unknown', null) });
  }
  const unknown = records.filter((record) => !record.event.known).length;
  if (session) {
    const times = records.map((record) => record.event.at).filter((at): at is string => at !== null);
    session = { ...session, model, startedAt: session.startedAt ?? times[0] ?? null, endedAt: times.at(-1) ?? null };
  }
  return { session, records, unknown, truncatedTail };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function sessionMetaOf(line: Json, first: boolean): { id: string; cwd: string | null; startedAt: string | null; model: string | null } | null {
  let meta: Json | null = null;
  if (line.type === 'session_meta' && isObject(line.payload)) meta = isObject(line.payload.meta) ? line.payload.meta : line.payload;
  // The old header: the first line, `{id, timestamp, instructions}` with no type.
  else if (first && line.type === undefined && typeof line.id === 'string') meta = line;
  const id = meta ? (str(meta.id) ?? str(meta.session_id)) : null;
  if (!meta || !id) return null;
  return { id, cwd: str(meta.cwd), startedAt: str(meta.timestamp) ?? str(line.timestamp), model: str(meta.model) };
}

const ENVELOPES_WITHOUT_CONTENT = new Set(['turn_context', 'world_state', 'token_usage_record', 'compacted']);

function eventOf(line: Json, state: ReadState, isSessionMeta: boolean): ParsedEvent {
  const at = str(line.timestamp);
  const type = str(line.type);
  if (isSessionMeta) return knownEvent(type ?? 'session_meta', at, {});
  if (line.record_type === 'state') return knownEvent('state', at, {});
  if (type === null) return unknownEvent('unknown', at);
  if (type === 'response_item') return isObject(line.payload) ? responseItemEvent(type, line.payload, state, at) : unknownEvent(type, at);
  if (type === 'event_msg') return isObject(line.payload) ? eventMsgEvent(type, line.payload, state, at) : unknownEvent(type, at);
  if (ENVELOPES_WITHOUT_CONTENT.has(type)) return knownEvent(type, at, {});
  // Before envelopes, response items stood on their own lines.
  if (line.payload === undefined && RESPONSE_ITEM_TYPES.has(type)) return responseItemEvent('response_item', line, state, at);
  return unknownEvent(type, at);
}

function knownEvent(type: string, at: string | null, fields: Partial<ParsedEvent>): ParsedEvent {
  return { known: true, role: null, type, tool: null, text: null, tokensIn: null, tokensOut: null, at, dedupeKey: null, ...fields };
}

function unknownEvent(type: string, at: string | null): ParsedEvent {
  return { ...knownEvent(type, at, {}), known: false };
}

const RESPONSE_ITEM_TYPES = new Set([
  'message',
  'reasoning',
  'function_call',
  'function_call_output',
  'custom_tool_call',
  'custom_tool_call_output',
  'local_shell_call',
  'local_shell_call_output',
  'web_search_call',
  'additional_tools',
]);
const TOOL_OUTPUTS = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output']);

function responseItemEvent(type: string, item: Json, state: ReadState, at: string | null): ParsedEvent {
  const kind = str(item.type);
  if (kind === null || !RESPONSE_ITEM_TYPES.has(kind)) return unknownEvent(type, at);
  const dedupeKey = typeof item.id === 'string' ? `item:${item.id}` : null;
  const callId = str(item.call_id);
  if (kind === 'message') {
    const text = contentText(item.content);
    return knownEvent(type, at, { role: messageRole(str(item.role), text), text: text === '' ? null : text, dedupeKey });
  }
  if (kind === 'reasoning') {
    const summary = Array.isArray(item.summary) ? contentText(item.summary) : '';
    return knownEvent(type, at, { role: 'assistant', text: summary === '' ? null : summary, dedupeKey });
  }
  if (TOOL_OUTPUTS.has(kind)) {
    const tool = callId === null ? null : (state.toolByCall.get(callId) ?? null);
    return knownEvent(type, at, { role: 'tool', tool, text: clip(outputText(item.output)), dedupeKey });
  }
  if (kind === 'additional_tools') return knownEvent(type, at, { role: 'system', dedupeKey });
  const call = toolCallOf(kind, item);
  if (callId !== null) state.toolByCall.set(callId, call.tool);
  return knownEvent(type, at, { role: 'assistant', tool: call.tool, text: clip(call.text), dedupeKey });
}

/** Codex's own context (environment, AGENTS.md instructions) rides in user messages wrapped in a tag. */
function messageRole(role: string | null, text: string): string | null {
  if (role === 'developer' || role === 'system') return 'system';
  if (role === 'user' && /^<([a-z_]+)>[\s\S]*<\/\1>\s*$/.test(text.trim())) return 'system';
  if (role === 'user' && text.startsWith('# AGENTS.md instructions')) return 'system';
  return role;
}

/** The text parts of a message (paragraphs, so joined by a newline) or of a tool output (fragments). */
function contentText(content: unknown, separator = '\n'): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => (isObject(part) ? str(part.text) : null))
    .filter((text): text is string => text !== null)
    .join(separator);
}

/** A tool's output: a string (older versions: JSON `{output, metadata}`), or content parts. */
function outputText(output: unknown): string | null {
  if (typeof output === 'string') {
    const inner = parseJson(output);
    return isObject(inner) && typeof inner.output === 'string' ? inner.output : output;
  }
  if (Array.isArray(output)) return contentText(output, '');
  if (isObject(output)) return str(output.content) ?? str(output.output) ?? JSON.stringify(output);
  return null;
}

function toolCallOf(kind: string, item: Json): { tool: string; text: string | null } {
  if (kind === 'local_shell_call') {
    const action = isObject(item.action) ? item.action : {};
    return { tool: 'local_shell', text: commandText(action.command) };
  }
  if (kind === 'web_search_call') {
    const action = isObject(item.action) ? item.action : {};
    return { tool: 'web_search', text: str(action.query) };
  }
  const tool = str(item.name) ?? kind;
  if (kind === 'custom_tool_call') return { tool, text: str(item.input) };
  const args = str(item.arguments);
  const parsed = args === null ? undefined : parseJson(args);
  if (isObject(parsed)) {
    const command = str(parsed.cmd) ?? commandText(parsed.command);
    if (command !== null) return { tool, text: command };
  }
  return { tool, text: args };
}

function commandText(command: unknown): string | null {
  if (typeof command === 'string') return command;
  if (!Array.isArray(command) || !command.every((part) => typeof part === 'string')) return null;
  const parts = command as string[];
  // `["bash", "-lc", "<script>"]` reads best as the script.
  if (parts.length === 3 && /(^|\/)(ba|z)?sh$/.test(parts[0]!) && /^-l?c$/.test(parts[1]!)) return parts[2]!;
  return parts.join(' ');
}

function clip(text: string | null): string | null {
  if (text === null || text === '') return null;
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

const EVENT_MSG_TYPES = new Set([
  'task_started',
  'task_complete',
  'turn_started',
  'turn_complete',
  'turn_aborted',
  'user_message',
  'agent_message',
  'agent_reasoning',
  'agent_reasoning_raw_content',
  'item_started',
  'item_completed',
  'exec_command_begin',
  'exec_command_end',
  'patch_apply_begin',
  'patch_apply_end',
  'thread_settings_applied',
  'context_compacted',
  'thread_rolled_back',
  'error',
  'warning',
  'stream_error',
  'token_count',
]);

/**
 * UI events. They repeat what the response items say (the prompt, the reply, the command), so they
 * carry no role and no text, except errors; `token_count` carries the tokens.
 */
function eventMsgEvent(type: string, payload: Json, state: ReadState, at: string | null): ParsedEvent {
  const kind = str(payload.type);
  if (kind === null || !EVENT_MSG_TYPES.has(kind)) return unknownEvent(type, at);
  if (kind === 'token_count') return knownEvent(type, at, tokensOf(payload, state));
  if (kind === 'error' || kind === 'warning' || kind === 'stream_error') return knownEvent(type, at, { text: str(payload.message) });
  return knownEvent(type, at, {});
}

/**
 * Codex reports running totals for the thread (`info.total_token_usage`), which go on across a
 * resume appended to the same file: each event counts what it adds to the previous total, so the
 * sum over a file is its last total, however often the file was resumed. A total that goes down
 * starts a new count. Early versions reported the turn's own usage at the top level.
 */
function tokensOf(payload: Json, state: ReadState): Partial<ParsedEvent> {
  const info = isObject(payload.info) ? payload.info : null;
  const total = info && isObject(info.total_token_usage) ? usageOf(info.total_token_usage) : null;
  if (total) {
    const previous = state.totals;
    state.totals = total;
    if (previous === null || total.input < previous.input || total.output < previous.output) return { tokensIn: total.input, tokensOut: total.output };
    return { tokensIn: total.input - previous.input, tokensOut: total.output - previous.output };
  }
  const own = info === null ? usageOf(payload) : null;
  return own ? { tokensIn: own.input, tokensOut: own.output } : {};
}

function usageOf(usage: Json): TokenTotals | null {
  const input = usage.input_tokens;
  const output = usage.output_tokens;
  return typeof input === 'number' && typeof output === 'number' ? { input, output } : null;
}

// ---------------------------------------------------------------------------------------------
// `codex exec --json` output

const OUTPUT_LINES = 3;
const LINE_WIDTH = 200;

/** One JSONL event of `codex exec --json` as a terminal line, or null for bookkeeping. */
function renderLine(line: string): string | null {
  if (line.trim() === '') return null;
  const event = parseJson(line);
  if (!isObject(event)) return line;
  const item = isObject(event.item) ? event.item : null;
  switch (event.type) {
    case 'thread.started':
      return typeof event.thread_id === 'string' ? `codex session ${event.thread_id}` : null;
    case 'item.started':
      return item?.type === 'command_execution' ? `→ shell: ${shortCommand(str(item.command) ?? '')}` : null;
    case 'item.completed':
      return item ? renderItem(item) : null;
    case 'turn.completed': {
      const usage = isObject(event.usage) ? event.usage : {};
      const cached = typeof usage.cached_input_tokens === 'number' && usage.cached_input_tokens > 0 ? ` (${usage.cached_input_tokens} cached)` : '';
      return `tokens (session): ${num(usage.input_tokens)} in${cached}, ${num(usage.output_tokens)} out`;
    }
    case 'turn.failed':
      return `! turn failed: ${isObject(event.error) ? (str(event.error.message) ?? '') : ''}`;
    case 'error':
      return `! ${str(event.message) ?? ''}`;
    default:
      return null;
  }
}

function renderItem(item: Json): string | null {
  switch (item.type) {
    case 'agent_message':
      return str(item.text);
    case 'command_execution': {
      const exit = typeof item.exit_code === 'number' && item.exit_code !== 0 ? `(exit ${item.exit_code})` : '';
      const shown = [shortOutput(str(item.aggregated_output) ?? ''), exit].filter((part) => part !== '').join(' ');
      return shown === '' ? null : `  ${shown}`;
    }
    case 'file_change': {
      const changes = Array.isArray(item.changes) ? item.changes.filter(isObject).map((change) => str(change.path) ?? '?') : [];
      return `→ edit: ${changes.join(', ')}`;
    }
    case 'mcp_tool_call':
      return `→ ${str(item.server) ?? 'mcp'}.${str(item.tool) ?? '?'}`;
    case 'web_search':
      return `→ search: ${str(item.query) ?? ''}`;
    case 'error':
      return `! ${str(item.message) ?? ''}`;
    default:
      return null;
  }
}

/** `/bin/bash -lc <script>` as the script itself, unquoted (Codex quotes it bare, in '…' or in "…"). */
function shortCommand(command: string): string {
  const match = /^(?:\S*\/)?(?:ba|da|z)?sh -l?c (.+)$/s.exec(command);
  const script = match?.[1];
  if (script === undefined) return command;
  if (/^[^\s'"\\]+$/.test(script)) return script;
  const single = /^'((?:[^']|'\\'')*)'$/s.exec(script);
  if (single) return single[1]!.replace(/'\\''/g, "'");
  const double = /^"((?:[^"\\]|\\.)*)"$/s.exec(script);
  if (double) return double[1]!.replace(/\\([\\"$`])/g, '$1');
  return command;
}

function shortOutput(output: string): string {
  const lines = output.replace(/\n$/, '').split('\n');
  if (lines.length === 1 && lines[0] === '') return '';
  const shown = lines.slice(0, OUTPUT_LINES).map((l) => (l.length > LINE_WIDTH ? `${l.slice(0, LINE_WIDTH)}…` : l));
  const more = lines.length > OUTPUT_LINES ? `\n  … ${lines.length - OUTPUT_LINES} more lines` : '';
  return shown.join('\n  ') + more;
}

function num(value: unknown): string {
  return typeof value === 'number' ? String(value) : '?';
}
