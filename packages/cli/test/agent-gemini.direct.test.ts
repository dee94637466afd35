// The real Gemini CLI (the pinned version scripts/agent-clis.mjs installs), run directly with the
// adapter's command against the loopback fake of the Gemini API: a first conversation, its resume by
// session id, a fresh one, and a tool call that yolo approval lets through.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '@swarm/test-utils';
// Relative: the vitest alias of @swarm/test-utils maps the package root only, not its subpaths.
import { startFakeGemini, type FakeGemini, type FakeGeminiOptions } from '../../test-utils/src/fake-models/gemini.js';
import { geminiAdapter } from '../../state/src/agents/gemini.js';
import type { AgentInvocation } from '../../state/src/agents/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_KEY = 'gemini-test-key-direct-0123456789';
const RUN_TIMEOUT_MS = 60_000;

function geminiBin(): string {
  const bins = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'agent-clis.mjs'), '--print'], { encoding: 'utf8' })) as Record<string, string>;
  const bin = bins.gemini!;
  if (!fs.existsSync(bin)) throw new Error(`Gemini CLI is not installed at ${bin}: run \`node scripts/agent-clis.mjs\``);
  return bin;
}

/** The part of ~/.gemini/settings.json a control weakens. */
interface GeminiSettings {
  general: Record<string, unknown>;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every file under `dir` (relative paths), for looking for what should not be there. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((rel) => fs.statSync(path.join(dir, rel)).isFile());
}

