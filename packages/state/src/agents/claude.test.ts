// The Claude Code adapter on transcripts recorded from the real CLI (2.1.197) against the fake
// Anthropic API; the expected numbers were read off the fixture files by hand.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { claudeAdapter } from './claude.js';
import type { AgentInvocation, ParsedTranscript } from './types.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/transcripts/claude/', import.meta.url));
const FIRST_SESSION = '1c6912ba-fee3-4b9f-ac04-82a0432208d0';
const TOOL_SESSION = '5c7ea5dc-1f1b-40a5-bb21-f6330f98d1ff';

function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

function parse(name: string, sourcePath = `.claude/projects/-home-user-project/${name}`): ParsedTranscript {
  return claudeAdapter.parseTranscript(fixture(name), sourcePath);
}

function totals(parsed: ParsedTranscript): { in: number; out: number } {
  return parsed.records.reduce((sum, r) => ({ in: sum.in + (r.event.tokensIn ?? 0), out: sum.out + (r.event.tokensOut ?? 0) }), { in: 0, out: 0 });
}

function userTurns(parsed: ParsedTranscript): string[] {
  return parsed.records.filter((r) => r.event.role === 'user').map((r) => r.event.text ?? '');
}

function invocation(change: Partial<AgentInvocation> = {}): AgentInvocation {
  return {
    bin: '/opt/agents/bin/claude',
    prompt: 'Fix the failing test',
    resumeSessionId: null,
    extraArgs: [],
    workspace: '/home/user/project',
    home: '/home/user',
    env: {},
    interactive: false,
    ...change,
  };
}

describe('claude command', () => {
  it('runs print mode with stream-json, verbose output and no permission prompts, the prompt after --', () => {
    const command = claudeAdapter.command(invocation());
    expect(command.argv).toEqual([
      '/opt/agents/bin/claude',
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--permission-mode',
      'bypassPermissions',
      '--',
      'Fix the failing test',
    ]);
    expect(command.homeFiles).toEqual([]);
  });

  it('resumes by the session id, and puts the extra arguments after its own flags', () => {
    const command = claudeAdapter.command(invocation({ resumeSessionId: FIRST_SESSION, extraArgs: ['--model', 'sonnet'] }));
    expect(command.argv.slice(7)).toEqual(['--resume', FIRST_SESSION, '--model', 'sonnet', '--', 'Fix the failing test']);
    expect(command.argv).not.toContain('--fork-session');
  });

  it('keeps a prompt that starts with a dash a prompt', () => {
    const command = claudeAdapter.command(invocation({ prompt: '--help me' }));
    expect(command.argv.slice(-2)).toEqual(['--', '--help me']);
  });

  it('runs the plain interactive command for a person, with resume and without the print flags', () => {
    expect(claudeAdapter.command(invocation({ interactive: true, resumeSessionId: FIRST_SESSION, prompt: '' })).argv).toEqual([
      '/opt/agents/bin/claude',
      '--resume',
      FIRST_SESSION,
    ]);
    expect(claudeAdapter.command(invocation({ interactive: true })).argv).toEqual(['/opt/agents/bin/claude', '--', 'Fix the failing test']);
  });

  it('marks onboarding done for an interactive run only, in the config that is never sealed', () => {
    const [file, ...more] = claudeAdapter.command(invocation({ interactive: true })).homeFiles;
    expect(more).toEqual([]);
    expect(file!.path).toBe('.claude.json');
    expect(claudeAdapter.excludedHomePaths).toContain(file!.path);
    expect(JSON.parse(file!.content)).toEqual({ hasCompletedOnboarding: true });
  });

  it('switches off non-essential traffic and allows bypassPermissions as uid 0 inside bubblewrap', () => {
    expect(claudeAdapter.command(invocation()).env).toEqual({
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_AUTOUPDATER: '1',
      CLAUDE_CODE_BUBBLEWRAP: '1',
    });
  });
});

