// The real Codex CLI (the pinned version scripts/agent-clis.mjs installs), run directly with the
// adapter's command against the loopback fake of the OpenAI Responses API: a first session, its
// resume by session id, a fresh one, and a tool call that writes a file in the workspace.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '@swarm/test-utils';
// Relative: the vitest alias of @swarm/test-utils maps the package root only, not its subpaths.
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from '../../test-utils/src/fake-models/openai.js';
import { codexAdapter } from '../../state/src/agents/codex.js';
import { homeExclusion } from '../../state/src/agents/home.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TEST_KEY = 'sk-test-codex-direct-0123456789abcdef';
const RUN_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 4 * RUN_TIMEOUT_MS;

function codexBin(): string {
  const bins = JSON.parse(execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'agent-clis.mjs'), '--print'], { encoding: 'utf8' })) as Record<string, string>;
  const bin = bins.codex!;
  if (!fs.existsSync(bin)) throw new Error(`the Codex CLI is not installed at ${bin}: run \`node scripts/agent-clis.mjs\``);
  return bin;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('codex, run directly', () => {
  let temp: { dir: string; cleanup(): void };
  let fake: FakeOpenAI | undefined;
  let home: string;
  let workspace: string;

  beforeEach(() => {
    temp = makeTempDir('swarm-codex-direct-');
    home = path.join(temp.dir, 'home');
    workspace = path.join(temp.dir, 'project');
    for (const dir of [home, workspace]) fs.mkdirSync(dir);
  });

  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    temp.cleanup();
  });

  async function start(script?: FakeOpenAIOptions['script']): Promise<FakeOpenAI> {
    fake = await startFakeOpenAI({ script, apiKey: TEST_KEY });
    return fake;
  }

  function run(server: FakeOpenAI, prompt: string, resumeSessionId: string | null = null): Promise<Run> {
    const granted = { OPENAI_API_KEY: TEST_KEY, OPENAI_BASE_URL: `${server.url}/v1` };
    const command = codexAdapter.command({ bin: codexBin(), prompt, resumeSessionId, extraArgs: [], workspace, home, env: granted, interactive: false });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...granted, ...command.env };
    return new Promise((resolve, reject) => {
      // stdin is /dev/null: `codex exec` reads a piped stdin to its end before it starts.
      const child = spawn(command.argv[0]!, command.argv.slice(1), { cwd: workspace, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  function threadId(stdout: string): string {
    const started = stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { type: string; thread_id?: string })
      .find((event) => event.type === 'thread.started');
    return started?.thread_id ?? '(no thread.started event)';
  }

  function sessions(): Array<{ file: string; id: string | null; prompts: string[] }> {
    return codexAdapter.transcriptFiles(home).map((file) => {
      const parsed = codexAdapter.parseTranscript(fs.readFileSync(file), path.relative(home, file));
      const prompts = parsed.records.filter((r) => r.event.role === 'user' && r.event.tool === null && r.event.text !== null).map((r) => r.event.text!);
      return { file, id: parsed.session?.sessionId ?? null, prompts };
    });
  }

  const userTexts = (conversation: Array<{ role: string; text: string }>) => conversation.filter((m) => m.role === 'user').map((m) => m.text);

  /** Files under HOME, outside the adapter's exclusions, that hold `secret`. */
  function filesHolding(secret: string): string[] {
    const excluded = homeExclusion(codexAdapter.excludedHomePaths);
    return fs
      .readdirSync(home, { recursive: true, encoding: 'utf8' })
      .filter((rel) => fs.lstatSync(path.join(home, rel)).isFile() && !excluded(rel.split(path.sep).join('/'), 'file'))
      .filter((rel) => fs.readFileSync(path.join(home, rel)).includes(secret));
  }

  it(
    'a first session, its resume by id (same session, same file, the history sent again), then a fresh one',
    async () => {
      const server = await start();
      const first = await run(server, 'remember the word pelican');
      expect(first.code, first.stderr).toBe(0);
      expect(userTexts(server.conversations().at(-1)!)).toContain('remember the word pelican');
      const [session] = sessions();
      expect(session?.prompts).toEqual(['remember the word pelican']);
      const id = session!.id!;
      expect(threadId(first.stdout)).toBe(id);

      const resumed = await run(server, 'what was the word?', id);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(threadId(resumed.stdout)).toBe(id);
      const history = server.conversations().at(-1)!;
      expect(userTexts(history)).toEqual(expect.arrayContaining(['remember the word pelican', 'what was the word?']));
      expect(history.filter((m) => m.role === 'assistant').map((m) => m.text)).toEqual(['reply 1: remember the word pelican']);
      expect(sessions()).toEqual([{ file: session!.file, id, prompts: ['remember the word pelican', 'what was the word?'] }]);

      const fresh = await run(server, 'a new conversation');
      expect(fresh.code, fresh.stderr).toBe(0);
      const freshHistory = server.conversations().at(-1)!;
      expect(userTexts(freshHistory)).toContain('a new conversation');
      expect(freshHistory.map((m) => m.text).join('\n')).not.toContain('pelican');
      const all = sessions();
      expect(all).toHaveLength(2);
      expect(all.find((s) => s.id !== id)?.prompts).toEqual(['a new conversation']);
      expect(threadId(fresh.stdout)).not.toBe(id);

      // The key went to the fake on every call, and into no file that would be sealed.
      expect(server.apiKeysSeen().length).toBeGreaterThanOrEqual(3);
      expect(new Set(server.apiKeysSeen())).toEqual(new Set([TEST_KEY]));
      expect(filesHolding(TEST_KEY)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a tool call: the command runs in the workspace, its output goes back, the rollout records both',
    async () => {
      const server = await start(({ lastUserText }) => (lastUserText.startsWith('write') ? { command: 'printf "made by codex" > made.txt && echo written' } : null));
      const result = await run(server, 'write made.txt please');
      expect(result.code, result.stderr).toBe(0);
      expect(fs.readFileSync(path.join(workspace, 'made.txt'), 'utf8')).toBe('made by codex');
      expect(server.toolOutputs().join('\n')).toContain('written');
      expect(result.stdout.split('\n').map((line) => codexAdapter.renderLine(line))).toContain('→ shell: printf "made by codex" > made.txt && echo written');

      const [file] = codexAdapter.transcriptFiles(home);
      const parsed = codexAdapter.parseTranscript(fs.readFileSync(file!), 'rollout.jsonl');
      const calls = parsed.records.filter((r) => r.event.role === 'assistant' && r.event.tool !== null);
      expect(calls).toHaveLength(1);
      expect(calls[0]!.event.text).toContain('made.txt');
      const outputs = parsed.records.filter((r) => r.event.role === 'tool');
      expect(outputs.map((r) => r.event.tool)).toEqual([calls[0]!.event.tool]);
      expect(outputs[0]!.event.text).toContain('written');
      expect(parsed.unknown).toBe(0);
      expect(filesHolding(TEST_KEY)).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
