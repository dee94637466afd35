/**
 * The two walks of a tree: the one-phase walk (every directory pinned, or by path when quiescent)
 * and the two-phase walk of a big quiescent tree (listing first, then stats split with a helper
 * thread). They must see exactly the same tree.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STAT_FIELDS, StatHelper } from './parallel-stat.js';
import { PARALLEL_STAT_MIN, walkWorkspace } from './walk.js';

let root: string;
let tree: string;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-walk-'));
  tree = path.join(root, 'tree');
  fs.mkdirSync(tree);
  // More entries than the threshold, over nested directories, with every kind the walk tells apart.
  for (let d = 0; d < 40; d += 1) {
    const dir = path.join(tree, `d${d}`, 'sub');
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < Math.ceil(PARALLEL_STAT_MIN / 40) + 5; f += 1) fs.writeFileSync(path.join(dir, `f${f}.txt`), 'x'.repeat(f % 7));
  }
  fs.symlinkSync('d0/sub/f1.txt', path.join(tree, 'inside-link'));
  fs.symlinkSync('/etc/passwd', path.join(tree, 'absolute-link'));
  fs.symlinkSync('../../outside', path.join(tree, 'd1', 'escaping-link'));
  execFileSync('mkfifo', [path.join(tree, 'd2', 'fifo')]);
  fs.writeFileSync(Buffer.concat([Buffer.from(`${tree}/d3/bad-`), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]), 'n');
  fs.mkdirSync(path.join(tree, 'skip-me'));
  fs.writeFileSync(path.join(tree, 'skip-me', 'inner'), 'i');
  fs.writeFileSync(path.join(tree, 'd4', 'secret.pem'), 'k');
  fs.chmodSync(path.join(tree, 'd5', 'sub', 'f3.txt'), 0o4755);
  fs.linkSync(path.join(tree, 'd6', 'sub', 'f2.txt'), path.join(tree, 'd6', 'hardlink'));
  // A name that starts with U+FEFF beside the same name without it.
  fs.writeFileSync(path.join(tree, 'd7', '\uFEFFbom.txt'), 'with');
  fs.writeFileSync(path.join(tree, 'd7', 'bom.txt'), 'without');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const exclude = (rel: string, type: string) => rel === 'skip-me' || (type === 'file' && rel.endsWith('.pem'));

describe('walk of a big quiescent tree', () => {
  it('sees exactly what the one-phase walk sees: entries, stats, skipped and excluded', () => {
    // A first listing moves the directories' atimes (relatime); later ones leave them.
    walkWorkspace(tree, { exclude });
    const one = walkWorkspace(tree, { exclude });
    const two = walkWorkspace(tree, { exclude, quiescent: true, expectEntries: PARALLEL_STAT_MIN });
    expect(one.entries.length).toBeGreaterThan(PARALLEL_STAT_MIN);
    expect(two.entries).toEqual(one.entries);
    expect(two.skipped).toEqual(one.skipped);
    expect(two.excluded).toEqual(one.excluded);
    expect(one.skipped.map((s) => s.reason).sort()).toEqual(['name-not-utf8', 'special-file', 'unsafe-symlink', 'unsafe-symlink']);
    expect(one.excluded).toEqual(['workspace/d4/secret.pem', 'workspace/skip-me']);
    const odd = two.entries.find((e) => e.rel === 'd5/sub/f3.txt')!;
    expect(odd.perm).toBe(0o4755);
    expect(two.entries.find((e) => e.rel === 'd6/hardlink')!.nlink).toBe(2);
    for (const walk of [one, two]) expect(walk.entries.filter((e) => e.rel.startsWith('d7/') && e.rel.endsWith('bom.txt')).map((e) => e.rel).sort()).toEqual(['d7/bom.txt', 'd7/\uFEFFbom.txt']);
  });

  it('counts its entries against the limit as the one-phase walk does', () => {
    const limit = { maxEntries: PARALLEL_STAT_MIN };
    expect(() => walkWorkspace(tree, limit)).toThrow(expect.objectContaining({ code: 'STATE_SNAPSHOT_TOO_LARGE' }));
    expect(() => walkWorkspace(tree, { ...limit, quiescent: true, expectEntries: PARALLEL_STAT_MIN })).toThrow(expect.objectContaining({ code: 'STATE_SNAPSHOT_TOO_LARGE' }));
  });
});

describe('stat helper thread', () => {
  it('returns the fields lstat gives, NaN for a path that is gone', async () => {
    const helper = StatHelper.start()!;
    try {
      for (let i = 0; i < 200 && !helper.ready; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(helper.ready).toBe(true);
      const paths = [path.join(tree, 'd0'), path.join(tree, 'inside-link'), path.join(tree, 'd5', 'sub', 'f3.txt'), path.join(tree, 'gone')];
      const fields = helper.share(paths).collect()!;
      expect(fields).not.toBeNull();
      paths.slice(0, 3).forEach((p, i) => {
        const s = fs.lstatSync(p);
        expect([...fields.subarray(i * STAT_FIELDS, (i + 1) * STAT_FIELDS)]).toEqual([s.mode, s.size, s.mtimeMs, s.ctimeMs, s.atimeMs, s.nlink, s.dev, s.ino]);
      });
      expect(fields[3 * STAT_FIELDS]).toBeNaN();
    } finally {
      helper.close();
    }
  });
});
