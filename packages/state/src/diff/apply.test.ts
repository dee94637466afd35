import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '@swarm/core';
import type { NodeRow } from '../store/catalog.js';
import { executeApply, planApply } from './apply.js';
import { seededAncestor } from './node-trees.js';
import { compareTrees, treeFromDirectory, type Tree } from './tree.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-apply-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(dir: string, spec: Record<string, string | { link: string } | { text: string; mode: number }>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, value] of Object.entries(spec)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (typeof value === 'string') fs.writeFileSync(file, value);
    else if ('link' in value) fs.symlinkSync(value.link, file);
    else {
      fs.writeFileSync(file, value.text);
      fs.chmodSync(file, value.mode);
    }
  }
  return dir;
}

/** A listing that shows every difference apply cares about (content, full mode, link text). */
function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const name of fs.readdirSync(at).sort()) {
      const file = path.join(at, name);
      const key = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(file);
      if (stat.isSymbolicLink()) out[key] = `-> ${fs.readlinkSync(file)}`;
      else if (stat.isDirectory()) walk(file, key);
      else out[key] = `${(stat.mode & 0o777).toString(8)} ${fs.readFileSync(file, 'utf8')}`;
    }
  };
  walk(dir, '');
  return out;
}

function codeOf(fn: () => unknown): { code: string; details: unknown } {
  try {
    fn();
  } catch (error) {
    if (isSwarmError(error)) return { code: error.code, details: error.details };
    throw error;
  }
  throw new Error('expected a SwarmError');
}

const BASE = { 'a.txt': 'a\n', 'gone.txt': 'bye\n', 'run.sh': { text: 'echo\n', mode: 0o644 }, link: { link: 'a.txt' }, 'dir/keep': 'k\n' };
const NODE = { 'a.txt': 'A\n', 'run.sh': { text: 'echo\n', mode: 0o755 }, link: { link: 'dir/keep' }, 'dir/keep': 'k\n', 'new/deep/file': { text: 'n\n', mode: 0o640 } };

function trees(): { base: Tree; node: Tree } {
  return { base: treeFromDirectory(write(path.join(tmp, 'base'), BASE)), node: treeFromDirectory(write(path.join(tmp, 'node'), NODE)) };
}