describe('claude endpoint', () => {
  it('defaults to api.anthropic.com, allowed by name', () => {
    expect(claudeAdapter.endpoint({})).toEqual({ baseUrl: 'https://api.anthropic.com', allowHost: 'api.anthropic.com' });
    expect(claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: '' }).allowHost).toBe('api.anthropic.com');
  });

  it('allows an address with its port, and a name on another port with that port', () => {
    expect(claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:41234' })).toEqual({ baseUrl: 'http://127.0.0.1:41234', allowHost: '127.0.0.1:41234' });
    expect(claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'http://127.0.0.1' }).allowHost).toBe('127.0.0.1:80');
    expect(claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'https://gateway.example.com:8443/anthropic' }).allowHost).toBe('gateway.example.com:8443');
    expect(claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'https://gateway.example.com/anthropic' }).allowHost).toBe('gateway.example.com');
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(codeOf(() => claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'api.anthropic.com' }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => claudeAdapter.endpoint({ ANTHROPIC_BASE_URL: 'ftp://127.0.0.1:21' }))).toBe('INVALID_ARGUMENT');
  });
});

describe('claude home files', () => {
  let cleanup = () => {};
  afterEach(() => cleanup());

  it('never seals the config that can hold a key, its backups, OAuth tokens or environment dumps', () => {
    for (const entry of ['.claude.json', '.claude/backups/', '.claude/.credentials.json', '.claude/telemetry/', '.claude/shell-snapshots/']) {
      expect(claudeAdapter.excludedHomePaths).toContain(entry);
    }
    expect(claudeAdapter.excludedHomePaths.filter((p) => p.startsWith('.claude/projects'))).toEqual([]);
  });

  it('lists the session files of every project directory, sorted, and nothing else', () => {
    const temp = makeTempDir('swarm-claude-home-');
    cleanup = temp.cleanup;
    const projects = path.join(temp.dir, '.claude', 'projects');
    const write = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(projects, rel)), { recursive: true });
      fs.writeFileSync(path.join(projects, rel), '{}\n');
    };
    write('-home-user-project/b.jsonl');
    write('-home-user-project/a.jsonl');
    write('-home-user-other/c.jsonl');
    write('-home-user-project/memory/MEMORY.md');
    write('-home-user-project/notes.txt');
    expect(claudeAdapter.transcriptFiles(temp.dir)).toEqual([
      path.join(projects, '-home-user-other', 'c.jsonl'),
      path.join(projects, '-home-user-project', 'a.jsonl'),
      path.join(projects, '-home-user-project', 'b.jsonl'),
    ]);
  });

  it('lists nothing for a home Claude never ran in', () => {
    const temp = makeTempDir('swarm-claude-home-');
    cleanup = temp.cleanup;
    expect(claudeAdapter.transcriptFiles(temp.dir)).toEqual([]);
  });
});

