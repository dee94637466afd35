/**
 * The real agent CLIs (installed from npm at pinned versions by scripts/agent-clis.mjs) run by
 * swarm as `--agent`, inside the sandbox, against fake model APIs on loopback that record the
 * history each request carries. For each: a resume continues the same conversation, fork
 * branches each keep their own, the key granted with --secret reaches the fake and nothing else,
 * the archive shows the turns, and the chain continues after the project moved elsewhere.
 */
import { spawnSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../../test-utils/src/fake-models/anthropic.js';
import { startFakeGemini } from '../../test-utils/src/fake-models/gemini.js';
import { startFakeOpenAI } from '../../test-utils/src/fake-models/openai.js';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI_BINS: Record<string, string> = JSON.parse(spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'agent-clis.mjs'), '--print'], { encoding: 'utf8' }).stdout);

interface Fake {
  url: string;
  /** The message history of each main-conversation request, as text per message. */
  histories(): string[][];
  apiKeysSeen(): string[];
  close(): Promise<void>;
}

interface AgentCase {
  agent: 'claude' | 'codex' | 'gemini';
  keyEnv: string;
  baseUrlEnv: string;
  /** How the base URL is written for this CLI (codex wants the /v1 path). */
  baseUrl(fake: Fake): string;
  start(): Promise<Fake>;
}

const CASES: AgentCase[] = [
  {
    agent: 'claude',
    keyEnv: 'ANTHROPIC_API_KEY',
    baseUrlEnv: 'ANTHROPIC_BASE_URL',
    baseUrl: (fake) => fake.url,
    start: async () => {
      const fake = await startFakeAnthropic();
      return {
        url: fake.url,
        histories: () => fake.conversations({ withTools: true }).map((c) => c.map((m) => m.text)),
        apiKeysSeen: () => fake.apiKeysSeen(),
        close: () => fake.close(),
      };
    },
  },
  {
    agent: 'codex',
    keyEnv: 'OPENAI_API_KEY',
    baseUrlEnv: 'OPENAI_BASE_URL',
    baseUrl: (fake) => `${fake.url}/v1`,
    start: async () => {
      const fake = await startFakeOpenAI();
      return {
        url: fake.url,
        histories: () => fake.conversations().map((c) => c.map((m) => m.text)),
        apiKeysSeen: () => fake.apiKeysSeen(),
        close: () => fake.close(),
      };
    },
  },
  {
    agent: 'gemini',
    keyEnv: 'GEMINI_API_KEY',
    baseUrlEnv: 'GOOGLE_GEMINI_BASE_URL',
    baseUrl: (fake) => fake.url,
    start: async () => {
      const fake = await startFakeGemini();
      return {
        url: fake.url,
        histories: () => fake.conversations({ withTools: true }).map((c) => c.map((m) => m.text)),
        apiKeysSeen: () => fake.apiKeysSeen(),
        close: () => fake.close(),
      };
    },
  },
];

/** Runs the built CLI asynchronously (the fake in this process must keep answering). */
function swarmIn(cwd: string, env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<{ code: number | null; envelope: any; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(input ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      let envelope: any = null;
      try {
        envelope = JSON.parse(stdout.trim());
      } catch {
        envelope = null;
      }
      resolve({ code, envelope, stdout, stderr });
    });
  });
}

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const abs = path.join(at, entry.name);
      if (entry.isDirectory()) walk(abs);
      else if (entry.isFile() && fs.readFileSync(abs).includes(needle)) found.push(abs);
    }
  };
  walk(dir);
  return found;
}

const joined = (history: string[]) => history.join('\n');

