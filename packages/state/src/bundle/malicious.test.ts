/**
 * Hand-made hostile archives, sealed with the real sealer (so they pass authentication) and opened
 * with the real extractor: each must be refused with its code, and nothing may appear outside the
 * destination directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import tar from 'tar-stream';
import { SwarmError, canonicalBytes, sha256Digest } from '@swarm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { sealBytes } from '../crypto/stream.js';
import { openSealedBundle } from './index.js';
import type { BundleManifest } from './manifest.js';

type Header = Parameters<tar.Pack['entry']>[0];
interface Entry {
  header: Header;
  body?: Buffer | string;
}

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => {
      const done = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body === undefined) pack.entry({ mtime: new Date(0), ...header }, done);
      else pack.entry({ mtime: new Date(0), ...header }, body, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

const file = (name: string, body: Buffer | string = 'x', mode = 0o644): Entry => ({ header: { name, type: 'file', mode: 0o100000 | mode }, body });
const dir = (name: string, mode = 0o755): Entry => ({ header: { name, type: 'directory', mode: 0o040000 | mode } });
const symlink = (name: string, target: string): Entry => ({ header: { name, type: 'symlink', linkname: target, mode: 0o120777 } });

/** A manifest matching the given plain entries (files, dirs, symlinks), as the packer writes it. */
function manifestFor(entries: Entry[], version: 'v1' | 'v2' | 'v3' = 'v1'): Entry {
  // Every header here has mtime 0 (tarOf), which v2 and v3 record.
  const time = version === 'v1' ? {} : { mtime: 0 };
  const manifest: BundleManifest = {
    schema_version: `swarm-bundle-manifest-${version}`,
    entries: entries.map(({ header, body }) => {
      const p = header.name.replace(/\/$/, '');
      const mode = (header.mode ?? 0) & 0o777;
      if (header.type === 'directory') return { path: p, type: 'dir' as const, mode, size: 0, ...time };
      if (header.type === 'symlink') return { path: p, type: 'symlink' as const, mode, size: 0, target: header.linkname!, ...time };
      const content = Buffer.from(body ?? '');
      return { path: p, type: 'file' as const, mode, size: content.length, sha256: sha256Digest(content), ...time };
    }),
  };
  return file('manifest.json', canonicalBytes(manifest));
}

interface Attempt {
  code: string | undefined;
  /** Every path under the test root after the attempt, except the bundle itself. */
  leftovers: string[];
}

async function attempt(entries: Entry[], limits?: { maxBytes?: number; maxEntries?: number }): Promise<Attempt> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-evil-'));
  roots.push(root);
  const dataKey = randomBytes(32);
  const bundle = path.join(root, 'evil.sealed');
  fs.writeFileSync(bundle, await sealBytes(dataKey, await tarOf(entries)));
  let code: string | undefined;
  try {
    await openSealedBundle({ file: bundle, dataKey, destDir: path.join(root, 'run', 'dest'), limits });
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    code = (error as SwarmError).code;
  }
  const leftovers: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === 'evil.sealed') continue;
      leftovers.push(r);
      const st = fs.lstatSync(path.join(root, r));
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return { code, leftovers };
}

/** The destination's parent is kept (it existed); everything under it must be gone. */
const CLEAN = ['run'];
const db = file('state.db', 'db');

