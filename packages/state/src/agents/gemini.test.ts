// The Gemini CLI adapter on chat recordings made by the real CLI (0.61.0) against the fake Gemini
// API, and on hand-made variants; the expected numbers were read off the fixture files by hand.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { geminiAdapter } from './gemini.js';
import type { AgentInvocation, ParsedTranscript } from './types.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/transcripts/gemini/', import.meta.url));
const FIRST_SESSION = 'e05e01ef-2cee-4c09-b6f4-47d8e49bfed1';
const TOOL_SESSION = '25cd679d-a957-4981-b332-c221c5381d09';
const CHATS = '.gemini/tmp/project/chats';

function fixture(name: string): Buffer {
  return fs.readFileSync(path.join(FIXTURES, name));
}

function parse(name: string, sourcePath = `${CHATS}/${name}`): ParsedTranscript {
  return geminiAdapter.parseTranscript(fixture(name), sourcePath);
}

function totals(parsed: ParsedTranscript): { in: number; out: number } {
  return parsed.records.reduce((sum, r) => ({ in: sum.in + (r.event.tokensIn ?? 0), out: sum.out + (r.event.tokensOut ?? 0) }), { in: 0, out: 0 });
}

function userTurns(parsed: ParsedTranscript): string[] {
  return parsed.records.filter((r) => r.event.role === 'user').map((r) => r.event.text ?? '');
}

