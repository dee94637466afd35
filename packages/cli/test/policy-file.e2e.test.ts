import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;
let files = 0;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-policy-file-'));
  env = { PATH: process.env.PATH, HOME: path.join(tmp, 'user'), SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function json(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd: tmp, env, encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { code: r.status, envelope };
}

function launchWith(policy: unknown) {
  const file = path.join(tmp, `policy-${++files}.json`);
  fs.writeFileSync(file, typeof policy === 'string' ? policy : JSON.stringify(policy));
  return json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--step', 'true', '--policy-file', file]);
}

describe('run launch --policy-file (built binary)', () => {
  it('accepts a v1 policy another implementation wrote, and the policy.json of a swarm run (controls)', () => {
    const foreign = launchWith({ schema_version: 'agent_swarm-policy-v1', generated_at: '2024-05-01T09:30:00Z', limits: { timeout_s: 30 } });
    expect(foreign.code).toBe(0);
    const written = fs.readFileSync(path.join(tmp, '.swarm', 'runs', foreign.envelope.data.run_id, 'policy.json'), 'utf8');
    expect(launchWith(written).code).toBe(0);
  });

  it.each([
    ['a misspelt top-level key', { limit: { timeout_s: 5 } }, ['/limit']],
    ['an unknown key inside egress', { egress: { allowlist: [], allow: ['example.com'] } }, ['/egress/allow']],
    ['an unknown key inside limits', { limits: { timeout: 5, memory_mb: 1 } }, ['/limits/timeout', '/limits/memory_mb']],
  ])('rejects %s (exit 2), naming every unknown key', (_label, policy, unknown) => {
    const r = launchWith(policy);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
    expect(r.envelope.error.details.unknown).toEqual(unknown);
  });

  it.each([
    ['0', 0],
    ['below a millisecond', 0.0001],
    ['beyond what a timer holds', 2_147_484],
    ['1e9', 1e9],
    ['negative', -1],
  ])('rejects limits.timeout_s %s like --timeout (exit 2)', (_label, timeout) => {
    const r = launchWith({ limits: { timeout_s: timeout } });
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
    const flag = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--step', 'true', '--timeout', String(timeout)]);
    expect(flag.code).toBe(2);
  });

  it('rejects limits.timeout_s that is not a number (exit 2)', () => {
    const r = launchWith({ limits: { timeout_s: '30' } });
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
  });

  it('accepts limits.timeout_s at both ends of the range and null (controls)', () => {
    for (const timeout of [2_147_483, null]) expect(launchWith({ limits: { timeout_s: timeout } }).code, String(timeout)).toBe(0);
    // A millisecond is a valid limit; `true` may well outlast it, so only the input is checked.
    const shortest = launchWith({ limits: { timeout_s: 0.001 } });
    expect(shortest.code).not.toBe(2);
  });
});
