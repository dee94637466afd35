import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSwarmError } from '@swarm/core';
import { codexAdapter } from './codex.js';
import type { AgentInvocation, ParsedTranscript } from './types.js';

const fixtures = fileURLToPath(new URL('../../test/fixtures/transcripts/codex/', import.meta.url));
const read = (name: string) => fs.readFileSync(path.join(fixtures, name));
const parse = (name: string): ParsedTranscript => codexAdapter.parseTranscript(read(name), `.codex/sessions/2026/12/02/${name}`);
const lines = (name: string) => read(name).toString('utf8').split('\n').filter((line) => line !== '');

const FIRST_ID = '01a2340e-66b1-7751-935c-2edc1e074e2e';

function totals(parsed: ParsedTranscript): { in: number; out: number } {
  return parsed.records.reduce((sum, r) => ({ in: sum.in + (r.event.tokensIn ?? 0), out: sum.out + (r.event.tokensOut ?? 0) }), { in: 0, out: 0 });
}

/** What the archive counts as turns: user records that are not tool results. */
function prompts(parsed: ParsedTranscript): string[] {
  return parsed.records.filter((r) => r.event.role === 'user' && r.event.tool === null && r.event.text !== null).map((r) => r.event.text!);
}

describe('codex rollout: a first session', () => {
  const parsed = parse('first.jsonl');

  it('names the session, its cwd, model and times', () => {
    expect(parsed.session).toEqual({
      sessionId: FIRST_ID,
      cwd: '/home/user/project',
      model: 'gpt-6.2-sol',
      startedAt: '2026-12-02T00:01:28.758Z',
      endedAt: '2026-12-02T00:01:28.892Z',
    });
  });

  it('keeps every line with its byte offset and raw text', () => {
    expect(parsed.records).toHaveLength(18);
    expect(parsed.records.slice(0, 4).map((r) => r.offset)).toEqual([0, 641, 1137, 9177]);
    expect(parsed.records.at(-1)!.offset).toBe(21011);
    const text = read('first.jsonl');
    for (const record of parsed.records) expect(text.subarray(record.offset, record.offset + Buffer.byteLength(record.raw)).toString('utf8')).toBe(record.raw);
    expect(parsed.unknown).toBe(0);
    expect(parsed.truncatedTail).toBe(false);
  });

  it('reads the prompt and the reply, and Codex’s own context as system', () => {
    expect(prompts(parsed)).toEqual(['hello codex, remember the word pelican']);
    const reply = parsed.records[14]!.event;
    expect(reply).toMatchObject({ role: 'assistant', type: 'response_item', text: 'reply 1: hello codex, remember the word pelican', dedupeKey: 'item:msg_0001' });
    expect(reply.at).toBe('2026-12-02T00:01:28.880Z');
    // Four developer messages and the <environment_context> user message.
    expect(parsed.records.slice(3, 8).map((r) => r.event.role)).toEqual(['system', 'system', 'system', 'system', 'system']);
    expect(parsed.records[7]!.event.text).toMatch(/^<environment_context>/);
  });

  it('types each line by its envelope and gives UI events no role', () => {
    expect(parsed.records.map((r) => r.event.type)).toEqual([
      'session_meta',
      'event_msg',
      'response_item',
      'response_item',
      'response_item',
      'response_item',
      'response_item',
      'response_item',
      'world_state',
      'turn_context',
      'event_msg',
      'response_item',
      'event_msg',
      'event_msg',
      'response_item',
      'token_usage_record',
      'event_msg',
      'event_msg',
    ]);
    for (const index of [1, 10, 12, 13, 16, 17]) expect(parsed.records[index]!.event.role).toBeNull();
  });

  it('counts the tokens once, from token_count', () => {
    expect(parsed.records.filter((r) => r.event.tokensIn !== null).map((r) => [r.offset, r.event.tokensIn, r.event.tokensOut])).toEqual([[20311, 170, 8]]);
  });
});

