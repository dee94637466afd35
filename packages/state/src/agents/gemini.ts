/**
 * Gemini CLI (`@google/gemini-cli`, checked against 0.61.0): its unattended command and resume by
 * session id, its endpoint, the home files that hold keys or account data, and readers for the
 * chat recordings it keeps under ~/.gemini/tmp/<project>/chats and for its stream-json stdout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '@swarm/core';
import { endpointFrom } from './endpoint.js';
import type { AgentAdapter, AgentCommand, AgentEndpoint, AgentInvocation, ParsedEvent, ParsedTranscript, TranscriptRecord, TranscriptSession } from './types.js';

const DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

/**
 * The step is fenced already: trust the workspace (else yolo falls back to asking, and nobody
 * answers), never start a docker/podman sandbox of its own, no OpenTelemetry, and one process
 * (the default relaunch leaves a parent that ignores SIGTERM while its child runs on).
 */
const STEP_ENV: Record<string, string> = {
  GEMINI_CLI_TRUST_WORKSPACE: 'true',
  GEMINI_SANDBOX: 'false',
  GEMINI_TELEMETRY_ENABLED: 'false',
  GEMINI_CLI_NO_RELAUNCH: 'true',
};

/**
 * API-key auth chosen in settings: with GOOGLE_GEMINI_BASE_URL set and no auth type chosen, 0.61
 * picks its `gateway` type and then refuses it in headless mode ("Invalid auth method selected").
 * Usage statistics off stops the Clearcut uploads (play.googleapis.com) and the installation-id
 * header. Session retention off: its clean-up takes a resumed session's start-up stub (a second file
 * with the same short id, no messages) for a broken session and deletes every file of that id, the
 * conversation included, the next time a new session starts; a node's home is its own copy anyway.
 */
const SETTINGS = {
  security: { auth: { selectedType: 'gemini-api-key' } },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false, sessionRetention: { enabled: false } },
};

function command(invocation: AgentInvocation): AgentCommand {
  // `--flag=value`: a prompt or id that starts with `-` is not read as an option. --resume with a
  // session id continues that session and appends to its chat file.
  const resume = invocation.resumeSessionId === null ? [] : [`--resume=${invocation.resumeSessionId}`];
  const prompt = invocation.prompt === '' ? [] : [invocation.interactive ? `--prompt-interactive=${invocation.prompt}` : `--prompt=${invocation.prompt}`];
  const argv = invocation.interactive
    ? [invocation.bin, ...resume, ...prompt, ...invocation.extraArgs]
    : [invocation.bin, ...prompt, '--output-format', 'stream-json', '--approval-mode', 'yolo', ...resume, ...invocation.extraArgs];
  return { argv, env: { ...STEP_ENV }, homeFiles: [{ path: '.gemini/settings.json', content: `${JSON.stringify(SETTINGS, null, 2)}\n` }] };
}

function endpoint(env: Readonly<Record<string, string>>): AgentEndpoint {
  return endpointFrom(env, 'GOOGLE_GEMINI_BASE_URL', DEFAULT_BASE_URL, 'http://127.0.0.1:8080');
}

/**
 * Under ~/.gemini: OAuth tokens and the Google accounts that signed in, MCP and A2A OAuth tokens,
 * the file keychain (a saved API key and tokens, encrypted with a key derived from host and user
 * names), the extensions' integrity key, a `.env` the CLI loads (where people keep
 * GEMINI_API_KEY), and the installation id the CLI sends Google with usage statistics. The chats,
 * the project registry and settings travel with the node.
 */
const EXCLUDED_HOME_PATHS = [
  '.gemini/oauth_creds.json',
  '.gemini/google_accounts.json',
  '.gemini/mcp-oauth-tokens.json',
  '.gemini/a2a-oauth-tokens.json',
  '.gemini/gemini-credentials.json',
  '.gemini/integrity.key',
  '.gemini/.env',
  '.gemini/installation_id',
];

/**
 * `~/.gemini/tmp/<project>/chats/session-<start minute>-<first 8 of the id>.jsonl` (0.61 names the
 * project by a slug of its directory, older versions by the sha256 of its path; before JSONL a
 * session was one `.json` document). Subagents' chats, in a directory per parent session, are left out.
 */
