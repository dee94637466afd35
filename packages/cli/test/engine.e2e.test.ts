import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-engine-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  delete env.SOURCE_DATE_EPOCH;
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swarm(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const r = swarm([...args, '--json'], extraEnv);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { ...r, envelope };
}

const launch = ['run', 'launch', '--unsandboxed-egress'];

describe('swarm run (built binary)', () => {
  it('launches, resumes, forks and lists with --json envelopes', () => {
    const a = json([...launch, '--node', 'root', '--run-id', 'a', '--step', 'echo hello > hello.txt; echo out']);
    expect(a.code).toBe(0);
    expect(a.envelope.data.status).toBe('succeeded');
    const b = json(['run', 'resume', '--unsandboxed-egress', '--node', 'run:a', '--run-id', 'b', '--step', 'cat hello.txt']);
    expect(b.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/b/step.log'), 'utf8')).toBe('hello\n');
    expect(json(['run', 'fork', '--node', 'run:a', '--label', 'x']).code).toBe(0);
    expect(json(['run', 'fork', '--node', 'run:a', '--label', 'x']).envelope.error.code).toBe('BRANCH_EXISTS');
    const list = json(['run', 'list']);
    expect(list.envelope.data.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['a', 'b']);
    const graph = json(['graph', '--format', 'dot']);
    expect(graph.envelope.data.text).toContain('node_a -> node_fork_x');
    for (const f of ['certificate.json', 'result.json', 'next_tokens.json', 'policy.json']) {
      const schema = f.replace('.json', '') as 'certificate' | 'result' | 'next_tokens' | 'policy';
      const doc = JSON.parse(fs.readFileSync(path.join(tmp, '.swarm/runs/a', f), 'utf8'));
      expect(validateDocument(schema, doc).errors).toEqual([]);
    }
    const status = json(['run', 'status', '--run-id', 'b']);
    expect(status.envelope.data.state).toBe('committed');
    const logs = json(['run', 'logs', '--run-id', 'b']);
    expect(logs.envelope.data.log).toBe('hello\n');
    const inspect = json(['state', 'inspect', '--node', 'run:b']);
    expect(inspect.envelope.data.manifest.files).toBe(1);
    expect(inspect.envelope.data.capabilities.state_cap).toMatch(/^sealed:v1:/);
  });

  it('maps failures to the documented exit codes', () => {
    expect(json([...launch, '--node', 'run:nope', '--step', 'true']).code).toBe(2);
    const failed = json([...launch, '--node', 'root', '--run-id', 'f', '--step', 'exit 7']);
    expect(failed.code).toBe(7);
    expect(failed.envelope.error.code).toBe('STEP_FAILED');
    expect(failed.envelope.error.details.node_id).toBe('node-f');
    expect(json([...launch, '--node', 'root', '--run-id', 'f', '--step', 'true']).envelope.error.code).toBe('RUN_ID_EXISTS');
    expect(json([...launch, '--node', 'root']).envelope.error.code).toBe('STEP_MISSING');
    expect(json([...launch, '--node', 'root', '--step', 'true', '--timeout', 'soon']).code).toBe(2);
    expect(json(['graph', '--format', 'png']).code).toBe(2);
    const badHost = json([...launch, '--node', 'root', '--step', 'true', '--allow-host', 'bad host']);
    expect(badHost.code).toBe(2);
    expect(badHost.envelope.error.code).toBe('EGRESS_ALLOWLIST_INVALID');
  });

  it('follows a running step\'s log until the run commits, and cancels a live run', async () => {
    const child = spawn(process.execPath, [BIN, ...launch, '--node', 'root', '--run-id', 'live', '--step', 'echo first; sleep 1; echo second'], { cwd: tmp, env, stdio: 'ignore' });
    const dir = path.join(tmp, '.swarm/runs/live');
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(dir)) {
      if (Date.now() > deadline) throw new Error('run never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    const follow = swarm(['run', 'logs', '--run-id', 'live', '--follow']);
    expect(follow.code).toBe(0);
    expect(follow.stdout).toBe('first\nsecond\n');
    await new Promise((r) => child.once('exit', r));
    expect(json(['run', 'status', '--run-id', 'live']).envelope.data.state).toBe('committed');

    const slow = spawn(process.execPath, [BIN, ...launch, '--node', 'root', '--run-id', 'slow', '--step', 'echo started; sleep 30'], { cwd: tmp, env, stdio: 'ignore' });
    const log = path.join(tmp, '.swarm/runs/slow/step.log');
    while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('started'))) {
      if (Date.now() > deadline + 20_000) throw new Error('step never started');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(json(['run', 'cancel', '--run-id', 'slow']).code).toBe(0);
    const exit = await new Promise<number | null>((r) => slow.once('exit', (code) => r(code)));
    expect(exit).toBe(130); // cancel sends SIGTERM: the run is interrupted, not a swarm bug
    const status = json(['run', 'status', '--run-id', 'slow']).envelope.data;
    expect(status.status).toBe('failed');
    expect(json(['run', 'cancel', '--run-id', 'slow']).envelope.error.code).toBe('INVALID_ARGUMENT');
  });

  it('survives kill -9 of a run: no visible node, still resumable, gc cleans up', async () => {
    expect(json([...launch, '--node', 'root', '--run-id', 'base', '--step', 'echo base > base.txt']).code).toBe(0);
    const child = spawn(process.execPath, [BIN, ...launch, '--node', 'run:base', '--run-id', 'crash', '--step', 'echo started; sleep 30'], {
      cwd: tmp,
      env,
      stdio: 'ignore',
    });
    const log = path.join(tmp, '.swarm/runs/crash/step.log');
    const deadline = Date.now() + 20_000;
    while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('started'))) {
      if (Date.now() > deadline) throw new Error('step never started');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    expect(json(['run', 'status', '--run-id', 'crash']).envelope.data.state).toBe('abandoned');
    // The run's row was written when it started: the listing shows it, abandoned, with no node.
    const listed = json(['run', 'list']).envelope.data.runs.map((r: { run_id: string; state: string; node_id: string | null }) => [r.run_id, r.state, r.node_id]);
    expect(listed).toEqual([
      ['base', 'committed', 'node-base'],
      ['crash', 'abandoned', null],
    ]);
    const resumed = json(['run', 'resume', '--unsandboxed-egress', '--node', 'run:base', '--run-id', 'after', '--step', 'cat base.txt']);
    expect(resumed.code).toBe(0);
    const gc = json(['gc']);
    expect(gc.envelope.data.removed_runs).toEqual(['crash']);
    expect(fs.existsSync(path.join(tmp, '.swarm/runs/crash'))).toBe(false);
    expect(json([...launch, '--node', 'run:base', '--run-id', 'crash', '--step', 'true']).code).toBe(0);
  });

  it('leaves no visible node when killed between sealing and commit, and gc removes the orphaned object', () => {
    expect(json([...launch, '--node', 'root', '--run-id', 'base', '--step', 'echo base > base.txt']).code).toBe(0);
    const crashed = swarm([...launch, '--node', 'run:base', '--run-id', 'torn', '--step', 'echo new > new.txt'], { SWARM_FAULT_INJECT: 'before-commit' });
    expect(crashed.code).toBeNull(); // killed by SIGKILL
    expect(json(['run', 'status', '--run-id', 'torn']).envelope.data.state).toBe('abandoned');
    expect(json(['state', 'inspect', '--node', 'run:torn']).envelope.error.code).toBe('NODE_NOT_FOUND');
    const gc = json(['gc']);
    expect(gc.envelope.data.removed_runs).toEqual(['torn']);
    expect(gc.envelope.data.removed_objects).toHaveLength(1);
    expect(json(['run', 'resume', '--unsandboxed-egress', '--node', 'run:base', '--run-id', 'torn', '--step', 'cat base.txt']).code).toBe(0);
  });
});