describe('claude transcripts', () => {
  it('reads a first session: offsets, roles, the prompt and the reply, the session', () => {
    const parsed = parse('first-session.jsonl');
    expect(parsed.session).toEqual({
      sessionId: FIRST_SESSION,
      model: 'claude-opus-4-8',
      cwd: '/home/user/project',
      startedAt: '2026-12-01T23:55:54.309Z',
      endedAt: '2026-12-01T23:55:54.409Z',
    });
    expect(parsed.records.map((r) => r.offset)).toEqual([0, 176, 315, 787, 2709, 7843, 8783]);
    expect(parsed.records.map((r) => [r.event.type, r.event.role])).toEqual([
      ['queue-operation', null],
      ['queue-operation', null],
      ['user', 'user'],
      ['attachment', 'system'],
      ['attachment', 'system'],
      ['assistant', 'assistant'],
      ['last-prompt', null],
    ]);
    expect(parsed.records.every((r) => r.event.known)).toBe(true);
    expect(parsed.unknown).toBe(0);
    expect(parsed.truncatedTail).toBe(false);
    expect(userTurns(parsed)).toEqual(['Say hello to the fixture']);
    const reply = parsed.records[5]!;
    expect(reply.event).toMatchObject({ text: 'reply 1: Say hello to the fixture', tokensIn: 1542 + 17229, tokensOut: 9, at: '2026-12-01T23:55:54.409Z' });
    expect(reply.event.dedupeKey).toBe('msg_fake000001:req_fake000001#0');
    // Each raw line is the file's bytes at its offset.
    const bytes = fixture('first-session.jsonl');
    for (const r of parsed.records) expect(bytes.subarray(r.offset, r.offset + Buffer.byteLength(r.raw)).toString()).toBe(r.raw);
  });

  it('reads a resumed session: the same id, the earlier turn kept, both replies counted', () => {
    const parsed = parse('resumed-session.jsonl');
    expect(parsed.session?.sessionId).toBe(FIRST_SESSION);
    expect(parsed.session?.endedAt).toBe('2026-12-01T23:55:55.335Z');
    expect(parsed.records).toHaveLength(13);
    expect(userTurns(parsed)).toEqual(['Say hello to the fixture', 'And now say goodbye']);
    expect(parsed.records.filter((r) => r.event.role === 'assistant').map((r) => r.event.text)).toEqual([
      'reply 1: Say hello to the fixture',
      'reply 2: And now say goodbye',
    ]);
    // (1542 + 17229 + 0) + (28 + 0 + 18891) in, 9 + 7 out
    expect(totals(parsed)).toEqual({ in: 37690, out: 16 });
  });

  it('counts a reply written as several lines once, and names the tools of calls and results', () => {
    const parsed = parse('tool-call.jsonl');
    expect(parsed.session?.sessionId).toBe(TOOL_SESSION);
    const calls = parsed.records.filter((r) => r.event.role === 'assistant' && r.event.tool !== null);
    expect(calls.map((r) => [r.event.tool, r.event.text])).toEqual([
      ['Write', '/home/user/project/greeting.txt'],
      ['Bash', 'wc -c greeting.txt'],
    ]);
    const results = parsed.records.filter((r) => r.event.role === 'tool');
    expect(results.map((r) => [r.event.tool, r.event.text])).toEqual([
      ['Write', 'File created successfully at: /home/user/project/greeting.txt (file state is current in your context — no need to Read it back)'],
      ['Bash', '18 greeting.txt'],
    ]);
    // msg_fake000003 is a text line and a tool_use line, each carrying the usage 1542 + 17230 in, 27 out.
    const split = parsed.records.filter((r) => r.event.dedupeKey?.startsWith('msg_fake000003:req_fake000003'));
    expect(split.map((r) => [r.event.text, r.event.tokensIn, r.event.tokensOut, r.event.dedupeKey])).toEqual([
      ["I'll create the file.", 18772, 27, 'msg_fake000003:req_fake000003#0'],
      ['/home/user/project/greeting.txt', null, null, 'msg_fake000003:req_fake000003#1'],
    ]);
    // 18772 + (66 + 18937) + (42 + 19039) in, 27 + 20 + 8 out: what the run's own result line reports.
    expect(totals(parsed)).toEqual({ in: 56856, out: 55 });
    const result = JSON.parse(fixture('stream-json-stdout.jsonl').toString().trim().split('\n').at(-1)!);
    expect(result.usage.input_tokens + result.usage.cache_creation_input_tokens + result.usage.cache_read_input_tokens).toBe(56856);
    expect(userTurns(parsed)).toEqual(['Create greeting.txt and count its bytes']);
  });

  it('keeps lines of an unknown shape raw and counts them', () => {
    const parsed = parse('unknown-event.jsonl');
    expect(parsed.records).toHaveLength(9);
    expect(parsed.unknown).toBe(2);
    const unknown = parsed.records.filter((r) => !r.event.known);
    expect(unknown.map((r) => [r.event.type, r.event.role, r.event.at])).toEqual([
      ['x-future-event', null, '2026-12-01T23:55:54.350Z'],
      ['assistant', null, '2026-12-01T23:55:54.351Z'],
    ]);
    expect(JSON.parse(unknown[0]!.raw).payload.note).toBe('a line shape this parser has never seen');
    expect(parsed.session?.sessionId).toBe(FIRST_SESSION);
    expect(totals(parsed)).toEqual({ in: 18771, out: 9 });
  });

  it('leaves a truncated last line for the next run', () => {
    const parsed = parse('truncated-tail.jsonl');
    expect(parsed.truncatedTail).toBe(true);
    expect(parsed.records).toHaveLength(10);
    expect(parsed.records.at(-1)!.event.text).toBe('And now say goodbye');
    expect(parsed.records.some((r) => r.raw.includes('msg_fake000002'))).toBe(false);
    expect(totals(parsed)).toEqual({ in: 18771, out: 9 });
  });

  it('takes a complete last line without its newline, and a broken line inside the file as unknown', () => {
    const lines = fixture('first-session.jsonl').toString().trimEnd().split('\n');
    const withoutNewline = claudeAdapter.parseTranscript(Buffer.from(lines.join('\n')), 'x.jsonl');
    expect(withoutNewline.truncatedTail).toBe(false);
    expect(withoutNewline.records).toHaveLength(7);
    const broken = claudeAdapter.parseTranscript(Buffer.from([...lines.slice(0, 3), '{"type":"user",', ...lines.slice(3)].join('\n') + '\n'), 'x.jsonl');
    expect(broken.records).toHaveLength(8);
    expect(broken.records[3]!.event).toMatchObject({ known: false, type: 'unknown' });
    expect(broken.unknown).toBe(1);
  });

  it('puts a line after its parent when the file has it first, keeping each offset', () => {
    const lines = fixture('tool-call.jsonl').toString().trimEnd().split('\n');
    // The Bash call (line 9) written before the Write result (line 8) it follows.
    const swapped = [...lines.slice(0, 7), lines[8]!, lines[7]!, ...lines.slice(9)];
    const parsed = claudeAdapter.parseTranscript(Buffer.from(swapped.join('\n') + '\n'), 'x.jsonl');
    const order = parsed.records.map((r) => [r.event.role, r.event.tool]).slice(5, 9);
    expect(order).toEqual([
      ['assistant', null],
      ['assistant', 'Write'],
      ['tool', 'Write'],
      ['assistant', 'Bash'],
    ]);
    const bash = parsed.records.find((r) => r.event.tool === 'Bash' && r.event.role === 'assistant')!;
    expect(bash.offset).toBe(Buffer.byteLength(lines.slice(0, 7).join('\n')) + 1);
  });

  it('does not count context Claude injects as a user turn', () => {
    const lines = fixture('first-session.jsonl').toString().trimEnd().split('\n');
    const meta = { ...JSON.parse(lines[2]!), uuid: '0f0f0f0f-0000-4000-8000-000000000002', isMeta: true, message: { role: 'user', content: 'Caveat: the messages below were generated by a local command.' } };
    const parsed = claudeAdapter.parseTranscript(Buffer.from([...lines, JSON.stringify(meta)].join('\n') + '\n'), 'x.jsonl');
    expect(parsed.records.at(-1)!.event).toMatchObject({ known: true, role: 'system', text: 'Caveat: the messages below were generated by a local command.' });
    expect(userTurns(parsed)).toEqual(['Say hello to the fixture']);
  });

  it('takes the session id from the file name when no line names one, and none from a file of neither', () => {
    const line = '{"type":"x-future-event"}\n';
    expect(claudeAdapter.parseTranscript(Buffer.from(line), `.claude/projects/p/${TOOL_SESSION}.jsonl`).session?.sessionId).toBe(TOOL_SESSION);
    expect(claudeAdapter.parseTranscript(Buffer.from(line), '.claude/projects/p/notes.jsonl').session).toBeNull();
  });
});

