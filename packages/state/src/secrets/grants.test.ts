import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '@swarm/core';
import { listAudit } from './audit.js';
import { resolveSecretGrants } from './grants.js';
import { setSecret } from './store.js';

let tmp: string;
let home: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-grants-'));
  home = path.join(tmp, 'home');
  setSecret(home, 'API_KEY', 'sk-live-0123456789');
  setSecret(home, 'DB_PASSWORD', 'hunter2-but-longer');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isSwarmError(error) ? error.code : `(not a SwarmError: ${String(error)})`;
  }
  return '(no error)';
}

const context = { runId: 'run-42', at: '2024-03-01T12:00:00.000Z' };
const grants = () => listAudit(home).filter((e) => e.action === 'grant');

describe('resolveSecretGrants', () => {
  it('grants each secret under its own name or the variable given, and records one grant per secret', () => {
    const resolved = resolveSecretGrants(home, ['API_KEY', 'DB_PASSWORD=PGPASSWORD', 'API_KEY=OPENAI_API_KEY'], context);
    expect(resolved.env).toEqual({ API_KEY: 'sk-live-0123456789', PGPASSWORD: 'hunter2-but-longer', OPENAI_API_KEY: 'sk-live-0123456789' });
    expect(resolved.values.sort()).toEqual(['hunter2-but-longer', 'sk-live-0123456789']);
    expect(resolved.names).toEqual([
      { name: 'API_KEY', env: 'API_KEY' },
      { name: 'DB_PASSWORD', env: 'PGPASSWORD' },
      { name: 'API_KEY', env: 'OPENAI_API_KEY' },
    ]);
    expect(grants().map((e) => [e.name, e.run_id, e.at])).toEqual([
      ['API_KEY', 'run-42', context.at],
      ['DB_PASSWORD', 'run-42', context.at],
    ]);
  });

  it('nothing asked, nothing recorded', () => {
    expect(resolveSecretGrants(home, [], context)).toEqual({ env: {}, values: [], names: [] });
    expect(grants()).toEqual([]);
  });

  it('refuses variables swarm reserves, malformed specs and one variable for two secrets, before recording anything', () => {
    for (const spec of ['API_KEY=SWARM_TOKEN', 'API_KEY=swarm_x', 'API_KEY=HOME', 'API_KEY=https_proxy', 'API_KEY=ALL_PROXY', 'API_KEY=', 'API_KEY=1X', 'API_KEY=A-B', '=X', 'API-KEY', 'SWARM_RUN_ID']) {
      expect(codeOf(() => resolveSecretGrants(home, [spec], context)), spec).toBe('SECRET_GRANT_INVALID');
    }
    expect(codeOf(() => resolveSecretGrants(home, ['API_KEY=X', 'DB_PASSWORD=X'], context))).toBe('SECRET_GRANT_INVALID');
    expect(codeOf(() => resolveSecretGrants(home, ['API_KEY', 'API_KEY'], context))).toBe('(no error)');
    expect(grants()).toHaveLength(1);
  });

  it('a missing secret fails the whole grant, and none is recorded', () => {
    expect(codeOf(() => resolveSecretGrants(home, ['API_KEY', 'MISSING'], context))).toBe('SECRET_NOT_FOUND');
    expect(grants()).toEqual([]);
  });

  it('checks the run id and time it records', () => {
    expect(codeOf(() => resolveSecretGrants(home, ['API_KEY'], { runId: '../run', at: context.at }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => resolveSecretGrants(home, ['API_KEY'], { runId: 'run-1', at: 'now' }))).toBe('INVALID_ARGUMENT');
    expect(grants()).toEqual([]);
  });
});
