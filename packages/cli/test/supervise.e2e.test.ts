/**
 * Supervised runs (issue: detach, ps, follow, stop, kill, restart policies), end to end with the
 * real CLI, in the real sandbox where this machine has one.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detachedArgv } from '../src/run/supervise.js';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  envelope: any;
}

function swarm(args: string[], timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      let envelope: any = null;
      try {
        envelope = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        // not JSON
      }
      resolve({ code, stdout, stderr, envelope });
    });
  });
}

const ps = async () => {
  const r = await swarm(['ps', '--all', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.envelope.data.runs as Array<{ run_id: string; state: string; status: string; node_id: string | null; attempt: number | null; first_run_id: string | null; restart_policy: string | null; step: string; uptime_ms: number | null }>;
};

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await fn();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeEach(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-supervise-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  delete env.SOURCE_DATE_EPOCH;
  expect((await swarm(['init', '--quiet'])).code).toBe(0);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the detached command line', () => {
  it("drops --detach and adds the run id before `--`, leaving an agent's own arguments alone", () => {
    expect(detachedArgv(['run', 'launch', '--detach', '--step', 'x'], 'r1')).toEqual(['run', 'launch', '--step', 'x', '--run-id', 'r1']);
    expect(detachedArgv(['run', 'launch', '--agent', 'claude', '--detach', '--', '--model', 'm', '--detach'], 'r1')).toEqual(['run', 'launch', '--agent', 'claude', '--run-id', 'r1', '--', '--model', 'm', '--detach']);
    expect(detachedArgv(['run', 'resume', '--detach', '--run-id', 'mine'], undefined)).toEqual(['run', 'resume', '--run-id', 'mine']);
  });
});

describe('supervised runs', () => {
  it('detach returns at once; ps shows the run; logs --follow streams it; stop seals a failed node', async () => {
    const started = Date.now();
    const d = await swarm(['run', 'launch', '--run-id', 'bg', '--detach', '--json', '--step', 'i=0; while [ $i -lt 100 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.envelope.data).toMatchObject({ run_id: 'bg', detached: true });
    expect(Date.now() - started, 'detach does not wait for the 10 s step').toBeLessThan(8000);
    const running = (await ps()).find((r) => r.run_id === 'bg');
    expect(running).toMatchObject({ state: 'running', status: 'running', node_id: null });
    expect(running!.step).toContain('tick');

    // logs --follow prints lines as they are written, before the run ends.
    const follower = spawn(process.execPath, [BIN, 'run', 'logs', '--run-id', 'bg', '--follow'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout.on('data', (c) => (followed += c));
    await until('streamed lines', async () => /tick 5\b/.test(followed));
    expect((await ps()).find((r) => r.run_id === 'bg')!.state, 'still running while it streams').toBe('running');

    const stop = await swarm(['run', 'stop', 'bg', '--json']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.envelope.data.signal).toBe('SIGTERM');
    const done = await until('the stopped run sealed', async () => (await ps()).find((r) => r.run_id === 'bg' && r.state !== 'running'));
    expect(done).toMatchObject({ state: 'committed', status: 'failed', node_id: 'node-bg' });
    await until('the follower to end with the run', async () => follower.exitCode !== null || follower.signalCode !== null, 30_000);
    expect(followed).not.toContain('tick 99');
    const status = await swarm(['run', 'status', '--run-id', 'bg', '--json']);
    expect(status.envelope.data).toMatchObject({ status: 'failed', node_id: 'node-bg' });
    const result = JSON.parse(fs.readFileSync(path.join(tmp, '.swarm', 'runs', 'bg', 'result.json'), 'utf8'));
    expect(result.swarm.interrupted).toBe(true);
    expect(result.signal).toBe('SIGTERM');
    // A stopped run cannot be stopped again.
    expect((await swarm(['run', 'stop', 'bg', '--json'])).code).toBe(2);
  }, 120_000);

  it('kill leaves no node and an abandoned run; kill --seal seals one at once, without the grace a stop gives', async () => {
    expect((await swarm(['run', 'launch', '--run-id', 'k', '--detach', '--step', 'sleep 61.37'])).code).toBe(0);
    await until('k running', async () => (await ps()).find((r) => r.run_id === 'k' && r.state === 'running'));
    const kill = await swarm(['run', 'kill', 'k', '--json']);
    expect(kill.code, kill.stderr).toBe(0);
    expect(kill.envelope.data.signal).toBe('SIGKILL');
    const killed = await until('k abandoned', async () => (await ps()).find((r) => r.run_id === 'k' && r.state === 'abandoned'));
    expect(killed.node_id).toBeNull();
    // Nothing of the step survives its run.
    const survivors = () =>
      fs.readdirSync('/proc').filter((p) => {
        try {
          return /^\d+$/.test(p) && fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sleep\u000061.37');
        } catch {
          return false;
        }
      });
    await until('no survivor of the killed step', async () => survivors().length === 0, 10_000);

    // A step that ignores SIGTERM: a stop waits out its grace (2 s) before SIGKILL; kill --seal does not.
    const stubborn = "trap '' TERM; while true; do sleep 0.1; done";
    for (const id of ['s-stop', 's-seal']) {
      expect((await swarm(['run', 'launch', '--run-id', id, '--detach', '--step', stubborn])).code).toBe(0);
      await until(`${id} running`, async () => (await ps()).find((r) => r.run_id === id && r.state === 'running'));
    }
    const elapsed: Record<string, number> = {};
    for (const [id, args] of [['s-stop', ['run', 'stop', 's-stop']], ['s-seal', ['run', 'kill', 's-seal', '--seal']]] as const) {
      const t0 = Date.now();
      expect((await swarm([...args, '--json'])).code).toBe(0);
      const row = await until(`${id} sealed`, async () => (await ps()).find((r) => r.run_id === id && r.state === 'committed'), 30_000);
      elapsed[id] = Date.now() - t0;
      expect(row).toMatchObject({ status: 'failed', node_id: `node-${id}` });
    }
    expect(elapsed['s-stop']).toBeGreaterThanOrEqual(2000);
    expect(elapsed['s-seal']).toBeLessThan(elapsed['s-stop']!);
  });

  it('--restart on-failure:2 on a step that fails twice then succeeds: three linked runs from the same parent, the last one succeeded', async () => {
    const step = 'echo "attempt $SWARM_RUN_ID" > attempt.txt; case "$SWARM_RUN_ID" in *-r2) exit 0;; *) exit 3;; esac';
    const r = await swarm(['run', 'launch', '--run-id', 'flaky', '--restart', 'on-failure:2', '--json', '--step', step]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.envelope.data).toMatchObject({ run_id: 'flaky-r2', status: 'succeeded', node_id: 'node-flaky-r2' });
    expect(r.stderr).toContain('restarting as flaky-r1');
    const runs = (await ps()).filter((x) => x.first_run_id === 'flaky').sort((a, b) => a.attempt! - b.attempt!);
    expect(runs.map((x) => [x.run_id, x.attempt, x.status, x.restart_policy])).toEqual([
      ['flaky', 0, 'failed', 'on-failure:2'],
      ['flaky-r1', 1, 'failed', 'on-failure:2'],
      ['flaky-r2', 2, 'succeeded', 'on-failure:2'],
    ]);
    // Every attempt is a new run from the same parent node; none reuses a half-written one.
    const parents = await Promise.all(runs.map(async (x) => (await swarm(['run', 'status', '--run-id', x.run_id, '--json'])).envelope.data.parent_node_id));
    expect(new Set(parents)).toEqual(new Set(['root']));

    // always:2 restarts after a success too: three succeeded runs, each from the same parent.
    const always = await swarm(['run', 'launch', '--run-id', 'again', '--restart', 'always:2', '--json', '--step', 'true']);
    expect(always.code, always.stderr).toBe(0);
    expect(always.envelope.data).toMatchObject({ run_id: 'again-r2', status: 'succeeded' });
    expect((await ps()).filter((x) => x.first_run_id === 'again').map((x) => [x.run_id, x.status]).sort()).toEqual([['again', 'succeeded'], ['again-r1', 'succeeded'], ['again-r2', 'succeeded']]);

    // The policy's limit holds: on-failure:1 on a step that always fails gives two runs and exit 7.
    const failing = await swarm(['run', 'launch', '--run-id', 'always-bad', '--restart', 'on-failure:1', '--json', '--step', 'exit 4']);
    expect(failing.code).toBe(7);
    expect((await ps()).filter((x) => x.first_run_id === 'always-bad').map((x) => x.run_id).sort()).toEqual(['always-bad', 'always-bad-r1']);
  });

  it('a stop between two attempts ends the chain: nothing is restarted after it', async () => {
    expect((await swarm(['run', 'launch', '--run-id', 'chain', '--detach', '--restart', 'on-failure:5', '--step', 'exit 1'])).code).toBe(0);
    // After the second attempt fails the supervisor waits 2 s: stop it then.
    await until('chain-r1 failed', async () => (await ps()).find((r) => r.run_id === 'chain-r1' && r.state === 'committed'), 30_000);
    const stop = await swarm(['run', 'stop', 'chain-r1', '--json']);
    expect(stop.code, stop.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 5000));
    expect((await ps()).filter((r) => r.first_run_id === 'chain').map((r) => r.run_id).sort()).toEqual(['chain', 'chain-r1']);
    expect(fs.readFileSync(path.join(tmp, '.swarm', 'supervisor', 'chain', 'supervisor.log'), 'utf8')).toContain('STEP_INTERRUPTED');

    // A second launch of a live chain's id is refused, and leaves the first chain's supervisor
    // reachable: a stop between its attempts still ends it.
    expect((await swarm(['run', 'launch', '--run-id', 'dup', '--detach', '--restart', 'on-failure:5', '--step', 'exit 1'])).code).toBe(0);
    await until('dup failed once', async () => (await ps()).find((r) => r.run_id === 'dup' && r.state === 'committed'), 30_000);
    const again = await swarm(['run', 'launch', '--run-id', 'dup', '--restart', 'on-failure:5', '--json', '--step', 'exit 1']);
    expect(again.code).toBe(2);
    expect(again.envelope.error.code).toBe('RUN_ID_EXISTS');
    await until('dup-r1 failed', async () => (await ps()).find((r) => r.run_id === 'dup-r1' && r.state === 'committed'), 30_000);
    expect((await swarm(['run', 'stop', 'dup', '--json'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 5000));
    expect((await ps()).filter((r) => r.first_run_id === 'dup').map((r) => r.run_id).sort()).toEqual(['dup', 'dup-r1']);
  }, 120_000);

  it('--publish reaches a server started inside the sandbox from the host; without it the host cannot', async () => {
    const serve = `node -e "require('http').createServer((q, s) => s.end('hello from inside ' + process.env.SWARM_RUN_ID)).listen(8123, '127.0.0.1')"`;
    const server = `${serve} & i=0; while [ ! -e release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`;
    const get = async (port: number) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
        return await r.text();
      } catch {
        return null;
      }
    };
    // Positive control first: the server runs (the step reaches it itself, and the host tries
    // while it does), but the step's 127.0.0.1 is its own network namespace's: not the host's.
    const probe = `${serve} & sleep 1; node -e "fetch('http://127.0.0.1:8123/').then((r) => r.text()).then(console.log)"; sleep 1`;
    // Weakened: with the host's network (no namespace of its own) the host does reach it.
    const open = swarm(['run', 'launch', '--run-id', 'open-net', '--json', '--unsandboxed-egress', '--step', probe]);
    await new Promise((r) => setTimeout(r, 1500));
    const openFromHost = await get(8123);
    expect((await open).code).toBe(0);
    expect(openFromHost).toBe('hello from inside open-net');
    const unpublished = swarm(['run', 'launch', '--run-id', 'unpublished', '--json', '--step', probe]);
    await new Promise((r) => setTimeout(r, 1500));
    const fromHost = await get(8123);
    expect((await unpublished).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm', 'runs', 'unpublished', 'step.log'), 'utf8')).toContain('hello from inside unpublished');
    expect(fromHost).toBeNull();

    // --publish <port>: a free host port, printed; the host reaches the step's server through it.
    expect((await swarm(['run', 'launch', '--run-id', 'pub', '--detach', '--publish', '8123', '--step', server])).code).toBe(0);
    const log = path.join(tmp, '.swarm', 'supervisor', 'pub', 'supervisor.log');
    const hostPort = await until('the published port printed', async () => Number(/published on http:\/\/127\.0\.0\.1:(\d+)\//.exec(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '')?.[1] ?? 0) || undefined);
    const body = await until('the published server to answer', async () => (await get(hostPort)) ?? undefined);
    expect(body).toBe('hello from inside pub');
    // Many connections, one after another and at once.
    const many = await Promise.all(Array.from({ length: 8 }, () => get(hostPort)));
    expect(many).toEqual(Array(8).fill('hello from inside pub'));
    fs.writeFileSync(path.join(tmp, '.swarm', 'runs', 'pub', 'workspace', 'release'), '');
    const done = await until('pub sealed', async () => (await ps()).find((r) => r.run_id === 'pub' && r.state === 'committed'), 30_000);
    expect(done.status).toBe('succeeded');
    const policy = JSON.parse(fs.readFileSync(path.join(tmp, '.swarm', 'runs', 'pub', 'policy.json'), 'utf8'));
    expect(policy.swarm.published_ports).toEqual([8123]);
    // The run over, the port is closed again.
    expect(await get(hostPort)).toBeNull();

    for (const bad of ['0', '70000', 'x:80', '80:', '8123:8123:1']) {
      const r = await swarm(['run', 'launch', '--run-id', 'badpub', '--publish', bad, '--json', '--step', 'true']);
      expect(r.code, bad).toBe(2);
    }
  }, 120_000);

  it('refuses a bad restart policy and --detach with --interactive (exit 2), before anything runs', async () => {
    for (const policy of ['sometimes', 'on-failure:0', 'no:3', 'always:x']) {
      const r = await swarm(['run', 'launch', '--run-id', 'x', '--restart', policy, '--json', '--step', 'true']);
      expect(r.code, policy).toBe(2);
      expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
    }
    const r = await swarm(['run', 'launch', '--run-id', 'x', '--detach', '--interactive', '--agent', 'claude', '--json']);
    expect(r.code).toBe(2);
    expect((await ps()).length).toBe(0);
  });
});
