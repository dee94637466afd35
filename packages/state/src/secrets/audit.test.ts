import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalBytes, isSwarmError } from '@swarm/core';
import { appendAudit, listAudit, verifyAudit, type AuditEvent } from './audit.js';
import { withAuditLock } from './audit-lock.js';

let tmp: string;
let home: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-audit-'));
  home = path.join(tmp, 'home');
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

const logFile = () => path.join(home, 'audit.log');
const headFile = () => path.join(home, 'audit.head');
const lines = () => fs.readFileSync(logFile(), 'utf8').split('\n').slice(0, -1);
const writeLines = (l: string[]) => fs.writeFileSync(logFile(), l.map((x) => `${x}\n`).join(''));
const sha = (text: string) => `sha256:${crypto.createHash('sha256').update(text).digest('hex')}`;
const event = (name: string, i = 0): AuditEvent => ({ action: 'set', name, at: new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString() });

/** Five entries: set, set, grant, remove, set. */
function fiveEntries(): void {
  appendAudit(home, [event('A', 1), event('B', 2)]);
  appendAudit(home, [{ action: 'grant', name: 'A', run_id: 'run-1', at: '2024-01-01T00:00:03.000Z' }]);
  appendAudit(home, [{ action: 'remove', name: 'B', at: '2024-01-01T00:00:04.000Z' }]);
  appendAudit(home, [event('C', 5)]);
  expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 5, head_behind: false });
}

/** Rewrites an entry's fields and recomputes its hash, as a forger who knows the format would. */
function forge(line: string, changes: Record<string, unknown>): string {
  const entry = { ...JSON.parse(line), ...changes };
  const { hash: _old, ...fields } = entry;
  const hash = `sha256:${crypto.createHash('sha256').update(canonicalBytes(fields)).digest('hex')}`;
  return JSON.stringify({ ...fields, hash });
}

