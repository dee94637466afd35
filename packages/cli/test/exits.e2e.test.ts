/**
 * Honest exits (DESIGN section 7): a failed or timed-out step exits 7 with its own exit code in the
 * envelope, an interrupted run exits 130, bad input stays 2 and a swarm bug stays 1. Codes and exit
 * codes are asserted, never message text.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_CODES, validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-exits-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  delete env.SOURCE_DATE_EPOCH;
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swarm(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function envelopeOf(stdout: string) {
  const lines = stdout.trim().split('\n');
  expect(lines, stdout).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return envelope;
}

function json(args: string[]) {
  const r = swarm([...args, '--json']);
  return { ...r, envelope: envelopeOf(r.stdout) };
}

const launch = ['run', 'launch', '--unsandboxed-egress', '--node', 'root'];

describe('exit codes of failed, timed-out and interrupted steps (built binary)', () => {
  it('has one table: a step failure is 7, an interruption 130', () => {
    expect(EXIT_CODES.step).toBe(7);
    expect(EXIT_CODES.interrupted).toBe(130);
  });

  it('a step that exits 3 makes swarm exit 7, with the step\'s exit code and a failed node', () => {
    const r = json([...launch, '--run-id', 'f', '--step', 'exit 3']);
    expect(r.code).toBe(7);
    expect(r.envelope.error.code).toBe('STEP_FAILED');
    expect(r.envelope.error.category).toBe('step');
    expect(r.envelope.error.details.exit_code).toBe(3);
    expect(r.envelope.error.details.signal).toBeNull();
    expect(r.envelope.error.details.node_id).toBe('node-f');
    // The failed node is really recorded: it can be inspected, and the run is failed, not lost.
    expect(json(['state', 'inspect', '--node', 'node-f']).code).toBe(0);
    const status = json(['run', 'status', '--run-id', 'f']);
    expect(status.envelope.data.status).toBe('failed');
    expect(status.envelope.data.state).toBe('committed');
  });

  it('the human output names the code, the failed node and where it is, on stderr', () => {
    const r = swarm([...launch, '--run-id', 'h', '--step', 'exit 3']);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('[STEP_FAILED]');
    expect(r.stderr).toContain('node-h');
    expect(r.stderr).toContain(path.join('.swarm', 'runs', 'h'));
    expect(r.stderr).not.toContain('please report');
  });

  it('a step past --timeout makes swarm exit 7 with STEP_TIMEOUT and the signal that stopped it', () => {
    const r = json([...launch, '--run-id', 't', '--timeout', '0.5', '--step', 'sleep 5']);
    expect(r.code).toBe(7);
    expect(r.envelope.error.code).toBe('STEP_TIMEOUT');
    expect(r.envelope.error.category).toBe('step');
    expect(r.envelope.error.details).toHaveProperty('exit_code');
    expect(r.envelope.error.details).toHaveProperty('signal');
    expect(r.envelope.error.details.timed_out).toBe(true);
    expect(r.envelope.error.details.node_id).toBe('node-t');
  });

  it('SIGINT to a running launch exits 130 with STEP_INTERRUPTED', async () => {
    const child = spawn(process.execPath, [BIN, ...launch, '--run-id', 'i', '--step', 'echo marker; sleep 30', '--json'], {
      cwd: tmp,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    // With --json the step's output goes to stderr, so the marker shows the step is running.
    const started = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('marker')) resolve();
      });
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    try {
      await Promise.race([started, exited]);
      expect(stderr).toContain('marker');
      child.kill('SIGINT');
      const { code } = await exited;
      expect(code).toBe(130);
    } finally {
      clearTimeout(timer);
    }
    const envelope = envelopeOf(stdout);
    expect(envelope.error.code).toBe('STEP_INTERRUPTED');
    expect(envelope.error.category).toBe('interrupted');
    expect(envelope.error.details).toHaveProperty('exit_code');
    expect(envelope.error.details).toHaveProperty('signal');
    expect(envelope.error.details.interrupted).toBe(true);
  }, 60_000);

  it('bad input is still 2: an unknown command, a malformed option', () => {
    const unknown = json(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.envelope.error.code).toBe('USAGE');
    const bad = json([...launch, '--step', 'true', '--timeout', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.envelope.error.category).toBe('input');
  });

  it('an internal error is still 1 and asks to be reported', () => {
    expect(json(['init']).code).toBe(0);
    fs.writeFileSync(path.join(tmp, '.swarm', 'catalog.sqlite'), 'not a database, not at all\n');
    const r = json(['run', 'list']);
    expect(r.code).toBe(1);
    expect(r.envelope.error.code).toBe('STORE_CORRUPT');
    expect(r.envelope.error.category).toBe('internal');
    const human = swarm(['run', 'list']);
    expect(human.code).toBe(1);
    expect(human.stderr).toContain('[STORE_CORRUPT]');
    expect(human.stderr).toMatch(/^hint: .*report/m);
  });
});