describe('malicious bundles are refused and leave nothing behind', () => {
  it('accepts the well-formed control case', async () => {
    const entries = [dir('workspace/d/'), file('workspace/d/f', 'hello'), symlink('workspace/l', 'd/f'), db];
    const result = await attempt([...entries, manifestFor(entries)]);
    expect(result.code).toBeUndefined();
    expect(result.leftovers.sort()).toEqual(['run', 'run/dest', 'run/dest/home', 'run/dest/state.db', 'run/dest/workspace', 'run/dest/workspace/d', 'run/dest/workspace/d/f', 'run/dest/workspace/l']);
  });

  describe('the home section', () => {
    const home = [dir('home/.claude/'), file('home/.claude/s.jsonl', '{}'), symlink('home/latest', '.claude/s.jsonl'), db];

    it('restores a v3 home beside the workspace (the control case)', async () => {
      const result = await attempt([...home, manifestFor(home, 'v3')]);
      expect(result.code).toBeUndefined();
      expect(result.leftovers.sort()).toEqual(['run', 'run/dest', 'run/dest/home', 'run/dest/home/.claude', 'run/dest/home/.claude/s.jsonl', 'run/dest/home/latest', 'run/dest/state.db', 'run/dest/workspace']);
    });

    it('refuses home entries in a manifest older than v3', async () => {
      for (const version of ['v1', 'v2'] as const) {
        const result = await attempt([...home, manifestFor(home, version)]);
        expect(result.code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
        expect(result.leftovers).toEqual(CLEAN);
      }
    });

    it('refuses a home symlink that leaves the home, into the workspace or beyond', async () => {
      for (const target of ['../workspace/d', '../../etc/passwd', '/etc/passwd']) {
        const entries = [dir('workspace/d/'), symlink('home/x', target), db];
        const result = await attempt([...entries, manifestFor(entries, 'v3')]);
        expect(result.code).toBe('STATE_BUNDLE_UNSAFE_LINK');
        expect(result.leftovers).toEqual(CLEAN);
      }
    });

    it('refuses a home entry written through a home symlink', async () => {
      const entries = [symlink('home/d', '.'), file('home/d/f', 'x'), db];
      const result = await attempt([...entries, manifestFor(entries, 'v3')]);
      expect(result.code).toBe('STATE_BUNDLE_UNSAFE_LINK');
      expect(result.leftovers).toEqual(CLEAN);
    });
  });

  const cases: Array<[string, string, () => Entry[]]> = [
    ['a ../ traversal', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('../x')]],
    ['a traversal inside workspace/', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('workspace/../../x')]],
    ['a traversal in a deep path', 'STATE_BUNDLE_UNSAFE_PATH', () => [dir('workspace/a/'), file('workspace/a/../../../x')]],
    ['an absolute path', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('/tmp/swarm-evil-absolute-x')]],
    ['a path outside workspace/', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('elsewhere/x')]],
    ['a bare workspace entry', 'STATE_BUNDLE_UNSAFE_PATH', () => [dir('workspace/')]],
    ['an empty path component', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('workspace//x')]],
    ['a dot component', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('workspace/./x')]],
    ['a file where a directory is needed', 'STATE_BUNDLE_UNSAFE_PATH', () => [file('workspace/a'), file('workspace/a/b')]],
    ['a symlink escaping with ..', 'STATE_BUNDLE_UNSAFE_LINK', () => [symlink('workspace/l', '../../x'), file('workspace/l/x')]],
    ['an absolute symlink', 'STATE_BUNDLE_UNSAFE_LINK', () => [symlink('workspace/l', '/etc')]],
    ['an empty symlink target', 'STATE_BUNDLE_UNSAFE_LINK', () => [symlink('workspace/l', '')]],
    ['a file written through an inside symlink', 'STATE_BUNDLE_UNSAFE_LINK', () => [dir('workspace/sub/'), symlink('workspace/l', 'sub'), file('workspace/l/f')]],
    ['a directory made through a symlink', 'STATE_BUNDLE_UNSAFE_LINK', () => [symlink('workspace/l', '.'), dir('workspace/l/d/')]],
    ['a state.db that is a symlink', 'STATE_BUNDLE_UNSAFE_PATH', () => [symlink('state.db', 'workspace/x')]],
    [
      'a chain of symlinks that escapes only when followed',
      'STATE_BUNDLE_UNSAFE_LINK',
      () => [dir('workspace/d/'), symlink('workspace/d/up', '..'), symlink('workspace/x', 'd/up/..'), db],
    ],
    [
      'a chain that escapes through a later link',
      'STATE_BUNDLE_UNSAFE_LINK',
      () => [dir('workspace/a/'), symlink('workspace/esc', 'a/up/../x'), symlink('workspace/a/up', '..'), db],
    ],
    ['a hard link', 'STATE_BUNDLE_UNSAFE_LINK', () => [file('workspace/f'), { header: { name: 'workspace/h', type: 'link', linkname: 'workspace/f' } }]],
    ['a hard link to a host file', 'STATE_BUNDLE_UNSAFE_LINK', () => [{ header: { name: 'workspace/h', type: 'link', linkname: '/etc/passwd' } }]],
    ['a fifo', 'STATE_BUNDLE_SPECIAL_FILE', () => [{ header: { name: 'workspace/p', type: 'fifo', mode: 0o010644 } }]],
    ['a character device', 'STATE_BUNDLE_SPECIAL_FILE', () => [{ header: { name: 'workspace/null', type: 'character-device', mode: 0o020666, devmajor: 1, devminor: 3 } }]],
    ['a block device', 'STATE_BUNDLE_SPECIAL_FILE', () => [{ header: { name: 'workspace/sda', type: 'block-device', mode: 0o060660, devmajor: 8, devminor: 0 } }]],
    ['a contiguous file', 'STATE_BUNDLE_SPECIAL_FILE', () => [{ header: { name: 'workspace/c', type: 'contiguous-file', mode: 0o644, size: 1 }, body: 'x' }]],
    ['a duplicate file', 'STATE_BUNDLE_DUPLICATE_ENTRY', () => [file('workspace/f', 'one'), file('workspace/f', 'two')]],
    ['a file and a directory of one name', 'STATE_BUNDLE_DUPLICATE_ENTRY', () => [dir('workspace/f/'), file('workspace/f')]],
    ['a directory listed twice', 'STATE_BUNDLE_DUPLICATE_ENTRY', () => [dir('workspace/d/'), dir('workspace/d/')]],
    ['a parent directory followed by a symlink of its name', 'STATE_BUNDLE_DUPLICATE_ENTRY', () => [file('workspace/d/f'), symlink('workspace/d', '.')]],
    ['state.db twice', 'STATE_BUNDLE_DUPLICATE_ENTRY', () => [db, db]],
    ['an entry after the manifest', 'STATE_BUNDLE_MANIFEST_MISMATCH', () => [file('manifest.json', '{}'), file('workspace/x')]],
    ['a manifest that is a symlink', 'STATE_BUNDLE_UNSAFE_PATH', () => [db, symlink('manifest.json', 'state.db')]],
    ['a state.db that is a directory', 'STATE_BUNDLE_UNSAFE_PATH', () => [dir('state.db/')]],
  ];

  for (const [name, code, entries] of cases) {
    it(`refuses ${name} with ${code}`, async () => {
      const result = await attempt(entries());
      expect(result.code).toBe(code);
      expect(result.leftovers).toEqual(CLEAN);
      expect(fs.existsSync('/tmp/swarm-evil-absolute-x')).toBe(false);
    });
  }

  it('refuses a size bomb over maxBytes before writing it', async () => {
    const result = await attempt([file('workspace/small', 'ok'), file('workspace/bomb', Buffer.alloc(2 * 1024 * 1024))], { maxBytes: 1024 * 1024 });
    expect(result.code).toBe('STATE_BUNDLE_TOO_LARGE');
    expect(result.leftovers).toEqual(CLEAN);
  });

  it('refuses more entries than maxEntries', async () => {
    const many = Array.from({ length: 30 }, (_, i) => file(`workspace/f${i}`));
    const result = await attempt(many, { maxEntries: 10 });
    expect(result.code).toBe('STATE_BUNDLE_TOO_LARGE');
    expect(result.leftovers).toEqual(CLEAN);
  });

  it('counts the state DB and the manifest against maxBytes', async () => {
    const result = await attempt([file('state.db', Buffer.alloc(4096))], { maxBytes: 1000 });
    expect(result.code).toBe('STATE_BUNDLE_TOO_LARGE');
  });

  describe('manifest checks', () => {
    const good = [dir('workspace/d/'), file('workspace/d/f', 'hello'), symlink('workspace/l', 'd/f'), db];

    it('refuses a bundle without a manifest', async () => {
      expect((await attempt(good)).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    });

    it('refuses an entry the manifest does not list', async () => {
      const result = await attempt([...good, file('workspace/extra'), manifestFor(good)]);
      expect(result.code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
      expect(result.leftovers).toEqual(CLEAN);
    });

    it('refuses a manifest entry that is missing', async () => {
      expect((await attempt([...good, manifestFor([...good, file('workspace/ghost')])])).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    });

    it('refuses content, mode or target that differs from the manifest', async () => {
      const variants: Entry[][] = [
        [dir('workspace/d/'), file('workspace/d/f', 'HELLO'), symlink('workspace/l', 'd/f'), db],
        [dir('workspace/d/'), file('workspace/d/f', 'hello', 0o755), symlink('workspace/l', 'd/f'), db],
        [dir('workspace/d/', 0o700), file('workspace/d/f', 'hello'), symlink('workspace/l', 'd/f'), db],
        [dir('workspace/d/'), file('workspace/d/f', 'hello'), symlink('workspace/l', 'd'), db],
        [dir('workspace/d/'), file('workspace/d/f', 'hello', 0o4755), symlink('workspace/l', 'd/f'), db],
      ];
      const manifest = manifestFor(good);
      for (const entries of variants) {
        const result = await attempt([...entries, manifest]);
        expect(result.code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
        expect(result.leftovers).toEqual(CLEAN);
      }
    });

    it('refuses a manifest without state.db', async () => {
      const noDb = good.slice(0, 3);
      expect((await attempt([...noDb, manifestFor(noDb)])).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    });

    it('refuses a directory created only as a parent', async () => {
      const entries = [file('workspace/d/f', 'hello'), db];
      expect((await attempt([...entries, manifestFor(entries)])).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    });

    it('refuses a manifest that is not canonical JSON', async () => {
      const canonical = manifestFor(good).body as Buffer;
      const pretty = Buffer.from(JSON.stringify(JSON.parse(canonical.toString()), null, 2));
      expect((await attempt([...good, file('manifest.json', pretty)])).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
      expect((await attempt([...good, file('manifest.json', 'not json')])).code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    });
  });

  it('refuses an empty archive (no manifest)', async () => {
    const result = await attempt([]);
    expect(result.code).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    expect(result.leftovers).toEqual(CLEAN);
  });
});

describe('damaged archives inside a valid seal', () => {
  async function sealedAttempt(tarBytes: Buffer): Promise<Attempt> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-evil-'));
    roots.push(root);
    const dataKey = randomBytes(32);
    const bundle = path.join(root, 'evil.sealed');
    fs.writeFileSync(bundle, await sealBytes(dataKey, tarBytes));
    let code: string | undefined;
    try {
      await openSealedBundle({ file: bundle, dataKey, destDir: path.join(root, 'dest') });
    } catch (error) {
      code = (error as SwarmError).code;
    }
    return { code, leftovers: fs.readdirSync(root).filter((n) => n !== 'evil.sealed') };
  }

  it('refuses random bytes with STATE_BUNDLE_CORRUPT', async () => {
    const result = await sealedAttempt(randomBytes(4096));
    expect(result.code).toBe('STATE_BUNDLE_CORRUPT');
    expect(result.leftovers).toEqual([]);
  });

  it('refuses a truncated archive with STATE_BUNDLE_CORRUPT', async () => {
    const whole = await tarOf([file('workspace/big', randomBytes(10_000)), db]);
    const result = await sealedAttempt(whole.subarray(0, 3000));
    expect(result.code).toBe('STATE_BUNDLE_CORRUPT');
    expect(result.leftovers).toEqual([]);
  });
});