describe('apply to a directory', () => {
  it('turns a copy of the base into the node: writes with modes, deletes, relinks', () => {
    const { base, node } = trees();
    const target = write(path.join(tmp, 'target'), BASE);
    const plan = planApply(target, compareTrees(base, node), false);
    const done = executeApply(target, plan, node);
    expect(listing(target)).toEqual(listing(path.join(tmp, 'node')));
    expect(done.deleted).toEqual(['gone.txt']);
    expect(done.written).toEqual(['a.txt', 'link', 'new/deep/file', 'run.sh']);
  });

  it('leaves paths that already hold the node version alone, and keeps files the change does not touch', () => {
    const { base, node } = trees();
    const target = write(path.join(tmp, 'target'), { ...BASE, 'a.txt': 'A\n', 'mine.txt': 'untouched\n' });
    const plan = planApply(target, compareTrees(base, node), false);
    expect(plan.unchanged).toEqual(['a.txt']);
    executeApply(target, plan, node);
    expect(listing(target)['mine.txt']).toBe('644 untouched\n');
  });

  it('refuses, writing nothing, where the target changed a touched path; --force overwrites it', () => {
    const { base, node } = trees();
    const spec = { ...BASE, 'a.txt': 'edited by hand\n', 'gone.txt': 'also edited\n' };
    const target = write(path.join(tmp, 'target'), spec);
    const before = listing(target);
    const refused = codeOf(() => planApply(target, compareTrees(base, node), false));
    expect(refused.code).toBe('APPLY_CONFLICT');
    expect((refused.details as { paths: string[] }).paths).toEqual(['a.txt', 'gone.txt']);
    expect(listing(target)).toEqual(before);
    const plan = planApply(target, compareTrees(base, node), true);
    expect(plan.forced).toEqual(['a.txt', 'gone.txt']);
    executeApply(target, plan, node);
    expect(listing(target)).toEqual(listing(path.join(tmp, 'node')));
  });

  it('does not let --force remove a directory standing where the change writes a file', () => {
    const { base, node } = trees();
    const { 'a.txt': _file, ...rest } = BASE;
    const target = write(path.join(tmp, 'target'), { ...rest, 'a.txt/inner': 'x\n' });
    const refused = codeOf(() => planApply(target, compareTrees(base, node), true));
    expect(refused.code).toBe('APPLY_CONFLICT');
    expect((refused.details as { blocked: string[] }).blocked).toEqual(['a.txt']);
  });

  it('never writes through a symlink in the target', () => {
    const { base, node } = trees();
    const outside = fs.mkdirSync(path.join(tmp, 'outside'), { recursive: true })!;
    const target = write(path.join(tmp, 'target'), { ...BASE, new: { link: outside } });
    // Positive control: a write that follows the link lands outside the target.
    fs.writeFileSync(path.join(target, 'new', 'probe'), 'x');
    expect(fs.readdirSync(outside)).toEqual(['probe']);
    fs.rmSync(path.join(outside, 'probe'));
    const before = listing(target);
    const refused = codeOf(() => planApply(target, compareTrees(base, node), true));
    expect(refused.code).toBe('APPLY_UNSAFE_PATH');
    expect((refused.details as { paths: string[] }).paths).toEqual(['new/deep/file']);
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(listing(target)).toEqual(before);
  });

  it('replaces a symlink at the path itself rather than writing to where it points', () => {
    const outside = path.join(tmp, 'outside.txt');
    fs.writeFileSync(outside, 'precious\n');
    const base = treeFromDirectory(write(path.join(tmp, 'base'), { f: 'old\n' }));
    const node = treeFromDirectory(write(path.join(tmp, 'node'), { f: 'plain\n' }));
    const target = write(path.join(tmp, 'target'), { f: { link: outside } });
    // Positive control: writing to the path follows the link.
    expect(fs.realpathSync(path.join(target, 'f'))).toBe(fs.realpathSync(outside));
    executeApply(target, planApply(target, compareTrees(base, node), true), node);
    expect(fs.readFileSync(outside, 'utf8')).toBe('precious\n');
    expect(listing(target)).toEqual({ f: '644 plain\n' });
  });

  it('refuses paths that are not plain relative paths', () => {
    const entry = { kind: 'file' as const, mode: 0o644, size: 1, sha256: `sha256:${'0'.repeat(64)}` as const, file: '/dev/null' };
    const target = fs.mkdtempSync(path.join(tmp, 't-'));
    expect(codeOf(() => planApply(target, [{ path: '../escape', before: undefined, after: entry }], true)).code).toBe('APPLY_UNSAFE_PATH');
    expect(fs.existsSync(path.join(tmp, 'escape'))).toBe(false);
  });
});

describe('seededAncestor', () => {
  const row = (node_id: string, parent: string | null, status: string) => ({ node_id, parent_node_id: parent, status }) as NodeRow;
  const rows = new Map([row('root', null, 'root'), row('seed', 'root', 'seeded'), row('a', 'seed', 'succeeded'), row('b', 'a', 'succeeded')].map((r) => [r.node_id, r]));

  it('finds the nearest seeded ancestor, and none in a chain that was not seeded', () => {
    expect(seededAncestor(rows.get('b')!, (id) => rows.get(id))?.node_id).toBe('seed');
    expect(seededAncestor(rows.get('a')!, (id) => rows.get(id))?.node_id).toBe('seed');
    expect(seededAncestor(rows.get('seed')!, (id) => rows.get(id))).toBeUndefined();
    const plain = new Map([row('root', null, 'root'), row('x', 'root', 'succeeded')].map((r) => [r.node_id, r]));
    expect(seededAncestor(plain.get('x')!, (id) => plain.get(id))).toBeUndefined();
  });
});
