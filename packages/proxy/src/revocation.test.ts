import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RevocationList } from './revocation.js';

let dir: string;
let file: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-revocations-'));
  file = path.join(dir, 'revoked');
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const id = (n: number): string => `session-${String(n).padStart(4, '0')}-abcdefghijklmnop`;

function waitUntil(check: () => boolean, timeoutMs = 3_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(tick, 10);
    };
    tick();
  });
}

describe('revocation file', () => {
  it('keeps revocations when the file is deleted, truncated or unreadable', () => {
    fs.writeFileSync(file, `${id(1)}\n`);
    const list = new RevocationList({ file });
    // Probe: the list really follows the file, so a deletion is something it would see.
    fs.appendFileSync(file, `${id(2)}\n`);
    expect(list.has(id(2))).toBe(true);
    fs.writeFileSync(file, '');
    expect(list.has(id(3))).toBe(false);
    expect(list.has(id(1))).toBe(true);
    fs.rmSync(file);
    expect([list.has(id(1)), list.has(id(2))]).toEqual([true, true]);
    // Unreadable: a directory where the file was.
    fs.mkdirSync(file);
    expect([list.has(id(1)), list.has(id(2))]).toEqual([true, true]);
    list.close();
  });

  it('writes every known revocation again when revoking after the file was deleted', () => {
    fs.writeFileSync(file, `${id(1)}\n`);
    const list = new RevocationList({ file });
    fs.rmSync(file);
    list.revoke(id(2));
    expect(new RevocationList({ file }).has(id(1))).toBe(true);
    expect(new RevocationList({ file }).has(id(2))).toBe(true);
  });

  it('honours every one of many rapid revocations, appended and by replacing the file', async () => {
    fs.writeFileSync(file, '');
    const list = new RevocationList({ file, pollMs: 50 });
    const seen = new Set<string>();
    list.onRevoke((s) => seen.add(s));
    list.watch();
    const lines: string[] = [];
    for (let n = 0; n < 60; n += 1) {
      lines.push(id(n));
      if (n % 10 === 9) {
        const next = path.join(dir, 'revoked.next');
        fs.writeFileSync(next, `${lines.join('\n')}\n`);
        fs.renameSync(next, file);
      } else {
        fs.appendFileSync(file, `${id(n)}\n`);
      }
    }
    await waitUntil(() => seen.size === 60);
    for (let n = 0; n < 60; n += 1) expect(list.has(id(n))).toBe(true);
    list.close();
  });

  it('notices a same-size rewrite whose mtime was put back', async () => {
    fs.writeFileSync(file, `${id(1)}\n`);
    const before = fs.statSync(file);
    const list = new RevocationList({ file, pollMs: 50 });
    const seen: string[] = [];
    list.onRevoke((s) => seen.push(s));
    list.watch();
    fs.writeFileSync(file, `${id(2)}\n`);
    fs.utimesSync(file, before.atime, before.mtime);
    expect(fs.statSync(file).size).toBe(before.size);
    await waitUntil(() => seen.includes(id(2)));
    expect(list.has(id(1))).toBe(true);
    list.close();
  });

  it('checks the file at lookup time, without a watcher', () => {
    fs.writeFileSync(file, '');
    const list = new RevocationList({ file });
    expect(list.has(id(7))).toBe(false);
    fs.appendFileSync(file, `${id(7)}\n`);
    expect(list.has(id(7))).toBe(true);
  });
});