describe('codex rollout: a resumed session', () => {
  const parsed = parse('resumed.jsonl');

  it('is the first file with the resumed turn appended, under the same id', () => {
    const first = read('first.jsonl');
    expect(read('resumed.jsonl').subarray(0, first.length).equals(first)).toBe(true);
    expect(parsed.records.slice(0, 18)).toEqual(parse('first.jsonl').records);
    expect(parsed.records).toHaveLength(28);
    expect(parsed.session).toMatchObject({ sessionId: FIRST_ID, startedAt: '2026-12-02T00:01:28.758Z', endedAt: '2026-12-02T00:01:29.282Z' });
  });

  it('de-cumulates the running totals: the resumed turn adds only its own tokens', () => {
    expect(parsed.records.filter((r) => r.event.tokensIn !== null).map((r) => [r.offset, r.event.tokensIn, r.event.tokensOut])).toEqual([
      [20311, 170, 8],
      [26264, 190, 6],
    ]);
    // The file's last running total (360 in, 14 out), not 170 + 360.
    expect(totals(parsed)).toEqual({ in: 360, out: 14 });
  });

  it('reads both prompts', () => {
    expect(prompts(parsed)).toEqual(['hello codex, remember the word pelican', 'what was the word?']);
    expect(parsed.records[24]!.event.text).toBe('reply 2: what was the word?');
  });
});

describe('codex rollout: tool calls', () => {
  it('code mode: the exec cell and its output, by call id', () => {
    const parsed = parse('tool-call.jsonl');
    const call = parsed.records[13]!;
    expect(call.offset).toBe(18440);
    expect(call.event).toMatchObject({ role: 'assistant', tool: 'exec', dedupeKey: 'item:ctc_0003' });
    expect(call.event.text).toBe('const result = await tools.exec_command({ cmd: "printf \\"one\\\\ntwo\\\\n\\" > notes.txt && wc -l notes.txt" });\ntext(result);\n');
    const output = parsed.records[16]!.event;
    expect(output).toMatchObject({ role: 'tool', tool: 'exec' });
    expect(output.text).toBe(
      'Script completed\nWall time 0.2 seconds\nOutput:\n{"chunk_id":"108559","wall_time_seconds":0.000011417,"exit_code":0,"original_token_count":3,"output":"2 notes.txt\\n"}',
    );
    expect(parsed.records.filter((r) => r.event.tool !== null && r.event.role === 'assistant').map((r) => r.event.tool)).toEqual(['exec']);
    expect(parsed.records.filter((r) => r.event.tokensIn !== null).map((r) => [r.event.tokensIn, r.event.tokensOut])).toEqual([
      [170, 20],
      [190, 8],
    ]);
    expect(prompts(parsed)).toEqual(['please RUN: printf "one\\ntwo\\n" > notes.txt && wc -l notes.txt']);
  });

  it('function tools: exec_command shows its command, the output names the tool', () => {
    const parsed = parse('function-call.jsonl');
    expect(parsed.session?.model).toBe('gpt-5-codex');
    expect(parsed.records[9]!.event).toMatchObject({ role: 'assistant', tool: 'exec_command', text: 'ls', dedupeKey: 'item:fc_0005' });
    expect(parsed.records[12]!.event).toMatchObject({
      role: 'tool',
      tool: 'exec_command',
      text: 'Chunk ID: ac20ee\nWall time: 0.0000 seconds\nProcess exited with code 0\nOriginal token count: 0\nOutput:\n',
    });
    expect(totals(parsed)).toEqual({ in: 300, out: 25 });
  });
});

describe('codex rollout: what the parser does not know', () => {
  it('keeps unknown shapes raw, counted and without content', () => {
    const parsed = parse('unknown-shapes.jsonl');
    expect(parsed.records).toHaveLength(23);
    expect(parsed.unknown).toBe(5);
    const unknown = parsed.records.filter((r) => !r.event.known);
    expect(unknown.map((r) => [r.event.type, r.raw.slice(0, 20)])).toEqual([
      ['response_item', '{"timestamp":"2026-1'],
      ['event_msg', '{"timestamp":"2026-1'],
      ['future_envelope', '{"timestamp":"2026-1'],
      ['unknown', 'not json at all {'],
      ['unknown', '[1,2,3]'],
    ]);
    expect(unknown.map((r) => r.event.at)).toEqual(['2026-12-02T00:01:28.881Z', '2026-12-02T00:01:28.882Z', '2026-12-02T00:01:28.883Z', null, null]);
    for (const r of unknown) expect([r.event.role, r.event.text, r.event.tokensIn]).toEqual([null, null, null]);
    expect(unknown[0]!.offset).toBe(19520);
    // The known lines read as in first.jsonl.
    expect(parsed.session?.sessionId).toBe(FIRST_ID);
    expect(totals(parsed)).toEqual({ in: 170, out: 8 });
  });

  it('leaves a truncated last line for the next run', () => {
    const parsed = parse('truncated.jsonl');
    expect(parsed.truncatedTail).toBe(true);
    expect(parsed.records).toHaveLength(17);
    expect(parsed.records.at(-1)!.offset).toBe(20311);
    expect(parsed.session?.endedAt).toBe('2026-12-02T00:01:28.886Z');
    expect(parsed.unknown).toBe(0);
  });

  it('names no session in a file without session_meta', () => {
    const parsed = codexAdapter.parseTranscript(Buffer.from(lines('first.jsonl').slice(1).join('\n') + '\n'), 'x.jsonl');
    expect(parsed.session).toBeNull();
    expect(parsed.records).toHaveLength(17);
  });
});