function invocation(change: Partial<AgentInvocation> = {}): AgentInvocation {
  return {
    bin: '/opt/agents/bin/gemini',
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

describe('gemini command', () => {
  it('runs headless with stream-json and yolo approvals, the prompt joined to its flag', () => {
    const command = geminiAdapter.command(invocation());
    expect(command.argv).toEqual(['/opt/agents/bin/gemini', '--prompt=Fix the failing test', '--output-format', 'stream-json', '--approval-mode', 'yolo']);
  });

  it('resumes by session id and passes extra arguments last', () => {
    const command = geminiAdapter.command(invocation({ resumeSessionId: FIRST_SESSION, extraArgs: ['--model', 'gemini-2.5-pro'] }));
    expect(command.argv).toEqual([
      '/opt/agents/bin/gemini',
      '--prompt=Fix the failing test',
      '--output-format',
      'stream-json',
      '--approval-mode',
      'yolo',
      `--resume=${FIRST_SESSION}`,
      '--model',
      'gemini-2.5-pro',
    ]);
  });

  it('keeps a prompt that starts with a dash inside its flag', () => {
    expect(geminiAdapter.command(invocation({ prompt: '--help me' })).argv[1]).toBe('--prompt=--help me');
  });

  it('runs the plain interactive CLI for a person: resume, an optional first prompt, no stream-json, no yolo', () => {
    expect(geminiAdapter.command(invocation({ interactive: true, prompt: '', resumeSessionId: FIRST_SESSION })).argv).toEqual(['/opt/agents/bin/gemini', `--resume=${FIRST_SESSION}`]);
    expect(geminiAdapter.command(invocation({ interactive: true, extraArgs: ['--debug'] })).argv).toEqual(['/opt/agents/bin/gemini', '--prompt-interactive=Fix the failing test', '--debug']);
  });

  it('trusts the workspace, never starts its own sandbox, stays one process, and sends no telemetry', () => {
    expect(geminiAdapter.command(invocation()).env).toEqual({
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
      GEMINI_SANDBOX: 'false',
      GEMINI_TELEMETRY_ENABLED: 'false',
      GEMINI_CLI_NO_RELAUNCH: 'true',
    });
  });

  it('writes settings that choose API-key auth and switch off usage statistics, updates and session clean-up', () => {
    const { homeFiles } = geminiAdapter.command(invocation({ interactive: true }));
    expect(homeFiles.map((f) => f.path)).toEqual(['.gemini/settings.json']);
    const settings = JSON.parse(homeFiles[0]!.content);
    expect(settings.security.auth.selectedType).toBe('gemini-api-key');
    expect(settings.privacy.usageStatisticsEnabled).toBe(false);
    expect(settings.telemetry.enabled).toBe(false);
    expect(settings.general).toEqual({ enableAutoUpdate: false, enableAutoUpdateNotification: false, sessionRetention: { enabled: false } });
  });
});

describe('gemini endpoint', () => {
  it('is the public API by default, allowed by name', () => {
    expect(geminiAdapter.endpoint({})).toEqual({ baseUrl: 'https://generativelanguage.googleapis.com', allowHost: 'generativelanguage.googleapis.com' });
  });

  it('follows GOOGLE_GEMINI_BASE_URL; an address or an explicit port is allowed with its port', () => {
    expect(geminiAdapter.endpoint({ GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:8123' })).toEqual({ baseUrl: 'http://127.0.0.1:8123', allowHost: '127.0.0.1:8123' });
    expect(geminiAdapter.endpoint({ GOOGLE_GEMINI_BASE_URL: 'https://gateway.example.com:8443/gemini' }).allowHost).toBe('gateway.example.com:8443');
    expect(geminiAdapter.endpoint({ GOOGLE_GEMINI_BASE_URL: 'http://[::1]/' }).allowHost).toBe('[::1]:80');
  });

  it('refuses a base URL that is not http(s)', () => {
    expect(codeOf(() => geminiAdapter.endpoint({ GOOGLE_GEMINI_BASE_URL: 'generativelanguage.googleapis.com' }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => geminiAdapter.endpoint({ GOOGLE_GEMINI_BASE_URL: 'file:///etc/passwd' }))).toBe('INVALID_ARGUMENT');
  });
});

describe('gemini home', () => {
  it('never seals the OAuth, account, keychain and integrity files, nor the .env it loads', () => {
    for (const p of ['.gemini/oauth_creds.json', '.gemini/google_accounts.json', '.gemini/mcp-oauth-tokens.json', '.gemini/gemini-credentials.json', '.gemini/.env', '.gemini/installation_id']) {
      expect(geminiAdapter.excludedHomePaths).toContain(p);
    }
    expect(geminiAdapter.excludedHomePaths.some((p) => p.includes('chats') || p === '.gemini/' || p === '.gemini/tmp/')).toBe(false);
  });
});

describe('gemini transcript files', () => {
  let cleanup = () => {};
  afterEach(() => cleanup());

  it('lists the session files of every project, sorted, and nothing else', () => {
    const temp = makeTempDir('swarm-gemini-');
    cleanup = temp.cleanup;
    const write = (rel: string) => {
      fs.mkdirSync(path.dirname(path.join(temp.dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(temp.dir, rel), '{}\n');
    };
    write('.gemini/tmp/project/chats/session-2026-12-02T00-04-e05e01ef.jsonl');
    write('.gemini/tmp/project/chats/session-2026-12-02T00-03-e05e01ef.jsonl');
    write('.gemini/tmp/9dad1e4e08b0b11c/chats/session-2025-09-10T14-00-0a9d7e55.json');
    write('.gemini/tmp/project/chats/e05e01ef-2cee-4c09-b6f4-47d8e49bfed1/investigator-1.jsonl');
    write('.gemini/tmp/project/chats/session-2026-12-02T00-03-e05e01ef.jsonl.unreadable-1796169843047');
    write('.gemini/tmp/project/logs/session-e05e01ef.jsonl');
    write('.gemini/settings.json');
    expect(geminiAdapter.transcriptFiles(temp.dir).map((f) => path.relative(temp.dir, f))).toEqual([
      '.gemini/tmp/9dad1e4e08b0b11c/chats/session-2025-09-10T14-00-0a9d7e55.json',
      '.gemini/tmp/project/chats/session-2026-12-02T00-03-e05e01ef.jsonl',
      '.gemini/tmp/project/chats/session-2026-12-02T00-04-e05e01ef.jsonl',
    ]);
  });

  it('is empty for a home where Gemini never ran', () => {
    const temp = makeTempDir('swarm-gemini-');
    cleanup = temp.cleanup;
    expect(geminiAdapter.transcriptFiles(temp.dir)).toEqual([]);
  });
});

describe('gemini transcripts', () => {
  it('reads the first session: id, model, workspace, times, one turn and its reply', () => {
    const parsed = parse('first-session.jsonl');
    expect(parsed.session).toEqual({
      sessionId: FIRST_SESSION,
      model: 'gemini-3.8-flash',
      cwd: '/home/user/project',
      startedAt: '2026-12-02T00:03:33.657Z',
      endedAt: '2026-12-02T00:03:33.925Z',
    });
    expect(parsed.records.map((r) => r.event.type)).toEqual(['session', '$set', 'user', '$set', 'gemini', '$set']);
    expect(parsed.records.map((r) => r.offset)).toEqual([0, 228, 865, 1011, 1063, 1333]);
    expect(userTurns(parsed)).toEqual(['first prompt: say hello']);
    const reply = parsed.records[4]!.event;
    expect(reply).toMatchObject({ known: true, role: 'assistant', text: 'reply 1: first prompt: say hello', tokensIn: 11522, tokensOut: 8, at: '2026-12-02T00:03:33.924Z', tool: null });
    expect(parsed.unknown).toBe(0);
    expect(parsed.truncatedTail).toBe(false);
  });

  it('keeps each line verbatim at its byte offset', () => {
    const content = fixture('tool-call.jsonl');
    const parsed = geminiAdapter.parseTranscript(content, `${CHATS}/tool-call.jsonl`);
    // The context block lists `└───hello.txt`: three 3-byte characters, so bytes and characters differ from line 3 on.
    expect(parsed.records.map((r) => r.offset)).toEqual([0, 228, 886, 1028, 1080, 1330, 1382, 2204, 2537, 2589, 2855]);
    for (const record of parsed.records) {
      const end = content.indexOf(0x0a, record.offset);
      expect(record.raw).toBe(content.subarray(record.offset, end).toString('utf8'));
    }
  });

  it('reads the resumed session: the same id and file, both prompts, the write_file call and result, tokens per reply', () => {
    const parsed = parse('resumed-session.jsonl');
    expect(parsed.session).toMatchObject({ sessionId: FIRST_SESSION, model: 'gemini-3.8-flash', cwd: '/home/user/project', startedAt: '2026-12-02T00:03:33.657Z', endedAt: '2026-12-02T00:04:03.352Z' });
    expect(parsed.records).toHaveLength(17);
    expect(userTurns(parsed)).toEqual(['first prompt: say hello', 'second prompt: please write hello.txt']);
    // Line 11 is the function-call reply before its call is recorded, line 13 the same message with it.
    expect(parsed.records[10]!.event).toMatchObject({ role: 'assistant', tool: null, text: null, tokensIn: 11559, tokensOut: 22 });
    expect(parsed.records[12]!.event).toMatchObject({ role: 'assistant', tool: 'write_file', text: 'write_file: hello.txt', tokensIn: null, tokensOut: null });
    expect(parsed.records[13]!.event).toMatchObject({
      role: 'tool',
      tool: 'write_file',
      text: 'Successfully created and wrote to new file: /home/user/project/hello.txt. Here is the updated code:\nhello from the fake\n',
    });
    expect(totals(parsed)).toEqual({ in: 11522 + 11559 + 11679, out: 8 + 22 + 12 });
  });

  it('gives a message written twice two keys when it changed, and counts its tokens once', () => {
    const parsed = parse('resumed-session.jsonl');
    const first = parsed.records[10]!.event.dedupeKey!;
    const again = parsed.records[12]!.event.dedupeKey!;
    expect(first.startsWith('131b676b-4bd1-4169-9ae1-1e3cc38cba3d:')).toBe(true);
    expect(again.startsWith('131b676b-4bd1-4169-9ae1-1e3cc38cba3d:')).toBe(true);
    expect(again).not.toBe(first);
    // A line that is no message has no key.
    expect(parsed.records[0]!.event.dedupeKey).toBeNull();
    expect(parsed.records[1]!.event.dedupeKey).toBeNull();
  });

  it('starts where the first session ended: a re-read adds only the appended lines', () => {
    const first = parse('first-session.jsonl').records.map((r) => `${r.offset}:${r.raw}`);
    const resumed = parse('resumed-session.jsonl').records.map((r) => `${r.offset}:${r.raw}`);
    expect(resumed.slice(0, first.length)).toEqual(first);
  });

  it('reads a reply with text and a shell call, and the call result as a tool event', () => {
    const parsed = parse('tool-call.jsonl');
    expect(parsed.session).toMatchObject({ sessionId: TOOL_SESSION, cwd: '/home/user/project' });
    expect(parsed.records[6]!.event).toMatchObject({ role: 'assistant', tool: 'run_shell_command', text: 'Running it.\nrun_shell_command: echo shell-ran', tokensIn: null });
    expect(parsed.records[7]!.event).toMatchObject({ role: 'tool', tool: 'run_shell_command', text: '<untrusted_context>\nOutput: shell-ran\nProcess Group PGID: 13340\n</untrusted_context>' });
    expect(totals(parsed)).toEqual({ in: 11524 + 11646, out: 27 + 7 });
    expect(userTurns(parsed)).toEqual(['run: echo shell-ran']);
  });

  it('reads the stub a resumed run leaves: the session id, no turns, no tokens', () => {
    const parsed = parse('resume-stub.jsonl');
    expect(parsed.session).toMatchObject({ sessionId: FIRST_SESSION, startedAt: '2026-12-02T00:04:02.922Z', model: null, cwd: '/home/user/project' });
    expect(parsed.records.map((r) => r.event.type)).toEqual(['session', '$set']);
    expect(userTurns(parsed)).toEqual([]);
    expect(totals(parsed)).toEqual({ in: 0, out: 0 });
  });

  it('keeps records of unknown shapes raw and counts them', () => {
    const parsed = parse('unknown-shape.jsonl');
    expect(parsed.records).toHaveLength(8);
    expect(parsed.records.map((r) => r.event.known)).toEqual([true, true, false, false, true, false, true, true]);
    expect(parsed.unknown).toBe(3);
    expect(parsed.records[3]!.event.type).toBe('plan');
    expect(parsed.records[5]!.raw).toBe('["not", "an", "object"]');
    // Output counts the thoughts too; input already holds the cached part.
    expect(parsed.records[4]!.event).toMatchObject({ text: 'Two files.', tokensIn: 900, tokensOut: 20 });
    expect(parsed.records[6]!.event).toMatchObject({ type: '$rewindTo', role: 'system', text: 'rewound to before message g-1' });
    expect(parsed.records[7]!.event).toMatchObject({ type: '$set', role: 'system', text: 'Listed the files', at: '2026-12-02T09:00:04.000Z' });
    expect(parsed.session).toEqual({ sessionId: '5b1f0c2e-7d4a-4e3b-9a61-0c2d8e4f7a90', model: 'gemini-3-flash-preview', cwd: null, startedAt: '2026-12-02T09:00:00.000Z', endedAt: '2026-12-02T09:00:04.000Z' });
  });

  it('leaves a truncated last line for the next run', () => {
    const parsed = parse('truncated.jsonl');
    expect(parsed.truncatedTail).toBe(true);
    expect(parsed.records).toHaveLength(4);
    expect(parsed.records.at(-1)!.raw).toBe('{"$set":{"lastUpdated":"2026-12-02T00:03:33.756Z"}}');
    expect(totals(parsed)).toEqual({ in: 0, out: 0 });
    expect(parsed.session?.sessionId).toBe(FIRST_SESSION);
  });

  it('takes a last line that lacks only its newline', () => {
    const whole = fixture('first-session.jsonl');
    const parsed = geminiAdapter.parseTranscript(whole.subarray(0, whole.length - 1), `${CHATS}/first-session.jsonl`);
    expect(parsed.truncatedTail).toBe(false);
    expect(parsed.records).toHaveLength(6);
  });

  it('reads a session document of the versions before JSONL, a record per message', () => {
    const parsed = parse('legacy-session.json', '.gemini/tmp/9dad1e4e08b0b11c/chats/session-2025-09-10T14-00-0a9d7e55.json');
    expect(parsed.session).toEqual({
      sessionId: '0a9d7e55-3c1b-4f2a-8e6d-5b4c3a291807',
      model: 'gemini-2.5-pro',
      cwd: null,
      startedAt: '2025-09-10T14:00:00.000Z',
      endedAt: '2025-09-10T14:00:09.000Z',
    });
    expect(parsed.records.map((r) => r.offset)).toEqual([0, 1, 2]);
    expect(JSON.parse(parsed.records[1]!.raw).id).toBe('1a2b3c4d-0002-4000-8000-000000000002');
    expect(userTurns(parsed)).toEqual(['print the date']);
    expect(parsed.records[1]!.event).toMatchObject({ role: 'assistant', tool: 'run_shell_command', text: 'run_shell_command: date -u', tokensIn: 7000, tokensOut: 25 });
    expect(parsed.records[2]!.event).toMatchObject({ text: 'It is 14:00 UTC.', tokensIn: 7100, tokensOut: 8 });
    expect(parsed.truncatedTail).toBe(false);
  });

  it('reports a half-written session document as a truncated tail', () => {
    const whole = fixture('legacy-session.json');
    const parsed = geminiAdapter.parseTranscript(whole.subarray(0, 300), '.gemini/tmp/9dad1e4e08b0b11c/chats/session-2025-09-10T14-00-0a9d7e55.json');
    expect(parsed).toEqual({ session: null, records: [], unknown: 0, truncatedTail: true });
  });

  it('names no session for a file without a session id', () => {
    const parsed = geminiAdapter.parseTranscript(Buffer.from('{"id":"u-1","type":"user","content":"hi"}\n'), `${CHATS}/session-x.jsonl`);
    expect(parsed.session).toBeNull();
    expect(parsed.records).toHaveLength(1);
  });
});

describe('gemini stream-json output', () => {
  function render(name: string): string[] {
    return fixture(name)
      .toString('utf8')
      .split('\n')
      .map((line) => geminiAdapter.renderLine(line))
      .filter((line): line is string => line !== null);
  }

  it('renders a run with a write_file call', () => {
    expect(render('stdout-resumed.jsonl')).toEqual([
      `session ${FIRST_SESSION} (auto)`,
      '→ tool write_file: hello.txt',
      '← done',
      'reply 3: second prompt:',
      ' please write hello.txt',
      'done: tokens in 24002/out 47, 1 tool call, 0.4s',
    ]);
  });

  it('renders a run with text, a shell call and its output', () => {
    expect(render('stdout-tool-call.jsonl')).toEqual([
      `session ${TOOL_SESSION} (auto)`,
      'Runnin',
      'g it.',
      '→ tool run_shell_command: echo shell-ran',
      '← shell-ran',
      'reply 2: run:',
      'echo shell-ran',
      'done: tokens in 23906/out 47, 1 tool call, 0.5s',
    ]);
  });

  it('renders warnings, failed tools and failed runs, and shows what is not JSON', () => {
    expect(geminiAdapter.renderLine('{"type":"error","timestamp":"t","severity":"warning","message":"Loop detected, stopping execution"}')).toBe('warning: Loop detected, stopping execution');
    expect(geminiAdapter.renderLine('{"type":"tool_result","tool_id":"x","status":"error","output":"","error":{"type":"TOOL_EXECUTION_ERROR","message":"File not found: a.txt"}}')).toBe('← error: File not found: a.txt');
    expect(
      geminiAdapter.renderLine('{"type":"result","status":"error","error":{"type":"FatalAuthenticationError","message":"API key not valid"},"stats":{"input_tokens":0,"output_tokens":0,"tool_calls":0,"duration_ms":0}}'),
    ).toBe('failed (FatalAuthenticationError): API key not valid; tokens in 0/out 0, 0 tool calls, 0.0s');
    expect(geminiAdapter.renderLine('Error resuming session: Invalid session identifier "x".')).toBe('Error resuming session: Invalid session identifier "x".');
    expect(geminiAdapter.renderLine('{"type":"message","role":"assistant","content":"\\u001b[31mred\\u001b[0m","delta":true}')).toBe('red');
  });

  it('shows nothing for the echoed prompt, blank lines and unknown event types', () => {
    expect(geminiAdapter.renderLine('{"type":"message","timestamp":"t","role":"user","content":"second prompt"}')).toBeNull();
    expect(geminiAdapter.renderLine('')).toBeNull();
    expect(geminiAdapter.renderLine('{"type":"heartbeat"}')).toBeNull();
  });
});