describe('audit log', () => {
  it('chains each line to the previous line’s bytes from a fixed genesis value', () => {
    fiveEntries();
    const l = lines();
    const entries = l.map((x) => JSON.parse(x));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0].prev).toBe(`sha256:${'0'.repeat(64)}`);
    for (let i = 1; i < l.length; i++) expect(entries[i].prev).toBe(sha(l[i - 1]!));
    expect(Object.keys(entries[2])).toEqual(['seq', 'at', 'action', 'name', 'run_id', 'prev', 'hash']);
    expect(Object.keys(entries[0])).toEqual(['seq', 'at', 'action', 'name', 'prev', 'hash']);
    expect(JSON.parse(fs.readFileSync(headFile(), 'utf8'))).toEqual({ seq: 5, line_hash: sha(l[4]!) });
    expect(fs.statSync(logFile()).mode & 0o777).toBe(0o600);
    expect(fs.statSync(headFile()).mode & 0o777).toBe(0o600);
  });

  it('an empty or absent log verifies', () => {
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 0 });
    expect(listAudit(home)).toEqual([]);
  });

  it('lists entries oldest first, by name, the last N', () => {
    fiveEntries();
    expect(listAudit(home).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(listAudit(home, { name: 'A' }).map((e) => [e.seq, e.action, e.run_id])).toEqual([
      [1, 'set', undefined],
      [3, 'grant', 'run-1'],
    ]);
    expect(listAudit(home, { limit: 2 }).map((e) => e.seq)).toEqual([4, 5]);
    expect(listAudit(home, { name: 'B', limit: 1 }).map((e) => e.seq)).toEqual([4]);
    expect(codeOf(() => listAudit(home, { limit: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => listAudit(home, { name: 'no-such' }))).toBe('SECRET_NAME_INVALID');
  });

  it('refuses entries it would not accept back', () => {
    expect(codeOf(() => appendAudit(home, [{ action: 'grant', name: 'A', at: '2024-01-01T00:00:00.000Z' }]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => appendAudit(home, [{ action: 'set', name: 'A', run_id: 'r', at: '2024-01-01T00:00:00.000Z' }]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => appendAudit(home, [{ action: 'grant', name: 'A', run_id: '../x', at: '2024-01-01T00:00:00.000Z' }]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => appendAudit(home, [{ action: 'set', name: 'A', at: 'yesterday' }]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => appendAudit(home, [{ action: 'set', name: 'A-B', at: '2024-01-01T00:00:00.000Z' }]))).toBe('SECRET_NAME_INVALID');
    expect(fs.existsSync(logFile())).toBe(false);
  });

  describe('verify names the first bad line and why', () => {
    it('an edited line', () => {
      fiveEntries();
      const l = lines();
      writeLines(l.map((x, i) => (i === 1 ? x.replace('"B"', '"X"') : x)));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 2, reason: 'edited' });
    });

    it('an edited line whose hash was recomputed breaks the next line’s prev', () => {
      fiveEntries();
      const l = lines();
      writeLines(l.map((x, i) => (i === 1 ? forge(x, { name: 'X' }) : x)));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 3, reason: 'chain_broken' });
    });

    it('a re-spaced line (same fields, other bytes)', () => {
      fiveEntries();
      writeLines(lines().map((x, i) => (i === 0 ? x.replace('"seq":1,', '"seq": 1,') : x)));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 1, reason: 'edited' });
    });

    it('a reordered line', () => {
      fiveEntries();
      const l = lines();
      writeLines([l[0]!, l[2]!, l[1]!, l[3]!, l[4]!]);
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 2, reason: 'out_of_order' });
    });

    it('a line removed in the middle', () => {
      fiveEntries();
      const l = lines();
      writeLines([l[0]!, l[2]!, l[3]!, l[4]!]);
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 2, reason: 'out_of_order' });
    });

    it('the last line removed (caught by audit.head)', () => {
      fiveEntries();
      writeLines(lines().slice(0, 4));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 5, reason: 'tail_removed' });
    });

    it('the last line replaced by a forged one', () => {
      fiveEntries();
      writeLines(lines().map((x, i) => (i === 4 ? forge(x, { name: 'X' }) : x)));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 5, reason: 'head_mismatch' });
    });

    it('a truncated line', () => {
      fiveEntries();
      const bytes = fs.readFileSync(logFile());
      fs.writeFileSync(logFile(), bytes.subarray(0, bytes.length - 20));
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 5, reason: 'truncated' });
    });

    it('a line that is not an entry', () => {
      fiveEntries();
      const l = lines();
      writeLines([l[0]!, 'hello', ...l.slice(1)]);
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 2, reason: 'malformed' });
    });

    it('a deleted log, or a deleted or edited head', () => {
      fiveEntries();
      const head = fs.readFileSync(headFile());
      fs.rmSync(headFile());
      expect(verifyAudit(home)).toMatchObject({ ok: false, reason: 'head_mismatch' });
      fs.writeFileSync(headFile(), '{"seq":5}');
      expect(verifyAudit(home)).toMatchObject({ ok: false, reason: 'head_mismatch' });
      fs.writeFileSync(headFile(), head);
      expect(verifyAudit(home)).toMatchObject({ ok: true });
      fs.rmSync(logFile());
      expect(verifyAudit(home)).toMatchObject({ ok: false, line: 1, reason: 'tail_removed' });
    });
  });

  it('a head one line behind (a writer stopped between its two writes) verifies, and the next append brings it level', () => {
    appendAudit(home, [event('A', 1)]);
    const head = fs.readFileSync(headFile());
    appendAudit(home, [event('B', 2)]);
    fs.writeFileSync(headFile(), head);
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 2, head_behind: true });
    appendAudit(home, [event('C', 3)]);
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 3, head_behind: false });
    // Two behind is not a crash: that is lines added without the head.
    fs.writeFileSync(headFile(), head);
    expect(verifyAudit(home)).toMatchObject({ ok: false, line: 3, reason: 'head_mismatch' });
  });

  it('refuses to append to a log whose end was tampered with, and leaves it as it was', () => {
    const tampered: Array<[string, () => void]> = [
      ['last line removed', () => writeLines(lines().slice(0, 4))],
      ['last line edited', () => writeLines(lines().map((x, i) => (i === 4 ? x.replace('"C"', '"X"') : x)))],
      ['last line forged', () => writeLines(lines().map((x, i) => (i === 4 ? forge(x, { name: 'X' }) : x)))],
      ['truncated', () => fs.truncateSync(logFile(), fs.statSync(logFile()).size - 5)],
      ['log deleted', () => fs.rmSync(logFile())],
    ];
    for (const [what, tamper] of tampered) {
      fs.rmSync(home, { recursive: true, force: true });
      fiveEntries();
      tamper();
      const before = fs.existsSync(logFile()) ? fs.readFileSync(logFile()) : null;
      expect(codeOf(() => appendAudit(home, [event('D')])), what).toBe('AUDIT_CHAIN_BROKEN');
      expect(fs.existsSync(logFile()) ? fs.readFileSync(logFile()) : null, what).toEqual(before);
      expect(codeOf(() => listAudit(home)), what).toBe('AUDIT_CHAIN_BROKEN');
    }
  });

  it('a lock held by a process that was killed is released by the kernel', async () => {
    const script = path.join(tmp, 'hold-lock.ts');
    fs.writeFileSync(
      script,
      `import { withAuditLock } from ${JSON.stringify(pathToFileURL(path.join(here, 'audit-lock.ts')).href)};\n` +
        `withAuditLock(process.argv[2]!, () => { console.log('locked'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000); });\n`,
    );
    const child = spawn(process.execPath, [VITE_NODE, '--config', VITEST_CONFIG, script, home], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      child.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
    });
    // Positive control: while it lives, the lock is held (a short wait gives up).
    expect(codeOf(() => withAuditLock(home, () => {}, { timeoutMs: 300 }))).toBe('AUDIT_BUSY');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    appendAudit(home, [event('A')]);
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 1 });
  }, 60_000);

  it('two writer processes appending at once keep seq and prev consistent', async () => {
    const result = await twoWriters({ locked: true, each: 150 });
    expect(result.codes, result.stderr).toEqual([0, 0]);
    expect(verifyAudit(home)).toMatchObject({ ok: true, entries: 300 });
    const entries = listAudit(home);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(entries.filter((e) => e.name === 'P1').length).toBe(150);
    expect(entries.filter((e) => e.name === 'P2').length).toBe(150);
    // They did run at once: the writers' entries interleave.
    const switches = entries.filter((e, i) => i > 0 && e.name !== entries[i - 1]!.name).length;
    expect(switches).toBeGreaterThan(10);
  }, 120_000);

  it('positive control: the same two writers without the lock break the chain', async () => {
    const result = await twoWriters({ locked: false, each: 150 });
    // A writer that reads a forked end refuses to go on (exit 1); either way the log is not intact.
    const intact = result.codes.every((code) => code === 0) && verifyAudit(home).ok;
    expect(intact).toBe(false);
  }, 120_000);
});

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '../../../..');
const VITE_NODE = path.join(REPO, 'node_modules', 'vite-node', 'vite-node.mjs');
const VITEST_CONFIG = path.join(REPO, 'vitest.config.ts');