describe('claude stream-json lines', () => {
  it('shows the session, the replies, the tool calls and shortened results, and a closing summary', () => {
    const lines = fixture('stream-json-stdout.jsonl').toString().trimEnd().split('\n');
    expect(lines.map((line) => claudeAdapter.renderLine(line))).toEqual([
      `session ${TOOL_SESSION} (claude-opus-4-8[1m])`,
      "I'll create the file.",
      '→ tool Write: /home/user/project/greeting.txt',
      '← File created successfully at: /home/user/project/greeting.txt (file state is current in your context — no need to Read…',
      '→ tool Bash: wc -c greeting.txt',
      '← 18 greeting.txt',
      'The file has 18 greeting.txt.',
      'done: 3 turns, tokens in 56856/out 55, cost $0.1363',
    ]);
  });

  it('shows nothing for noise and says when a run failed', () => {
    expect(claudeAdapter.renderLine('')).toBeNull();
    expect(claudeAdapter.renderLine('{"type":"stream_event","event":{"type":"ping"}}')).toBeNull();
    expect(claudeAdapter.renderLine('{"type":"system","subtype":"hook_started"}')).toBeNull();
    expect(claudeAdapter.renderLine('{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,"total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}')).toBe(
      'failed (error_during_execution): 0 turns, tokens in 0/out 0, cost $0.0000',
    );
    expect(claudeAdapter.renderLine('No conversation found with session ID: 1234')).toBe('No conversation found with session ID: 1234');
  });
});
