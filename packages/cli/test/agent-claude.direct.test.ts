// The real Claude Code CLI (the pinned version scripts/agent-clis.mjs installs), run directly with
// the adapter's command against the loopback fake of the Anthropic API: a first conversation, its
// resume by session id, a fresh one, and a tool call the unattended permission mode lets through.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '@swarm/test-utils';
// Relative: the vitest alias of @swarm/test-utils maps the package root only, not its subpaths.
import { startFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from '../../test-utils/src/fake-models/anthropic.js';
import { claudeAdapter } from '../../state/src/agents/claude.js';
import type { AgentInvocation } from '../../state/src/agents/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_KEY = 'sk-ant-test-direct-0123456789abcdef';
const RUN_TIMEOUT_MS = 60_000;

function claudeBin(): string {
  const bins = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'agent-clis.mjs'), '--print'], { encoding: 'utf8' })) as Record<string, string>;
  const bin = bins.claude!;
  if (!fs.existsSync(bin)) throw new Error(`the Claude Code CLI is not installed at ${bin}: run \`node scripts/agent-clis.mjs\``);
  return bin;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('claude, run directly', () => {
  let temp: { dir: string; cleanup(): void };
  let fake: FakeAnthropic;
  let home: string;
  let workspace: string;
  let tmp: string;

  async function start(script?: FakeAnthropicOptions['script']) {
    fake = await startFakeAnthropic({ script });
  }

  beforeEach(() => {
    temp = makeTempDir('swarm-claude-direct-');
    home = path.join(temp.dir, 'home');
    workspace = path.join(temp.dir, 'project');
    tmp = path.join(temp.dir, 'tmp');
    for (const dir of [home, workspace, tmp]) fs.mkdirSync(dir);
  });

  afterEach(async () => {
    await fake?.close();
    temp.cleanup();
  });

  function run(prompt: string, resumeSessionId: string | null = null): Promise<Run> {
    const invocation: AgentInvocation = { bin: claudeBin(), prompt, resumeSessionId, extraArgs: [], workspace, home, env: {}, interactive: false };
    const command = claudeAdapter.command(invocation);
    // TMPDIR too: Claude keeps task output under $TMPDIR/claude-<uid>/.
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, TMPDIR: tmp, ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: TEST_KEY, ...command.env };
    return new Promise((resolve, reject) => {
      const child = spawn(command.argv[0]!, command.argv.slice(1), { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  function initSessionId(stdout: string): string {
    const init = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { type: string; subtype?: string; session_id?: string })
      .find((event) => event.type === 'system' && event.subtype === 'init');
    return init?.session_id ?? '(no init event)';
  }

  /** The main conversation of the last call (the request that offered tools), as `role: text` lines. */
  function lastConversation(): string[] {
    const conversation = fake.conversations({ withTools: true }).at(-1) ?? [];
    return conversation.filter((m) => m.role !== 'system').map((m) => `${m.role}: ${m.text}`);
  }

  function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());
  }

  it(
    'keeps a session the next run resumes by id, and a run without resume starts afresh',
    async () => {
      await start();
      const first = await run('Remember the word pelican');
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      expect(lastConversation()).toEqual(['user: Remember the word pelican']);
      expect(fake.apiKeysSeen()).toEqual([TEST_KEY]);

      const files = claudeAdapter.transcriptFiles(home);
      expect(files).toHaveLength(1);
      const parsed = claudeAdapter.parseTranscript(fs.readFileSync(files[0]!), path.relative(home, files[0]!));
      const sessionId = parsed.session?.sessionId;
      expect(sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(initSessionId(first.stdout)).toBe(sessionId);
      expect(parsed.session?.cwd).toBe(fs.realpathSync(workspace));
      const lines = first.stdout.trim().split('\n').map((line) => claudeAdapter.renderLine(line));
      expect(lines).toContain('reply 1: Remember the word pelican');
      expect(lines.at(-1)).toMatch(/^done: 1 turns, tokens in \d+\/out \d+, cost \$\d+\.\d{4}$/);

      const resumed = await run('Which word did I ask you to remember?', sessionId!);
      expect(resumed.code).toBe(0);
      expect(lastConversation()).toEqual([
        'user: Remember the word pelican',
        'assistant: reply 1: Remember the word pelican',
        'user: Which word did I ask you to remember?',
      ]);
      expect(initSessionId(resumed.stdout)).toBe(sessionId);
      const again = claudeAdapter.parseTranscript(fs.readFileSync(files[0]!), path.relative(home, files[0]!));
      expect(again.records.filter((r) => r.event.role === 'user').map((r) => r.event.text)).toEqual([
        'Remember the word pelican',
        'Which word did I ask you to remember?',
      ]);

      const fresh = await run('Start something new');
      expect(fresh.code).toBe(0);
      expect(lastConversation()).toEqual(['user: Start something new']);
      expect(initSessionId(fresh.stdout)).not.toBe(sessionId);
      expect(claudeAdapter.transcriptFiles(home)).toHaveLength(2);

      // The key went to the API and nowhere under HOME.
      expect(fake.apiKeysSeen()).toEqual([TEST_KEY]);
      expect(filesUnder(home).filter((f) => fs.readFileSync(f, 'utf8').includes(TEST_KEY))).toEqual([]);
    },
    4 * RUN_TIMEOUT_MS,
  );

  it(
    'lets a tool call through without a person, and records it in the transcript',
    async () => {
      await start((call) => {
        if (call.tools.length === 0 || !call.lastUserText.startsWith('Write the note')) return undefined;
        if (call.toolResults.length === 0) return { text: 'Writing it.', toolUse: { name: 'Write', input: { file_path: path.join(workspace, 'note.txt'), content: 'written by claude\n' } } };
        return { text: 'The note is written.' };
      });
      const result = await run('Write the note');
      expect(result.code).toBe(0);
      expect(fs.readFileSync(path.join(workspace, 'note.txt'), 'utf8')).toBe('written by claude\n');
      expect(lastConversation().at(-1)).toMatch(/^user: tool_result File created successfully/);

      const [file] = claudeAdapter.transcriptFiles(home);
      const parsed = claudeAdapter.parseTranscript(fs.readFileSync(file!), path.relative(home, file!));
      expect(parsed.records.filter((r) => r.event.tool !== null).map((r) => [r.event.role, r.event.tool])).toEqual([
        ['assistant', 'Write'],
        ['tool', 'Write'],
      ]);
      expect(result.stdout.trim().split('\n').map((line) => claudeAdapter.renderLine(line))).toContain(`→ tool Write: ${path.join(workspace, 'note.txt')}`);
    },
    2 * RUN_TIMEOUT_MS,
  );
});

// What the fake answers besides the streamed conversation Claude Code asks for above.
describe('the fake Anthropic API', () => {
  let fake: FakeAnthropic;
  afterEach(async () => fake?.close());

  const post = (path: string, body: unknown, headers: Record<string, string> = { 'x-api-key': TEST_KEY }) =>
    fetch(`${fake.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('answers a non-streaming call with one message, numbered by the turns already in the history', async () => {
    fake = await startFakeAnthropic();
    const messages = [
      { role: 'user', content: [{ type: 'text', text: '<system-reminder>\ntoday is a day\n</system-reminder>' }, { type: 'text', text: 'Tell me about the weather in the hills today please' }] },
      { role: 'assistant', content: 'It rains.' },
      { role: 'user', content: 'And tomorrow?' },
    ];
    const response = await post('/v1/messages', { model: 'claude-haiku-4-5', max_tokens: 64, messages });
    expect(response.status).toBe(200);
    expect(response.headers.get('request-id')).toBe('req_fake000001');
    const message = (await response.json()) as { id: string; model: string; content: Array<{ type: string; text: string }>; stop_reason: string; usage: Record<string, number> };
    expect(message).toMatchObject({ id: 'msg_fake000001', model: 'claude-haiku-4-5', stop_reason: 'end_turn', content: [{ type: 'text', text: 'reply 2: And tomorrow?' }] });
    expect(message.usage.cache_read_input_tokens).toBeGreaterThan(0);
    expect(fake.conversations()).toEqual([
      [
        { role: 'user', text: 'Tell me about the weather in the hills today please' },
        { role: 'assistant', text: 'It rains.' },
        { role: 'user', text: 'And tomorrow?' },
      ],
    ]);
    expect(fake.conversations({ withTools: true })).toEqual([]);
  });

  it('streams a scripted tool call as the API does, then stops for the tool', async () => {
    fake = await startFakeAnthropic({ script: () => ({ toolUse: { name: 'Bash', input: { command: 'ls' } } }) });
    const response = await post('/v1/messages', { model: 'm', stream: true, tools: [{ name: 'Bash' }], messages: [{ role: 'user', content: 'list' }] });
    const events = (await response.text())
      .split('\n\n')
      .filter((chunk) => chunk.trim() !== '')
      .map((chunk) => chunk.split('\n'));
    expect(events.map(([name]) => name)).toEqual([
      'event: message_start',
      'event: ping',
      'event: content_block_start',
      'event: content_block_delta',
      'event: content_block_delta',
      'event: content_block_stop',
      'event: message_delta',
      'event: message_stop',
    ]);
    const data = events.map(([, line]) => JSON.parse(line!.slice('data: '.length)) as Record<string, any>);
    expect(data[2]!.content_block).toEqual({ type: 'tool_use', id: 'toolu_fake000001', name: 'Bash', input: {} });
    expect(JSON.parse(data[3]!.delta.partial_json + data[4]!.delta.partial_json)).toEqual({ command: 'ls' });
    expect(data[6]!.delta.stop_reason).toBe('tool_use');
    expect(fake.calls()[0]!.tools).toEqual(['Bash']);
  });

  it('counts tokens, lists models, wants a key, and knows no other path', async () => {
    fake = await startFakeAnthropic();
    const counted = await post('/v1/messages/count_tokens', { model: 'm', messages: [{ role: 'user', content: 'x'.repeat(400) }] });
    expect(((await counted.json()) as { input_tokens: number }).input_tokens).toBeGreaterThanOrEqual(100);
    const models = (await (await fetch(`${fake.url}/v1/models`, { headers: { 'x-api-key': TEST_KEY } })).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toContain('claude-opus-4-8');
    const anonymous = await post('/v1/messages', { messages: [] }, {});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    const telemetry = await post('/api/event_logging/batch', { events: [] }, { authorization: 'Bearer oauth-token-for-test' });
    expect(telemetry.status).toBe(404);
    expect(fake.apiKeysSeen()).toEqual([TEST_KEY, 'oauth-token-for-test']);
    expect(fake.calls()).toEqual([]);
  });
});