function transcriptFiles(homeDir: string): string[] {
  const projects = path.join(homeDir, '.gemini', 'tmp');
  const files: string[] = [];
  for (const project of readDir(projects)) {
    if (!project.isDirectory()) continue;
    const chats = path.join(projects, project.name, 'chats');
    for (const entry of readDir(chats)) {
      if (entry.isFile() && /^session-.+\.jsonl?$/.test(entry.name)) files.push(path.join(chats, entry.name));
    }
  }
  return files.sort();
}

function readDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// transcripts

type Json = Record<string, unknown>;

interface Entry {
  offset: number;
  raw: string;
  value: Json | null;
}

/**
 * A chat file is a header line (sessionId, projectHash, startTime, kind), message lines (`id`,
 * `type` user | gemini | info | warning | error), `{"$set": …}` metadata updates (lastUpdated, a
 * summary, or the whole message list restated) and `{"$rewindTo": id}`. A message is written again
 * when it changes (its tool calls, its tokens): every line is kept, its tokens are counted once.
 */
function parseTranscript(content: Buffer, sourcePath: string): ParsedTranscript {
  if (sourcePath.endsWith('.json')) return parseDocument(content);
  const { entries, truncatedTail } = splitLines(content);
  return build(entries, null, truncatedTail);
}

/** Lines with their byte offsets; a last line without its newline that is not JSON is a write still under way. */
function splitLines(content: Buffer): { entries: Entry[]; truncatedTail: boolean } {
  const entries: Entry[] = [];
  let start = 0;
  let truncatedTail = false;
  while (start < content.length) {
    const newline = content.indexOf(0x0a, start);
    const end = newline === -1 ? content.length : newline;
    const raw = content.subarray(start, end).toString('utf8').replace(/\r$/, '');
    const value = parseObject(raw);
    if (newline === -1 && value === null) truncatedTail = raw.trim() !== '';
    else if (raw.trim() !== '') entries.push({ offset: start, raw, value });
    start = end + 1;
  }
  return { entries, truncatedTail };
}

/** Before 0.3x: the session as one JSON document, its messages the records (offset = index). Unparsable means half written. */
function parseDocument(content: Buffer): ParsedTranscript {
  const doc = parseObject(content.toString('utf8'));
  if (doc === null) return { session: null, records: [], unknown: 0, truncatedTail: content.toString('utf8').trim() !== '' };
  const messages = Array.isArray(doc.messages) ? doc.messages : [];
  const entries = messages.map((m, index) => ({ offset: index, raw: JSON.stringify(m), value: obj(m) }));
  return build(entries, doc, false);
}

function parseObject(raw: string): Json | null {
  try {
    return obj(JSON.parse(raw));
  } catch {
    return null;
  }
}

function build(entries: Entry[], header: Json | null, truncatedTail: boolean): ParsedTranscript {
  // The tokens of a message go on its first line, with the values its last line that has them says.
  const firstOfMessage = new Map<string, Entry>();
  const tokensOf = new Map<string, { in: number; out: number }>();
  for (const entry of entries) {
    const id = messageId(entry.value);
    if (id === null) continue;
    if (!firstOfMessage.has(id)) firstOfMessage.set(id, entry);
    const tokens = messageTokens(entry.value);
    if (tokens !== null) tokensOf.set(id, tokens);
  }
  const records: TranscriptRecord[] = entries.map((entry) => {
    const event = describe(entry.value);
    const id = messageId(entry.value);
    if (id !== null) {
      // The same message written again unchanged (or copied into a newer file) is a repeat.
      event.dedupeKey = `${id}:${sha256Hex(entry.raw).slice(0, 16)}`;
      const tokens = firstOfMessage.get(id) === entry ? tokensOf.get(id) : undefined;
      event.tokensIn = tokens?.in ?? null;
      event.tokensOut = tokens?.out ?? null;
    }
    return { offset: entry.offset, raw: entry.raw, event };
  });
  return { session: sessionOf(entries, header), records, unknown: records.filter((r) => !r.event.known).length, truncatedTail };
}

function messageId(value: Json | null): string | null {
  return value !== null && str(value.type) !== null ? str(value.id) : null;
}

/** Per API reply, not running totals. In: the prompt (cached part included) and tool-use prompts; out: the reply and thoughts. */
function messageTokens(value: Json | null): { in: number; out: number } | null {
  const tokens = obj(value?.tokens);
  if (tokens === null) return null;
  return { in: num(tokens.input) + num(tokens.tool), out: num(tokens.output) + num(tokens.thoughts) };
}