describe('gemini, run directly', () => {
  let temp: { dir: string; cleanup(): void };
  let fake: FakeGemini | undefined;
  let home: string;
  let workspace: string;

  async function start(script?: FakeGeminiOptions['script']): Promise<FakeGemini> {
    fake = await startFakeGemini({ script });
    return fake;
  }

  beforeEach(() => {
    temp = makeTempDir('swarm-gemini-direct-');
    home = path.join(temp.dir, 'home');
    workspace = path.join(temp.dir, 'project');
    for (const dir of [home, workspace]) fs.mkdirSync(dir);
  });

  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    temp.cleanup();
  });

  /** `weaken` edits the settings the adapter writes, for a control that shows what a setting prevents. */
  function run(server: FakeGemini, prompt: string, resumeSessionId: string | null = null, weaken?: (settings: GeminiSettings) => void): Promise<Run> {
    const env = { GOOGLE_GEMINI_BASE_URL: server.url, GEMINI_API_KEY: TEST_KEY };
    const invocation: AgentInvocation = { bin: geminiBin(), prompt, resumeSessionId, extraArgs: [], workspace, home, env, interactive: false };
    const command = geminiAdapter.command(invocation);
    for (const file of command.homeFiles) {
      let content = file.content;
      if (weaken && file.path === '.gemini/settings.json') {
        const settings = JSON.parse(content) as GeminiSettings;
        weaken(settings);
        content = JSON.stringify(settings);
      }
      fs.mkdirSync(path.dirname(path.join(home, file.path)), { recursive: true });
      fs.writeFileSync(path.join(home, file.path), content);
    }
    const childEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env, ...command.env };
    return new Promise((resolve, reject) => {
      const child = spawn(command.argv[0]!, command.argv.slice(1), { cwd: workspace, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
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
      .map((line) => JSON.parse(line) as { type: string; session_id?: string })
      .find((event) => event.type === 'init');
    return init?.session_id ?? '(no init event)';
  }

  /** The assistant's text on stdout: stream-json sends it in `delta` pieces. */
  function assistantText(stdout: string): string {
    return stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { type: string; role?: string; content?: string })
      .filter((event) => event.type === 'message' && event.role === 'assistant')
      .map((event) => event.content ?? '')
      .join('');
  }

  /** The sessions the chat files under HOME name, with the user turns each holds. */
  function transcripts(): Array<{ file: string; sessionId: string | null; turns: string[] }> {
    return geminiAdapter.transcriptFiles(home).map((file) => {
      const parsed = geminiAdapter.parseTranscript(fs.readFileSync(file), path.relative(home, file));
      const turns = parsed.records.filter((r) => r.event.role === 'user').map((r) => r.event.text ?? '');
      return { file, sessionId: parsed.session?.sessionId ?? null, turns };
    });
  }

  function lastMainConversation(server: FakeGemini): Array<{ role: string; text: string }> {
    return server.conversations({ withTools: true }).at(-1) ?? [];
  }

  it(
    'records a session, continues exactly that one on --resume=<id>, and starts afresh without it',
    async () => {
      const server = await start();
      const first = await run(server, 'first prompt: remember the word kumquat');
      expect(first.code, first.stderr).toBe(0);
      expect(lastMainConversation(server).some((m) => m.role === 'user' && m.text.includes('first prompt: remember the word kumquat'))).toBe(true);
      expect(assistantText(first.stdout)).toBe('reply 1: first prompt: remember the word kumquat');

      const afterFirst = transcripts();
      expect(afterFirst).toHaveLength(1);
      const sessionId = afterFirst[0]!.sessionId!;
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(initSessionId(first.stdout)).toBe(sessionId);
      expect(afterFirst[0]!.turns).toEqual(['first prompt: remember the word kumquat']);

      const second = await run(server, 'second prompt: which word was it', sessionId);
      expect(second.code, second.stderr).toBe(0);
      expect(initSessionId(second.stdout)).toBe(sessionId);
      const resumed = lastMainConversation(server);
      expect(resumed.some((m) => m.role === 'user' && m.text.includes('first prompt: remember the word kumquat'))).toBe(true);
      expect(resumed.some((m) => m.role === 'model' && m.text.includes('reply 1: first prompt'))).toBe(true);
      expect(resumed.at(-1)!.text).toContain('second prompt: which word was it');
      // The resumed run appended to the first session's file (and may leave a stub named for its own minute).
      const original = transcripts().find((t) => t.file === afterFirst[0]!.file)!;
      expect(original.turns).toEqual(['first prompt: remember the word kumquat', 'second prompt: which word was it']);

      const third = await run(server, 'third prompt: a new start');
      expect(third.code, third.stderr).toBe(0);
      const fresh = lastMainConversation(server);
      expect(fresh.some((m) => m.text.includes('third prompt: a new start'))).toBe(true);
      expect(fresh.some((m) => m.text.includes('kumquat'))).toBe(false);
      const thirdId = initSessionId(third.stdout);
      expect(thirdId).not.toBe(sessionId);
      expect(transcripts().map((t) => t.sessionId)).toContain(thirdId);

      expect(server.apiKeysSeen()).toEqual([TEST_KEY]);
      // The key reached the fake and nothing under HOME.
      const holding = filesUnder(home).filter((rel) => fs.readFileSync(path.join(home, rel), 'utf8').includes(TEST_KEY));
      expect(holding).toEqual([]);
    },
    4 * RUN_TIMEOUT_MS,
  );

  /**
   * A run resumed in a later minute than its session started leaves a stub: a file named for that
   * minute, with the same short id and no messages. 0.61's session clean-up takes it for a broken
   * session and deletes every file of that short id when the next new session starts.
   */
  async function conversationAfterStubAndNewSession(weaken?: (settings: GeminiSettings) => void): Promise<string[] | undefined> {
    const server = await start();
    const first = await run(server, 'first prompt: keep me', null, weaken);
    expect(first.code, first.stderr).toBe(0);
    const [original] = transcripts();
    const sessionId = original!.sessionId!;
    const header = fs.readFileSync(original!.file, 'utf8').split('\n')[0]!;
    fs.writeFileSync(path.join(path.dirname(original!.file), `session-2099-01-01T00-00-${sessionId.slice(0, 8)}.jsonl`), `${header}\n`);
    const fresh = await run(server, 'another prompt: a new session', null, weaken);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(initSessionId(fresh.stdout)).not.toBe(sessionId);
    return transcripts().find((t) => t.file === original!.file)?.turns;
  }

  it(
    'keeps a resumed conversation when a new session starts (session clean-up off)',
    async () => {
      expect(await conversationAfterStubAndNewSession()).toEqual(['first prompt: keep me']);
    },
    3 * RUN_TIMEOUT_MS,
  );

  it(
    'control: with the CLI default session clean-up the same stub costs the conversation',
    async () => {
      expect(await conversationAfterStubAndNewSession((settings) => delete settings.general.sessionRetention)).toBeUndefined();
    },
    3 * RUN_TIMEOUT_MS,
  );

  it(
    'runs a tool call unattended and records the call and its result',
    async () => {
      const server = await start((call) =>
        call.functionResponses.length === 0 && call.lastUserText.includes('hello.txt')
          ? { functionCall: { name: 'write_file', args: { file_path: 'hello.txt', content: 'written by the fake model\n' } } }
          : undefined,
      );
      const result = await run(server, 'please create hello.txt');
      expect(result.code, result.stderr).toBe(0);
      expect(fs.readFileSync(path.join(workspace, 'hello.txt'), 'utf8')).toBe('written by the fake model\n');
      // The function response went back to the model, which then answered in text.
      const last = server.calls().at(-1)!;
      expect(last.functionResponses.map((r) => r.name)).toEqual(['write_file']);
      expect(result.stdout).toContain('"type":"tool_use"');

      const [file] = geminiAdapter.transcriptFiles(home);
      const parsed = geminiAdapter.parseTranscript(fs.readFileSync(file!), path.relative(home, file!));
      expect(parsed.records.some((r) => r.event.role === 'assistant' && r.event.tool === 'write_file')).toBe(true);
      expect(parsed.records.some((r) => r.event.role === 'tool' && r.event.tool === 'write_file')).toBe(true);
      expect(parsed.unknown).toBe(0);
    },
    2 * RUN_TIMEOUT_MS,
  );

  it(
    'refuses to resume a session id it does not have',
    async () => {
      const server = await start();
      const result = await run(server, 'hello', '00000000-0000-4000-8000-000000000000');
      expect(result.code).toBe(42);
      expect(server.conversations({ withTools: true })).toEqual([]);
    },
    2 * RUN_TIMEOUT_MS,
  );
});