describe('codex rollout: other versions', () => {
  const envelope = (type: string, payload: unknown, at = '2026-01-01T00:00:00.000Z') => JSON.stringify({ timestamp: at, type, payload });
  const tokenCount = (input: number, output: number) => envelope('event_msg', { type: 'token_count', info: { total_token_usage: { input_tokens: input, output_tokens: output } } });

  it('a running total that goes down starts a new count', () => {
    const text = [envelope('session_meta', { id: 's1' }), tokenCount(100, 10), tokenCount(100, 10), tokenCount(250, 30), tokenCount(40, 4)].join('\n') + '\n';
    const parsed = codexAdapter.parseTranscript(Buffer.from(text), 'x.jsonl');
    expect(parsed.records.slice(1).map((r) => [r.event.tokensIn, r.event.tokensOut])).toEqual([
      [100, 10],
      [0, 0],
      [150, 20],
      [40, 4],
    ]);
  });

  it('reads the early format: a bare header line, bare items, state records, per-turn token counts', () => {
    const text = [
      JSON.stringify({ id: 'legacy-1', timestamp: '2025-05-01T10:00:00.000Z', instructions: null }),
      JSON.stringify({ record_type: 'state' }),
      JSON.stringify({ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }),
      JSON.stringify({ type: 'function_call', name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', 'ls -a'] }), call_id: 'c1' }),
      JSON.stringify({ type: 'function_call_output', call_id: 'c1', output: JSON.stringify({ output: '.\n..\n', metadata: { exit_code: 0 } }) }),
      JSON.stringify({ type: 'local_shell_call', call_id: 'c2', action: { type: 'exec', command: ['pwd'] } }),
      envelope('event_msg', { type: 'token_count', input_tokens: 12, output_tokens: 3 }),
    ].join('\n');
    const parsed = codexAdapter.parseTranscript(Buffer.from(text + '\n'), 'x.jsonl');
    expect(parsed.session).toEqual({ sessionId: 'legacy-1', cwd: null, model: null, startedAt: '2025-05-01T10:00:00.000Z', endedAt: '2026-01-01T00:00:00.000Z' });
    expect(parsed.unknown).toBe(0);
    expect(parsed.records.map((r) => [r.event.role, r.event.tool, r.event.text])).toEqual([
      [null, null, null],
      [null, null, null],
      ['user', null, 'hi'],
      ['assistant', 'shell', 'ls -a'],
      ['tool', 'shell', '.\n..\n'],
      ['assistant', 'local_shell', 'pwd'],
      [null, null, null],
    ]);
    expect(totals(parsed)).toEqual({ in: 12, out: 3 });
  });

  it('reads a complete last line without a newline', () => {
    const text = [envelope('session_meta', { id: 's1' }), tokenCount(5, 1)].join('\n');
    const parsed = codexAdapter.parseTranscript(Buffer.from(text), 'x.jsonl');
    expect(parsed.truncatedTail).toBe(false);
    expect(parsed.records).toHaveLength(2);
  });
});

describe('codex --json output', () => {
  const render = (name: string) => lines(name).map((line) => codexAdapter.renderLine(line));

  it('a tool call: the command, its output, the reply, the tokens', () => {
    expect(render('exec-tool-call.stdout.jsonl')).toEqual([
      'codex session 01a2340e-6a13-7350-b559-2b5fa7e559f6',
      null,
      '→ shell: printf "one\\ntwo\\n" > notes.txt && wc -l notes.txt',
      '  2 notes.txt',
      'reply 4: please RUN: printf "one\\ntwo\\n" > notes.',
      'tokens (session): 360 in, 28 out',
    ]);
  });

  it('an error item, a bare command with no output', () => {
    expect(render('exec-fallback-model.stdout.jsonl')).toEqual([
      'codex session 01a2340e-6d95-74c3-bc0b-68a118d09c8f',
      '! Model metadata for `gpt-5-codex` not found. Defaulting to fallback metadata; this can degrade performance and cause issues.',
      null,
      '→ shell: ls',
      null,
      'reply 6: please RUN: ls',
      'tokens (session): 300 in, 25 out',
    ]);
  });

  it('a resume reports the first session’s id', () => {
    expect(render('exec-resume.stdout.jsonl')).toEqual([`codex session ${FIRST_ID}`, null, 'reply 2: what was the word?', 'tokens (session): 360 in, 14 out']);
  });

  it('shortens long output, shows failures, quotes and noise', () => {
    const done = (item: object) => codexAdapter.renderLine(JSON.stringify({ type: 'item.completed', item }));
    expect(done({ type: 'command_execution', command: 'x', aggregated_output: 'a\nb\nc\nd\ne\n', exit_code: 0 })).toBe('  a\n  b\n  c\n  … 2 more lines');
    expect(done({ type: 'command_execution', command: 'x', aggregated_output: '', exit_code: 2 })).toBe('  (exit 2)');
    expect(done({ type: 'file_change', changes: [{ path: 'a.ts', kind: 'update' }, { path: 'b.ts', kind: 'add' }] })).toBe('→ edit: a.ts, b.ts');
    expect(done({ type: 'reasoning', text: 'thinking' })).toBeNull();
    const started = (command: string) => codexAdapter.renderLine(JSON.stringify({ type: 'item.started', item: { type: 'command_execution', command } }));
    expect(started("/bin/bash -lc 'echo it'\\''s'")).toBe("→ shell: echo it's");
    expect(started('/usr/bin/zsh -c "echo \\$HOME"')).toBe('→ shell: echo $HOME');
    expect(started('python3 -c pass')).toBe('→ shell: python3 -c pass');
    expect(codexAdapter.renderLine(JSON.stringify({ type: 'turn.failed', error: { message: 'stream closed' } }))).toBe('! turn failed: stream closed');
    expect(codexAdapter.renderLine(JSON.stringify({ type: 'turn.completed', usage: { input_tokens: 10, cached_input_tokens: 4, output_tokens: 2 } }))).toBe(
      'tokens (session): 10 in (4 cached), 2 out',
    );
    expect(codexAdapter.renderLine(JSON.stringify({ type: 'item.updated', item: { type: 'todo_list' } }))).toBeNull();
    expect(codexAdapter.renderLine('')).toBeNull();
    expect(codexAdapter.renderLine('plain text from somewhere')).toBe('plain text from somewhere');
  });
});

describe('codex command', () => {
  const invocation = (changes: Partial<AgentInvocation> = {}): AgentInvocation => ({
    bin: '/usr/local/bin/codex',
    prompt: 'fix the tests',
    resumeSessionId: null,
    extraArgs: [],
    workspace: '/home/user/project',
    home: '/home/user',
    env: { OPENAI_API_KEY: 'sk-test', OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1' },
    interactive: false,
    ...changes,
  });
  const config = [
    '-c',
    'model_provider="swarm"',
    '-c',
    'model_providers.swarm.name="swarm"',
    '-c',
    'model_providers.swarm.base_url="http://127.0.0.1:4010/v1"',
    '-c',
    'model_providers.swarm.env_key="OPENAI_API_KEY"',
    '-c',
    'model_providers.swarm.wire_api="responses"',
    '-c',
    'features.plugins=false',
    '-c',
    'analytics.enabled=false',
    '-c',
    'check_for_update_on_startup=false',
  ];
  const exec = ['/usr/local/bin/codex', 'exec', '--json', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', ...config];

  it('runs exec --json with the endpoint as a provider, the prompt, then the extra arguments', () => {
    expect(codexAdapter.command(invocation({ extraArgs: ['-m', 'gpt-5'] }))).toEqual({ argv: [...exec, 'fix the tests', '-m', 'gpt-5'], env: {}, homeFiles: [] });
  });

  it('resumes by explicit session id', () => {
    expect(codexAdapter.command(invocation({ resumeSessionId: FIRST_ID })).argv).toEqual([...exec, 'resume', FIRST_ID, 'fix the tests']);
  });

  it('puts a prompt that looks like an option after --', () => {
    expect(codexAdapter.command(invocation({ prompt: '--help me', extraArgs: ['-m', 'x'] })).argv).toEqual([...exec, '-m', 'x', '--', '--help me']);
  });

  it('interactive: plain codex, resume <id>, no prompt when there is none', () => {
    const tui = ['/usr/local/bin/codex', '--dangerously-bypass-approvals-and-sandbox', ...config];
    expect(codexAdapter.command(invocation({ interactive: true })).argv).toEqual([...tui, 'fix the tests']);
    expect(codexAdapter.command(invocation({ interactive: true, prompt: '', resumeSessionId: FIRST_ID })).argv).toEqual([...tui, 'resume', FIRST_ID]);
  });

  it('takes the key from CODEX_API_KEY when only that is granted, and the default endpoint without OPENAI_BASE_URL', () => {
    const argv = codexAdapter.command(invocation({ env: { CODEX_API_KEY: 'sk-test' } })).argv;
    expect(argv).toContain('model_providers.swarm.env_key="CODEX_API_KEY"');
    expect(argv).toContain('model_providers.swarm.base_url="https://api.openai.com/v1"');
  });

  it('quotes the base URL as a TOML string', () => {
    const argv = codexAdapter.command(invocation({ env: { OPENAI_BASE_URL: 'https://gw.example/v1?a="b"' } })).argv;
    expect(argv).toContain('model_providers.swarm.base_url="https://gw.example/v1?a=\\"b\\""');
  });
});

describe('codex endpoint', () => {
  it('allows the base URL’s host and port', () => {
    expect(codexAdapter.endpoint({})).toEqual({ baseUrl: 'https://api.openai.com/v1', allowHost: 'api.openai.com:443' });
    expect(codexAdapter.endpoint({ OPENAI_BASE_URL: 'http://127.0.0.1:4010/v1' })).toEqual({ baseUrl: 'http://127.0.0.1:4010/v1', allowHost: '127.0.0.1:4010' });
    expect(codexAdapter.endpoint({ OPENAI_BASE_URL: 'http://proxy.internal' })).toEqual({ baseUrl: 'http://proxy.internal', allowHost: 'proxy.internal:80' });
    expect(codexAdapter.endpoint({ OPENAI_BASE_URL: 'https://[::1]:8443/v1' }).allowHost).toBe('[::1]:8443');
    expect(codexAdapter.endpoint({ OPENAI_BASE_URL: '  ' }).baseUrl).toBe('https://api.openai.com/v1');
  });

  it('refuses a base URL that is not http(s)', () => {
    for (const value of ['api.openai.com/v1', 'ftp://host/v1']) {
      let error: unknown;
      try {
        codexAdapter.endpoint({ OPENAI_BASE_URL: value });
      } catch (caught) {
        error = caught;
      }
      expect(isSwarmError(error) && error.code).toBe('AGENT_OPTIONS_INVALID');
    }
  });
});

describe('codex home', () => {
  it('finds the rollouts under ~/.codex/sessions, sorted, and nothing else', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-codex-home-'));
    try {
      const day = (d: string) => path.join(home, '.codex', 'sessions', '2026', '12', d);
      fs.mkdirSync(day('02'), { recursive: true });
      fs.mkdirSync(day('01'), { recursive: true });
      fs.writeFileSync(path.join(day('02'), 'rollout-2026-12-02T00-00-00-b.jsonl'), '');
      fs.writeFileSync(path.join(day('01'), 'rollout-2026-12-01T23-00-00-a.jsonl'), '');
      fs.writeFileSync(path.join(day('01'), 'notes.jsonl'), '');
      fs.mkdirSync(path.join(home, '.codex', 'archived_sessions'), { recursive: true });
      fs.writeFileSync(path.join(home, '.codex', 'archived_sessions', 'rollout-x.jsonl'), '');
      expect(codexAdapter.transcriptFiles(home).map((file) => path.relative(home, file))).toEqual([
        '.codex/sessions/2026/12/01/rollout-2026-12-01T23-00-00-a.jsonl',
        '.codex/sessions/2026/12/02/rollout-2026-12-02T00-00-00-b.jsonl',
      ]);
      expect(codexAdapter.transcriptFiles(path.join(home, 'nowhere'))).toEqual([]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('never seals the credential files and the environment dumps', () => {
    expect(codexAdapter.excludedHomePaths).toEqual(expect.arrayContaining(['.codex/auth.json', '.codex/shell_snapshots/', '.codex/.credentials.json', '.codex/secrets/']));
    expect(codexAdapter.excludedHomePaths).not.toContain('.codex/sessions/');
  });
});