function describe(value: Json | null): ParsedEvent {
  const event: ParsedEvent = { known: false, role: null, type: str(value?.type) ?? 'unknown', tool: null, text: null, tokensIn: null, tokensOut: null, at: str(value?.timestamp), dedupeKey: null };
  if (value === null) return { ...event, type: 'unknown' };
  if (str(value.$rewindTo) !== null) return { ...event, known: true, type: '$rewindTo', role: 'system', text: `rewound to before message ${str(value.$rewindTo)}` };
  const set = obj(value.$set);
  if (set !== null) return { ...event, known: true, type: '$set', role: str(set.summary) === null ? null : 'system', text: str(set.summary), at: str(set.lastUpdated) };
  if (messageId(value) === null) {
    if (str(value.sessionId) !== null) return { ...event, known: true, type: 'session', at: str(value.startTime) };
    return event;
  }
  const parts = partsOf(value.content);
  switch (value.type) {
    case 'user': {
      if (parts === null) return event;
      const results = parts.map((p) => obj(p.functionResponse)).filter((r): r is Json => r !== null);
      const typed = textOf(partsOf(value.displayContent) ?? parts);
      if (results.length > 0 && typed === null) {
        return { ...event, known: true, role: 'tool', tool: str(results[0]!.name), text: results.map(responseText).join('\n') || null };
      }
      // Context the CLI builds itself (date, OS, directory listing) is not the person's turn.
      return { ...event, known: true, role: typed !== null && isContextBlock(typed) ? 'system' : 'user', text: typed };
    }
    case 'gemini': {
      if (parts === null) return event;
      const calls = (Array.isArray(value.toolCalls) ? value.toolCalls : []).map(obj).filter((c): c is Json => c !== null);
      const lines = [textOf(parts), ...calls.map((c) => `${str(c.name) ?? '?'}: ${summarizeArgs(c.args) ?? ''}`.trimEnd())].filter((t): t is string => t !== null && t !== '');
      const names = calls.map((c) => str(c.name)).filter((n): n is string => n !== null);
      return { ...event, known: true, role: 'assistant', tool: names.length > 0 ? names.join(', ') : null, text: lines.length > 0 ? lines.join('\n') : null };
    }
    case 'info':
    case 'warning':
    case 'error':
      return { ...event, known: true, role: 'system', text: parts === null ? null : textOf(parts) };
    default:
      return event;
  }
}

/** Message content is a string or a list of parts (text, functionCall, functionResponse, inline data). */
function partsOf(content: unknown): Json[] | null {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) return null;
  return content.map(obj).filter((p): p is Json => p !== null);
}

function textOf(parts: Json[]): string | null {
  const texts = parts.flatMap((p) => {
    if (p.thought === true) return [];
    const text = str(p.text);
    if (text !== null) return text === '' ? [] : [text];
    const call = obj(p.functionCall);
    if (call !== null) return [`${str(call.name) ?? '?'}: ${summarizeArgs(call.args) ?? ''}`.trimEnd()];
    const data = obj(p.inlineData) ?? obj(p.fileData);
    if (data !== null) return [`[${str(data.mimeType) ?? 'data'}]`];
    return [];
  });
  return texts.length > 0 ? texts.join('\n') : null;
}

function responseText(result: Json): string {
  const response = obj(result.response);
  return str(response?.output) ?? str(response?.error) ?? JSON.stringify(response ?? {});
}

function isContextBlock(text: string): boolean {
  return /^\s*<(session_context|hook_context)>/.test(text);
}

/** What a tool call does, in a few words: the command, the file, the pattern, or its arguments. */
function summarizeArgs(args: unknown): string | null {
  const fields = obj(args);
  if (fields === null) return null;
  for (const field of ['command', 'file_path', 'absolute_path', 'dir_path', 'path', 'pattern', 'url', 'query', 'prompt', 'description']) {
    const value = str(fields[field]);
    if (value !== null) return value;
  }
  return shorten(JSON.stringify(fields), 200);
}

