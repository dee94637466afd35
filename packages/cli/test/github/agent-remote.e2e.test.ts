// An agent's conversation crosses backends: Claude Code (the real CLI) starts locally, continues
// on the GitHub runner, and continues locally again, each time resuming the same session; the
// model API is a loopback fake that records what each request carried. The key travels sealed
// to the runner and shows nowhere GitHub or a log could show it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../../../test-utils/src/fake-models/anthropic.js';
import { GH_AVAILABLE, REPO, ROOT, expectNoLeak, leakCorpus, standingSecrets, startHarness, type Harness } from './harness.js';

const CLI_BINS: Record<string, string> = JSON.parse(spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'agent-clis.mjs'), '--print'], { encoding: 'utf8' }).stdout);
const KEY = 'test-key-remote-claude-8c1d2e3f4a5b6c7d';

let h: Harness;
let fake: FakeAnthropic;

describe.skipIf(!GH_AVAILABLE)('an agent conversation across local and remote steps', () => {
  beforeAll(async () => {
    if (!fs.existsSync(CLI_BINS.claude!)) throw new Error('claude is not installed: run node scripts/agent-clis.mjs');
    fake = await startFakeAnthropic();
    h = await startHarness('agent', { path: `${path.dirname(CLI_BINS.claude!)}:${process.env.PATH}` });
    fs.mkdirSync(h.env.HOME!, { recursive: true });
    const set = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'packages/cli/bin/swarm.js'), 'secret', 'set', 'ANTHROPIC_API_KEY'], { cwd: h.project, env: h.env });
      child.stdin.end(`${KEY}\n`);
      child.on('close', resolve);
    });
    expect(set).toBe(0);
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await fake?.close();
  });

  it('local → github → local resume the same session, and the key stays sealed', async () => {
    const histories = () => fake.conversations({ withTools: true }).map((c) => c.map((m) => m.text).join('\n'));
    const local1 = await h.swarm(['run', 'launch', '--node', 'root', '--run-id', 'a1', '--agent', 'claude', '--prompt', 'alpha: remember the word kiwi', '--secret', 'ANTHROPIC_API_KEY', '--env', `ANTHROPIC_BASE_URL=${fake.url}`, '--timeout', '180']);
    expect(local1.code, local1.stderr + local1.stdout).toBe(0);
    const session = local1.envelope.data.agent.transcripts.sessions[0].session_id as string;

    const remote = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:a1', '--run-id', 'a2', '--agent', 'claude', '--prompt', 'beta: which word?', '--env', `ANTHROPIC_API_KEY=${KEY}`, '--env', `ANTHROPIC_BASE_URL=${fake.url}`, '--timeout', '180'], { timeoutMs: 300_000 });
    expect(remote.code, remote.stderr + remote.stdout).toBe(0);
    expect(histories().at(-1)).toContain('alpha: remember the word kiwi');
    expect(histories().at(-1)).toContain('beta: which word?');

    const local2 = await h.swarm(['run', 'resume', '--node', 'run:a2', '--run-id', 'a3', '--agent', 'claude', '--prompt', 'gamma: and now?', '--secret', 'ANTHROPIC_API_KEY', '--env', `ANTHROPIC_BASE_URL=${fake.url}`, '--timeout', '180']);
    expect(local2.code, local2.stderr + local2.stdout).toBe(0);
    expect(local2.envelope.data.agent.resumed_session).toBe(session);
    const last = histories().at(-1)!;
    for (const turn of ['alpha: remember the word kiwi', 'beta: which word?', 'gamma: and now?']) expect(last).toContain(turn);
    expect(fake.apiKeysSeen()).toContain(KEY);

    const sessions = await h.swarm(['sessions', 'show', '--node', 'run:a3', session]);
    expect(sessions.code, sessions.stderr).toBe(0);

    const corpus = leakCorpus(h);
    expect(corpus).toContain('swarm a2-');
    expectNoLeak(corpus, [['model key', [KEY, Buffer.from(KEY).toString('base64')]], ...standingSecrets(h)]);
  }, 600_000);
});