for (const c of CASES) {
  describe(`${c.agent} through swarm`, () => {
    let tmp: string;
    let project: string;
    let env: NodeJS.ProcessEnv;
    let fake: Fake;
    const key = `test-key-${c.agent}-5f0c9a7e1d2b4c63`;
    const swarm = (args: string[], input?: string) => swarmIn(project, env, [...args, '--json'], input);
    const agentRun = (node: string, runId: string, prompt: string) =>
      swarm([
        'run',
        node === 'root' ? 'launch' : 'resume',
        ...(node === 'root' ? ['--workspace', '.'] : ['--node', node]),
        '--run-id',
        runId,
        '--agent',
        c.agent,
        '--prompt',
        prompt,
        '--secret',
        c.keyEnv,
        '--env',
        `${c.baseUrlEnv}=${c.baseUrl(fake)}`,
        '--timeout',
        '180',
      ]);
    const lastHistory = () => joined(fake.histories().at(-1) ?? []);

    beforeAll(async () => {
      if (!fs.existsSync(CLI_BINS[c.agent]!)) throw new Error(`${c.agent} is not installed: run node scripts/agent-clis.mjs`);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), `swarm-e2e-${c.agent}-`));
      project = path.join(tmp, 'project');
      fs.mkdirSync(project);
      fs.writeFileSync(path.join(project, 'README.md'), '# demo\n');
      env = {
        ...process.env,
        SWARM_HOME: path.join(tmp, 'swarm-home'),
        HOME: path.join(tmp, 'operator'),
        NO_COLOR: '1',
        PATH: `${path.dirname(CLI_BINS[c.agent]!)}:${process.env.PATH}`,
      };
      delete env.SOURCE_DATE_EPOCH;
      delete env[c.keyEnv];
      fs.mkdirSync(env.HOME!);
      fake = await c.start();
      expect((await swarm(['init'])).code).toBe(0);
      const set = await swarm(['secret', 'set', c.keyEnv], `${key}\n`);
      expect(set.code, set.stderr).toBe(0);
    }, 120_000);
    afterAll(async () => {
      await fake?.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    });

    it('launch, then resume continues the same conversation', async () => {
      const first = await agentRun('root', 'first', 'alpha: list the files');
      expect(first.code, first.stderr + first.stdout).toBe(0);
      expect(lastHistory()).toContain('alpha: list the files');
      expect(first.envelope.data.agent).toMatchObject({ name: c.agent, resumed_session: null });
      const session = first.envelope.data.agent.transcripts.sessions[0].session_id as string;
      expect(session).toBeTruthy();

      const second = await agentRun('run:first', 'second', 'beta: now summarise');
      expect(second.code, second.stderr + second.stdout).toBe(0);
      expect(second.envelope.data.agent.resumed_session).toBe(session);
      // The fake received the first prompt again, in the second run's history.
      expect(lastHistory()).toContain('alpha: list the files');
      expect(lastHistory()).toContain('beta: now summarise');
    }, 600_000);

    it('fork: each branch carries only its own turns', async () => {
      expect((await swarm(['run', 'fork', '--node', 'run:second', '--label', `${c.agent}-a`])).code).toBe(0);
      expect((await swarm(['run', 'fork', '--node', 'run:second', '--label', `${c.agent}-b`])).code).toBe(0);
      expect((await agentRun(`branch:${c.agent}-a`, 'on-a', 'gamma: branch a idea')).code).toBe(0);
      expect((await agentRun(`branch:${c.agent}-b`, 'on-b', 'delta: branch b idea')).code).toBe(0);
      const after = await agentRun('run:on-a', 'after-a', 'epsilon: continue a');
      expect(after.code, after.stderr).toBe(0);
      const history = lastHistory();
      expect(history).toContain('alpha: list the files');
      expect(history).toContain('gamma: branch a idea');
      expect(history).not.toContain('delta: branch b idea');
    }, 600_000);

    it('the granted key reached the fake and no file, log, export or output', async () => {
      expect(fake.apiKeysSeen()).toContain(key);
      // The control: the search finds the key where it is.
      const control = path.join(tmp, 'control');
      fs.mkdirSync(control);
      fs.writeFileSync(path.join(control, 'planted'), `x${key}y`);
      expect(filesContaining(control, key)).toEqual([path.join(control, 'planted')]);
      const exported = path.join(tmp, 'exported');
      const out = await swarm(['state', 'export', '--node', 'run:after-a', '--out', exported]);
      expect(out.code).toBe(0);
      const list = await swarm(['sessions', 'list']);
      const shown = await swarm(['sessions', 'show', list.envelope.data.sessions[0].session_id]);
      for (const text of [out.stdout, out.stderr, list.stdout, shown.stdout]) expect(text).not.toContain(key);
      expect(filesContaining(project, key)).toEqual([]);
      expect(filesContaining(env.SWARM_HOME!, key)).toEqual([]);
      expect(filesContaining(exported, key)).toEqual([]);
    }, 120_000);

    it('sessions list and show give the turns', async () => {
      const list = await swarm(['sessions', 'list', '--node', 'run:after-a']);
      expect(list.code, list.stderr).toBe(0);
      const sessions = list.envelope.data.sessions.filter((s: { agent: string }) => s.agent === c.agent);
      expect(sessions.length).toBeGreaterThan(0);
      const shown = await swarmIn(project, env, ['sessions', 'show', sessions.at(-1).session_id, '--node', 'run:after-a']);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain('epsilon: continue a');
      expect(shown.stdout).toContain('gamma: branch a idea');
      const found = await swarm(['sessions', 'search', 'delta: branch b']);
      expect(found.envelope.data.hits.length).toBeGreaterThan(0);
      const md = await swarmIn(project, env, ['sessions', 'export', sessions.at(-1).session_id, '--node', 'run:after-a', '--format', 'md']);
      expect(md.stdout).toContain('epsilon: continue a');
    }, 120_000);

    it('a node carried to another directory continues its conversation there', async () => {
      const moved = path.join(tmp, 'elsewhere', 'project');
      fs.mkdirSync(path.dirname(moved));
      fs.cpSync(project, moved, { recursive: true });
      fs.rmSync(project, { recursive: true, force: true });
      project = moved;
      const next = await agentRun('run:after-a', 'moved', 'zeta: after the move');
      expect(next.code, next.stderr + next.stdout).toBe(0);
      expect(lastHistory()).toContain('epsilon: continue a');
      expect(lastHistory()).toContain('zeta: after the move');
    }, 600_000);
  });
}
