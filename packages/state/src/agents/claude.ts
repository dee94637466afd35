/**
 * Claude Code (`@anthropic-ai/claude-code`, checked against 2.1.197): its unattended command and
 * resume by session id, its endpoint, the home files that hold keys or environment dumps, and
 * readers for the session JSONL it keeps under ~/.claude/projects and for its stream-json stdout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { endpointFrom } from './endpoint.js';
import type { AgentAdapter, AgentCommand, AgentEndpoint, AgentInvocation, ParsedEvent, ParsedTranscript, TranscriptRecord, TranscriptSession } from './types.js';

const DEFAULT_BASE_URL = 'https://api.anthropic.com';

/**
 * Switches off everything but the model API: telemetry, error reports, the auto-updater and the
 * side requests (a session title) that DISABLE_NONESSENTIAL_TRAFFIC covers. CLAUDE_CODE_BUBBLEWRAP
 * says the step is fenced by bubblewrap; without it Claude refuses bypassPermissions as uid 0,
 * which a sandbox started by root is.
 */
const QUIET_ENV: Record<string, string> = {
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_TELEMETRY: '1',
  DISABLE_ERROR_REPORTING: '1',
  DISABLE_AUTOUPDATER: '1',
  CLAUDE_CODE_BUBBLEWRAP: '1',
};

