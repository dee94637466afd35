import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-quickstart-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

// The README's main-job command: it must keep working end to end.
it('swarm quickstart runs launch → resume → fork → resume-from-fork → verify', () => {
  const r = spawnSync(process.execPath, [BIN, 'quickstart', '--json'], {
    cwd: tmp,
    env: { ...process.env, SWARM_HOME: path.join(tmp, 'home') },
    encoding: 'utf8',
    timeout: 120_000,
  });
  expect(r.stderr).not.toContain('Error');
  const envelope = JSON.parse(r.stdout);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  expect(r.status).toBe(0);
  const data = envelope.data;
  expect(data.runs.map((run: { run_id: string; status: string }) => `${run.run_id}:${run.status}`)).toEqual(['qs-1:succeeded', 'qs-2:succeeded', 'qs-3:succeeded']);
  expect(data.runs[2].parent_node_id).toBe(data.fork.node_id);
  expect(data.verified.map((v: { ok: boolean }) => v.ok)).toEqual([true, true]);
  // Each branch saw its parent's notes and only its own step.
  expect(data.notes.main).toContain('(qs-2)');
  expect(data.notes.main).not.toContain('(qs-3)');
  expect(data.notes.fork).toContain('(qs-3)');
  expect(data.notes.fork).not.toContain('(qs-2)');
  expect(data.notes.fork).toContain('- step 2 (qs-3)');
  expect(data.graph).toContain('node_qs_1 --> node_fork_alt');
});
