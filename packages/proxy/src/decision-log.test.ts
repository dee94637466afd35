import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DecisionLog, summarizeEgressLog, type DecisionEntry } from './decision-log.js';

function entry(overrides: Partial<DecisionEntry>): DecisionEntry {
  return {
    time: '2025-01-01T00:00:00.000Z',
    run_id: 'r1',
    session_id: 's1',
    host: 'example.com',
    port: 443,
    method: 'CONNECT',
    decision: 'allowed',
    reason: 'allowed',
    status: 200,
    bytes_in: 0,
    bytes_out: 0,
    duration_ms: 1,
    ...overrides,
  };
}

describe('decision log', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-egress-log-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('appends one line per decision (0600) and sums them', async () => {
    const file = path.join(dir, 'run', 'egress.log');
    const log = new DecisionLog(file);
    log.write(entry({ bytes_in: 100, bytes_out: 10 }));
    log.write(entry({ host: '::1', port: 8080, bytes_in: 5, bytes_out: 1 }));
    log.write(entry({ host: 'evil.example', decision: 'denied', reason: 'not_allowed', status: 403 }));
    log.write(entry({ bytes_in: 1, bytes_out: 2 }));
    await log.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(4);
    expect(await summarizeEgressLog(file)).toEqual({
      requests: 4,
      allowed: 3,
      denied: 1,
      bytes_in: 106,
      bytes_out: 13,
      hosts: ['[::1]:8080', 'example.com:443'],
    });
  });

  it('skips torn or foreign lines, and a missing log is an empty summary', async () => {
    const file = path.join(dir, 'torn.log');
    fs.writeFileSync(file, `${JSON.stringify(entry({ bytes_in: 3 }))}\nnot json\n{"decision":"maybe"}\n{"decision":"allowed","bytes_in":-1,"bytes_out":0}\n{"decision":"den`);
    expect(await summarizeEgressLog(file)).toMatchObject({ requests: 1, allowed: 1, bytes_in: 3 });
    expect(await summarizeEgressLog(path.join(dir, 'none.log'))).toEqual({
      requests: 0,
      allowed: 0,
      denied: 0,
      bytes_in: 0,
      bytes_out: 0,
      hosts: [],
    });
  });
});