function command(invocation: AgentInvocation): AgentCommand {
  // A plain --resume continues the same session id and appends to its file (no --fork-session):
  // the home and state DB travel with the node, so each branch has its own copy of the session.
  const resume = invocation.resumeSessionId === null ? [] : ['--resume', invocation.resumeSessionId];
  // The prompt goes after `--`, so one that starts with `-` is not read as an option.
  const prompt = invocation.prompt === '' ? [] : ['--', invocation.prompt];
  const argv = invocation.interactive
    ? [invocation.bin, ...resume, ...invocation.extraArgs, ...prompt]
    : [invocation.bin, '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'bypassPermissions', ...resume, ...invocation.extraArgs, ...prompt];
  // Claude's own root check stays in force where no sandbox fences it.
  const env: Record<string, string> = { ...QUIET_ENV };
  if (invocation.sandboxed === false) delete env.CLAUDE_CODE_BUBBLEWRAP;
  return { argv, env, homeFiles: invocation.interactive ? [ONBOARDED] : [] };
}

/**
 * A fresh HOME sends the interactive CLI into first-run onboarding, which probes api.anthropic.com
 * directly (whatever the base URL) and exits when it cannot reach it. `.claude.json` is never
 * sealed, so this file is all it holds when the step starts; the person still answers the folder
 * trust and "use this API key?" questions.
 */
const ONBOARDED = { path: '.claude.json', content: '{"hasCompletedOnboarding": true}\n' };

function endpoint(env: Readonly<Record<string, string>>): AgentEndpoint {
  return endpointFrom(env, 'ANTHROPIC_BASE_URL', DEFAULT_BASE_URL, 'http://127.0.0.1:8080');
}

/**
 * Under HOME: `.claude.json` is the global config, which also keeps a key made by /login
 * (`primaryApiKey`, where no keychain exists), the OAuth account and the approved key suffixes;
 * `.claude/backups/` holds copies of it. Leaving it out costs a new anonymous user id and the
 * onboarding flags each run; the conversations live in `.claude/projects/`. The rest: OAuth tokens,
 * an auth file, queued telemetry (platform, kernel, distribution), snapshots of the shell and of
 * hook environments, debug logs and full request dumps, and IDE lock files with their tokens.
 */
const EXCLUDED_HOME_PATHS = [
  '.claude.json',
  '.claude.json.backup',
  '.claude/.config.json',
  '.claude/backups/',
  '.claude/.credentials.json',
  '.claude/hfi-auth.json',
  '.claude/telemetry/',
  '.claude/shell-snapshots/',
  '.claude/session-env/',
  '.claude/debug/',
  '.claude/dump-prompts/',
  '.claude/ide/',
];

/** `~/.claude/projects/<cwd, each non-alphanumeric character a '-'>/<session id>.jsonl`. */
function transcriptFiles(homeDir: string): string[] {
  const projects = path.join(homeDir, '.claude', 'projects');
  const files: string[] = [];
  for (const project of readDir(projects)) {
    if (!project.isDirectory()) continue;
    for (const entry of readDir(path.join(projects, project.name))) {
      if (entry.isFile() && entry.name.endsWith('.jsonl')) files.push(path.join(projects, project.name, entry.name));
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

interface Line {
  offset: number;
  raw: string;
  value: Json | null;
}

/** Types Claude writes that carry no message: queue, prompt, mode and title bookkeeping. */
const BOOKKEEPING_TYPES = new Set(['queue-operation', 'last-prompt', 'mode', 'permission-mode', 'file-history-snapshot', 'custom-title', 'ai-title', 'agent-name', 'tag', 'pr-link']);

function parseTranscript(content: Buffer, sourcePath: string): ParsedTranscript {
  const { lines, truncatedTail } = splitLines(content);
  const toolNames = new Map<string, string>();
  const firstOfMessage = new Map<string, Line>();
  const usageOf = new Map<string, { in: number; out: number }>();
  const positions = new Map<string, number>();
  // The usage of one message is repeated on each of its lines; it is counted on the first, with the largest values seen.
  for (const line of lines) {
    const key = messageKey(line.value);
    const usage = usageTokens(line.value);
    if (key === null || usage === null) continue;
    if (!firstOfMessage.has(key)) firstOfMessage.set(key, line);
    const seen = usageOf.get(key);
    usageOf.set(key, { in: Math.max(seen?.in ?? 0, usage.in), out: Math.max(seen?.out ?? 0, usage.out) });
  }
  const records: TranscriptRecord[] = [];
  for (const line of inChainOrder(lines)) {
    const event = describe(line.value, toolNames);
    const key = messageKey(line.value);
    if (key !== null) {
      const position = positions.get(key) ?? 0;
      positions.set(key, position + 1);
      event.dedupeKey = `${key}#${position}`;
      const usage = firstOfMessage.get(key) === line ? usageOf.get(key) : undefined;
      event.tokensIn = usage?.in ?? null;
      event.tokensOut = usage?.out ?? null;
    }
    records.push({ offset: line.offset, raw: line.raw, event });
  }
  return { session: sessionOf(lines, sourcePath), records, unknown: records.filter((r) => !r.event.known).length, truncatedTail };
}

/** Lines with their byte offsets; a last line without its newline that is not JSON is a write still under way. */
function splitLines(content: Buffer): { lines: Line[]; truncatedTail: boolean } {
  const lines: Line[] = [];
  let start = 0;
  let truncatedTail = false;
  while (start < content.length) {
    const newline = content.indexOf(0x0a, start);
    const end = newline === -1 ? content.length : newline;
    const raw = content.subarray(start, end).toString('utf8').replace(/\r$/, '');
    const value = parseObject(raw);
    if (newline === -1 && value === null) truncatedTail = true;
    else if (raw.trim() !== '') lines.push({ offset: start, raw, value });
    start = end + 1;
  }
  return { lines, truncatedTail };
}

function parseObject(raw: string): Json | null {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : null;
  } catch {
    return null;
  }
}

/** File order, except that a line whose parent (`parentUuid`) comes later in the file follows its parent. */
function inChainOrder(lines: Line[]): Line[] {
  const byUuid = new Map<string, Line>();
  for (const line of lines) {
    const uuid = str(line.value?.uuid);
    if (uuid !== null && !byUuid.has(uuid)) byUuid.set(uuid, line);
  }
  const emitted = new Set<Line>();
  const waiting = new Map<string, Line[]>();
  const ordered: Line[] = [];
  const emit = (line: Line) => {
    emitted.add(line);
    ordered.push(line);
    const uuid = str(line.value?.uuid);
    const children = uuid === null ? undefined : waiting.get(uuid);
    if (children === undefined) return;
    waiting.delete(uuid!);
    for (const child of children) emit(child);
  };
  for (const line of lines) {
    const parent = byUuid.get(str(line.value?.parentUuid) ?? '');
    if (parent !== undefined && parent !== line && !emitted.has(parent)) {
      const key = str(parent.value?.uuid)!;
      waiting.set(key, [...(waiting.get(key) ?? []), line]);
    } else {
      emit(line);
    }
  }
  // Lines whose parents never came out (a cycle) keep their file order.
  for (const line of lines) if (!emitted.has(line)) emit(line);
  return ordered;
}

/** Message id and request id: every line of one API reply carries both. */
function messageKey(value: Json | null): string | null {
  if (value?.type !== 'assistant') return null;
  const id = str(obj(value.message)?.id);
  if (id === null) return null;
  const requestId = str(value.requestId);
  return requestId === null ? id : `${id}:${requestId}`;
}

/** Input counts what the model read: fresh input plus cache writes and reads. */
function usageTokens(value: Json | null): { in: number; out: number } | null {
  const usage = obj(obj(value?.message)?.usage);
  if (usage === null) return null;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return { in: n(usage.input_tokens) + n(usage.cache_creation_input_tokens) + n(usage.cache_read_input_tokens), out: n(usage.output_tokens) };
}

function describe(value: Json | null, toolNames: Map<string, string>): ParsedEvent {
  const event: ParsedEvent = { known: false, role: null, type: str(value?.type) ?? 'unknown', tool: null, text: null, tokensIn: null, tokensOut: null, at: str(value?.timestamp), dedupeKey: null };
  if (value === null) return { ...event, type: 'unknown' };
  const message = obj(value.message);
  const blocks = message === null ? null : contentBlocks(message.content);
  switch (value.type) {
    case 'user': {
      if (blocks === null) return event;
      const result = blocks.find((b) => b.type === 'tool_result');
      if (result !== undefined) {
        const name = toolNames.get(str(result.tool_use_id) ?? '') ?? null;
        return { ...event, known: true, role: 'tool', tool: name, text: resultText(result.content) };
      }
      // Injected context (caveats, command output, a compaction summary) is not the person's turn.
      const role = value.isMeta === true || value.isCompactSummary === true ? 'system' : 'user';
      return { ...event, known: true, role, text: joinText(blocks) };
    }
    case 'assistant': {
      if (blocks === null) return event;
      const call = blocks.find((b) => b.type === 'tool_use');
      if (call !== undefined) {
        const name = str(call.name);
        const id = str(call.id);
        if (id !== null && name !== null) toolNames.set(id, name);
        return { ...event, known: true, role: 'assistant', tool: name, text: summarizeInput(call.input) };
      }
      const thinking = blocks.map((b) => str(b.thinking)).filter((t): t is string => t !== null);
      return { ...event, known: true, role: 'assistant', text: joinText(blocks) ?? (thinking.length > 0 ? thinking.join('\n') : null) };
    }
    case 'system':
      return { ...event, known: true, role: 'system', text: str(value.content) };
    case 'summary':
      return { ...event, known: true, role: 'system', text: str(value.summary) };
    case 'attachment':
      return { ...event, known: obj(value.attachment) !== null, role: 'system' };
    default:
      if (typeof value.type === 'string' && BOOKKEEPING_TYPES.has(value.type)) {
        return { ...event, known: true, text: str(value.customTitle) ?? str(value.aiTitle) };
      }
      return event;
  }
}

function contentBlocks(content: unknown): Json[] | null {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return null;
  return content.filter((b): b is Json => obj(b) !== null);
}

function joinText(blocks: Json[]): string | null {
  const texts = blocks.map((b) => (b.type === 'text' ? str(b.text) : b.type === 'image' ? '[image]' : null)).filter((t): t is string => t !== null);
  return texts.length > 0 ? texts.join('\n') : null;
}

function resultText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  return Array.isArray(content) ? joinText(content.filter((b): b is Json => obj(b) !== null)) : null;
}

/** What a tool call does, in a few words: the command, the file, the pattern, or its input. */
function summarizeInput(input: unknown): string | null {
  const fields = obj(input);
  if (fields === null) return null;
  for (const field of ['command', 'file_path', 'notebook_path', 'pattern', 'url', 'query', 'description', 'prompt']) {
    const value = str(fields[field]);
    if (value !== null) return value;
  }
  return shorten(JSON.stringify(fields), 200);
}

function sessionOf(lines: Line[], sourcePath: string): TranscriptSession | null {
  const values = lines.map((l) => l.value).filter((v): v is Json => v !== null);
  const stem = path.posix.basename(sourcePath.split(path.sep).join('/'), '.jsonl');
  const sessionId = values.map((v) => str(v.sessionId)).find((s) => s !== null) ?? (/^[0-9a-f-]{36}$/.test(stem) ? stem : null);
  if (sessionId === null) return null;
  const models = values.filter((v) => v.type === 'assistant').map((v) => str(obj(v.message)?.model));
  // Claude writes its own error notes as assistant messages of the model `<synthetic>`.
  const model = models.filter((m): m is string => m !== null && m !== '<synthetic>').at(-1) ?? null;
  const times = values.map((v) => str(v.timestamp)).filter((t): t is string => t !== null).sort();
  return {
    sessionId,
    model,
    cwd: values.map((v) => str(v.cwd)).find((c) => c !== null) ?? null,
    startedAt: times[0] ?? null,
    endedAt: times.at(-1) ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// stream-json stdout

function renderLine(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  const value = parseObject(trimmed);
  // Not JSON: the CLI printing an error of its own, worth showing as it is.
  if (value === null) return trimmed;
  const message = obj(value.message);
  const blocks = message === null ? [] : (contentBlocks(message.content) ?? []);
  switch (value.type) {
    case 'system':
      if (value.subtype === 'init') return `session ${str(value.session_id) ?? '?'} (${str(value.model) ?? 'model unknown'})`;
      if (value.subtype === 'api_retry') return `API retry ${num(value.attempt)}/${num(value.max_retries)}: ${str(value.error) ?? 'error'}`;
      if (value.subtype === 'compact_boundary') return 'context compacted';
      return null;
    case 'assistant': {
      const parts = blocks.flatMap((b) => {
        if (b.type === 'text') return str(b.text)?.trim() || [];
        if (b.type === 'tool_use') return `→ tool ${str(b.name) ?? '?'}: ${shorten(summarizeInput(b.input) ?? '', 160)}`;
        return [];
      });
      return parts.length > 0 ? parts.join('\n') : null;
    }
    case 'user': {
      const parts = blocks
        .filter((b) => b.type === 'tool_result')
        .map((b) => `${b.is_error === true ? '← error: ' : '← '}${shorten(resultText(b.content) ?? '', 120)}`);
      return parts.length > 0 ? parts.join('\n') : null;
    }
    case 'result': {
      const usage = obj(value.usage) ?? {};
      const tokensIn = num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens);
      const cost = typeof value.total_cost_usd === 'number' ? `$${value.total_cost_usd.toFixed(4)}` : 'unknown';
      const head = value.is_error === true ? `failed (${str(value.subtype) ?? 'error'})` : 'done';
      return `${head}: ${num(value.num_turns)} turns, tokens in ${tokensIn}/out ${num(usage.output_tokens)}, cost ${cost}`;
    }
    default:
      return null;
  }
}

/** One line, whitespace collapsed, at most `max` characters. */
function shorten(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
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

export const claudeAdapter: AgentAdapter = {
  name: 'claude',
  packageName: '@anthropic-ai/claude-code',
  binName: 'claude',
  baseUrlEnv: 'ANTHROPIC_BASE_URL',
  defaultBaseUrl: DEFAULT_BASE_URL,
  apiKeyEnv: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN'],
  command,
  endpoint,
  excludedHomePaths: EXCLUDED_HOME_PATHS,
  transcriptFiles,
  parseTranscript,
  renderLine,
};
