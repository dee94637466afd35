/**
 * `--interactive`: the agent gets a terminal of its own inside the sandbox (util-linux `script`
 * relaying the caller's), and the node is sealed when it exits. The caller's terminal is itself a
 * pty made by `script` here; the agent is a stand-in `claude` on PATH that reports what it sees,
 * since driving the real CLI's full-screen interface by keystrokes is not what this checks.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let project: string;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-pty-'));
  project = path.join(tmp, 'project');
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(project);
  fs.mkdirSync(bin);
  // Reads one line from its terminal, as a person's answer, and says what it saw.
  fs.writeFileSync(
    path.join(bin, 'claude'),
    '#!/bin/sh\nif [ -t 0 ] && [ -t 1 ]; then echo "stand-in: on a terminal"; else echo "stand-in: no terminal"; fi\nread answer\necho "stand-in: got $answer" | tee answer.txt\n',
    { mode: 0o755 },
  );
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'swarm-home'), HOME: tmp, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH}` };
  delete env.SOURCE_DATE_EPOCH;
  expect(spawnSync(process.execPath, [BIN, 'init'], { cwd: project, env }).status).toBe(0);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('an interactive agent run', () => {
  it('refuses without a terminal', () => {
    const r = spawnSync(process.execPath, [BIN, 'run', 'launch', '--agent', 'claude', '--interactive', '--json'], { cwd: project, env, encoding: 'utf8', input: '' });
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('AGENT_OPTIONS_INVALID');
  });

  it('gives the agent a terminal in the sandbox and seals the node when it exits', () => {
    const command = [process.execPath, BIN, 'run', 'launch', '--run-id', 'by-hand', '--agent', 'claude', '--interactive'].map((a) => `'${a}'`).join(' ');
    // The caller's terminal: a pty from `script`, with the person's line typed into it.
    const r = spawnSync('script', ['-qefc', command, '/dev/null'], { cwd: project, env, encoding: 'utf8', input: 'yes please\n', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('stand-in: on a terminal');
    const log = fs.readFileSync(path.join(project, '.swarm', 'runs', 'by-hand', 'step.log'), 'utf8');
    expect(log).toContain('stand-in: got yes please');
    const status = JSON.parse(spawnSync(process.execPath, [BIN, 'run', 'status', '--run-id', 'by-hand', '--json'], { cwd: project, env, encoding: 'utf8' }).stdout);
    expect(status.data).toMatchObject({ state: 'committed', node_id: 'node-by-hand' });
    const policy = JSON.parse(fs.readFileSync(path.join(project, '.swarm', 'runs', 'by-hand', 'policy.json'), 'utf8'));
    expect(policy.step.prompt_sha256).toBeNull();
  });
});