function sessionOf(entries: Entry[], header: Json | null): TranscriptSession | null {
  const values = [...(header === null ? [] : [header]), ...entries.map((e) => e.value).filter((v): v is Json => v !== null)];
  const sets = values.map((v) => obj(v.$set)).filter((s): s is Json => s !== null);
  const heads = values.filter((v) => messageId(v) === null && str(v.sessionId) !== null);
  const sessionId = heads.map((v) => str(v.sessionId)).find((s) => s !== null) ?? sets.map((s) => str(s.sessionId)).find((s) => s !== null) ?? null;
  if (sessionId === null) return null;
  const messages = values.filter((v) => messageId(v) !== null);
  const model = messages.filter((m) => m.type === 'gemini').map((m) => str(m.model)).filter((m): m is string => m !== null).at(-1) ?? null;
  const starts = heads.map((v) => str(v.startTime)).filter((t): t is string => t !== null);
  const times = [...starts, ...heads.map((v) => str(v.lastUpdated)), ...sets.map((s) => str(s.lastUpdated)), ...messages.map((m) => str(m.timestamp))].filter((t): t is string => t !== null).sort();
  return { sessionId, model, cwd: cwdOf(heads, [...sets.flatMap((s) => (Array.isArray(s.messages) ? s.messages : [])), ...messages]), startedAt: starts[0] ?? times[0] ?? null, endedAt: times.at(-1) ?? null };
}

/** The workspace: a subagent's header names its directories; a main chat's opening context block lists them. */
function cwdOf(heads: Json[], messages: unknown[]): string | null {
  for (const head of heads) {
    const first = Array.isArray(head.directories) ? str(head.directories[0]) : null;
    if (first !== null) return first;
  }
  for (const message of messages) {
    const text = textOf(partsOf(obj(message)?.content) ?? []);
    const match = text !== null && isContextBlock(text) ? /Workspace Director(?:y|ies):\*\*\s*\n\s*- (.+)/.exec(text) : null;
    if (match) return match[1]!.trim();
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// stream-json stdout

/** Assistant text arrives in `delta` pieces, one line each; each is shown as it comes. */
function renderLine(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  const value = parseObject(trimmed);
  // Not JSON: the CLI printing something of its own, worth showing as it is.
  if (value === null) return stripControl(trimmed);
  switch (value.type) {
    case 'init':
      return `session ${str(value.session_id) ?? '?'} (${str(value.model) ?? 'model unknown'})`;
    case 'message': {
      if (value.role !== 'assistant') return null;
      const text = stripControl(str(value.content) ?? '').trimEnd();
      return text === '' ? null : text;
    }
    case 'tool_use':
      return `→ tool ${str(value.tool_name) ?? '?'}: ${shorten(summarizeArgs(value.parameters) ?? '', 160)}`;
    case 'tool_result': {
      if (value.status === 'error') return `← error: ${shorten(str(obj(value.error)?.message) ?? 'tool failed', 120)}`;
      return `← ${shorten(str(value.output) ?? 'done', 120)}`;
    }
    case 'error':
      return `${str(value.severity) ?? 'error'}: ${shorten(str(value.message) ?? '', 200)}`;
    case 'result': {
      const stats = obj(value.stats) ?? {};
      const calls = num(stats.tool_calls);
      const tail = `tokens in ${num(stats.input_tokens)}/out ${num(stats.output_tokens)}, ${calls} tool call${calls === 1 ? '' : 's'}, ${(num(stats.duration_ms) / 1000).toFixed(1)}s`;
      if (value.status === 'success') return `done: ${tail}`;
      const error = obj(value.error);
      return `failed (${str(error?.type) ?? str(value.status) ?? 'error'}): ${shorten(str(error?.message) ?? '', 200)}; ${tail}`;
    }
    default:
      return null;
  }
}

/** Escape sequences and other control characters out (newlines and tabs stay). */
function stripControl(text: string): string {
  return text.replace(/\u001b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
}

/** One line, whitespace collapsed, at most `max` characters. */
function shorten(text: string, max: number): string {
  const flat = stripControl(text).replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function obj(value: unknown): Json | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
}

export const geminiAdapter: AgentAdapter = {
  name: 'gemini',
  packageName: '@google/gemini-cli',
  binName: 'gemini',
  baseUrlEnv: 'GOOGLE_GEMINI_BASE_URL',
  defaultBaseUrl: DEFAULT_BASE_URL,
  apiKeyEnv: ['GEMINI_API_KEY'],
  command,
  endpoint,
  excludedHomePaths: EXCLUDED_HOME_PATHS,
  transcriptFiles,
  parseTranscript,
  renderLine,
};