/**
 * Two processes each append `each` entries, starting together. Unlocked, each runs the same
 * append (read the end, append a line, move the head) without taking the lock around it.
 */
async function twoWriters(options: { locked: boolean; each: number }): Promise<{ codes: Array<number | null>; stderr: string }> {
  const go = path.join(tmp, 'go');
  const script = path.join(tmp, 'writer.ts');
  const module = (name: string) => JSON.stringify(pathToFileURL(path.join(here, name)).href);
  fs.writeFileSync(
    script,
    [
      `import fs from 'node:fs';`,
      `import { appendAudit, appendHoldingLock } from ${module('audit.ts')};`,
      `const [home, name, each, locked, go] = process.argv.slice(2);`,
      `const append = locked === 'locked' ? appendAudit : appendHoldingLock;`,
      `while (!fs.existsSync(go!)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);`,
      // A pause between appends, as real writers have: the lock holder would otherwise take it straight back.
      `const pause = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1 + Math.floor(Math.random() * 3));`,
      `for (let i = 0; i < Number(each); i++) { append(home!, [{ action: 'set', name: name!, at: new Date().toISOString() }]); pause(); }`,
    ].join('\n'),
  );
  const children = ['P1', 'P2'].map((name) =>
    spawn(process.execPath, [VITE_NODE, '--config', VITEST_CONFIG, script, home, name, String(options.each), options.locked ? 'locked' : 'unlocked', go], {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  for (const child of children) child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  // Both load (about a second each) before either writes.
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  fs.writeFileSync(go, '');
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((resolve) => c.once('exit', resolve))));
  return { codes, stderr };
}
