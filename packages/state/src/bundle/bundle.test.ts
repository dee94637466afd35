import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { SwarmError, canonicalize, sha256Digest } from '@swarm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWrapKey, deriveDataKey, unwrapDataKey, wrapDataKey } from '../crypto/key-wrap.js';
import { ratchetChainKeys, rootChainKeys, type ChainKeys } from '../crypto/ratchet.js';
import { openBytes } from '../crypto/stream.js';
import { createSealedBundle, listBundle, openSealedBundle, readBundleManifest } from './index.js';

const tmpRoots: string[] = [];
function tempDir(prefix = 'swarm-bundle-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpRoots.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tmpRoots) {
    execFileSync('chmod', ['-R', 'u+rwx', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    return (error as SwarmError).code;
  }
  return undefined;
}

/** Deterministic pseudo-random bytes, so two trees built separately hold the same content. */
function bytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let block = createHash('sha256').update(seed).digest();
  for (let at = 0; at < length; at += 32) {
    block.copy(out, at);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

/** A workspace with nested dirs, odd modes, long and non-ASCII names, symlinks and empty files. */
function buildTree(root: string, reverse = false): void {
  const order = <T>(items: T[]): T[] => (reverse ? [...items].reverse() : items);
  const deep = Array.from({ length: 12 }, (_, i) => `level-${i}-xxxxxxxxxx`).join('/');
  for (const dir of order(['src/deep/er', 'readonly', deep])) fs.mkdirSync(path.join(root, dir), { recursive: true });
  const files: Array<[string, string | Buffer, number?]> = [
    ['src/main.ts', 'console.log("hi")\n'],
    ['src/deep/er/blob.bin', bytes('blob', 200_001)],
    ['empty', ''],
    ['run.sh', '#!/bin/sh\necho ok\n', 0o755],
    ['secret.txt', 'only me', 0o600],
    ['a-b', 'dash sorts before slash'],
    ['ünïcødé ✓.md', 'hello'],
    [`${'long-name-'.repeat(12)}.txt`, 'long'],
    [`${deep}/leaf.txt`, 'deep'],
    ['readonly/ro.txt', 'ro', 0o444],
  ];
  for (const [rel, content, mode] of order(files)) fs.writeFileSync(path.join(root, rel), content, { mode: mode ?? 0o644 });
  const links: Array<[string, string]> = [
    ['link-to-main', 'src/main.ts'],
    ['src/link-to-dir', 'deep'],
    ['dangling', 'does/not/exist'],
    ['self', '.'],
    ['src/deep/long-target', `../${'x'.repeat(150)}/../src`],
  ];
  for (const [rel, target] of order(links)) fs.symlinkSync(target, path.join(root, rel));
  fs.chmodSync(path.join(root, 'src/deep'), 0o750);
  fs.chmodSync(path.join(root, 'readonly'), 0o555);
}

function stateDb(dir: string, content = 'SQLite format 3\0 pretend state'): string {
  const file = path.join(dir, 'state.db');
  fs.writeFileSync(file, content, { mode: 0o600 });
  return file;
}

interface TreeEntry {
  type: string;
  mode: number;
  content?: string;
  target?: string;
}

function snapshotTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = { type: 'symlink', mode: st.mode & 0o777, target: fs.readlinkSync(abs) };
      else if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o777 };
        walk(r);
      } else if (st.isFile()) out[r] = { type: 'file', mode: st.mode & 0o777, content: sha256Digest(fs.readFileSync(abs)) };
      else out[r] = { type: 'special', mode: st.mode & 0o777 };
    }
  };
  walk('');
  return out;
}

describe('createSealedBundle / openSealedBundle', () => {
  let work: string;
  let workspace: string;
  let db: string;
  const dataKey = randomBytes(32);

  beforeAll(() => {
    work = tempDir();
    workspace = path.join(work, 'ws');
    fs.mkdirSync(workspace);
    buildTree(workspace);
    db = stateDb(work);
  });

  it('round-trips files, modes, directories and symlinks verbatim', async () => {
    const out = path.join(work, 'objects', 'b1.sealed');
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 1_700_000_000, dataKey, outFile: out });
    expect(sealed.skipped).toEqual([]);
    expect(sealed.size).toBe(fs.statSync(out).size);
    expect(sealed.bundleSha256).toBe(sha256Digest(fs.readFileSync(out)));
    expect(fs.readdirSync(path.dirname(out))).toEqual(['b1.sealed']);

    const dest = path.join(work, 'restore-1');
    const opened = await openSealedBundle({ file: out, dataKey, expectedSha256: sealed.bundleSha256, destDir: dest });
    expect(opened.workspaceDir).toBe(path.join(dest, 'workspace'));
    expect(opened.stateDbPath).toBe(path.join(dest, 'state.db'));
    expect(opened.manifestSha256).toBe(sealed.manifestSha256);
    expect(opened.bundleSha256).toBe(sealed.bundleSha256);
    expect(opened.manifest).toEqual(sealed.manifest);
    expect(snapshotTree(opened.workspaceDir)).toEqual(snapshotTree(workspace));
    expect(fs.readFileSync(opened.stateDbPath)).toEqual(fs.readFileSync(db));
    expect(fs.statSync(opened.stateDbPath).mode & 0o777).toBe(0o600);
    expect(fs.readlinkSync(path.join(opened.workspaceDir, 'src/deep/long-target'))).toBe(`../${'x'.repeat(150)}/../src`);
    expect(fs.statSync(path.join(opened.workspaceDir, 'src/main.ts')).mtimeMs).toBe(1_700_000_000_000);
  });

  it('writes a manifest of sorted entries, state.db last, as canonical JSON with its digest', async () => {
    const out = path.join(work, 'b2.sealed');
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out });
    const paths = sealed.manifest.entries.map((e) => e.path);
    expect(paths.at(-1)).toBe('state.db');
    const workspacePaths = paths.slice(0, -1);
    expect(workspacePaths.every((p) => p.startsWith('workspace/'))).toBe(true);
    const sorted = [...workspacePaths].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(workspacePaths).toEqual(sorted);
    expect(workspacePaths.indexOf('workspace/a-b')).toBeLessThan(workspacePaths.indexOf('workspace/readonly'));
    expect(sealed.manifestSha256).toBe(sha256Digest(canonicalize(sealed.manifest)));
    const main = sealed.manifest.entries.find((e) => e.path === 'workspace/src/main.ts')!;
    // A clock of 0 clamps every mtime to 0.
    expect(main).toEqual({ path: 'workspace/src/main.ts', type: 'file', mode: 0o644 & ~process.umask(), size: 18, sha256: sha256Digest('console.log("hi")\n'), mtime: 0 });
    expect(sealed.manifest.entries.find((e) => e.path === 'workspace/link-to-main')).toEqual({
      path: 'workspace/link-to-main',
      type: 'symlink',
      mode: 0o777,
      size: 0,
      target: 'src/main.ts',
      mtime: 0,
    });
    expect(sealed.manifest.entries.find((e) => e.path === 'workspace/readonly')).toMatchObject({ type: 'dir', mode: 0o555, size: 0 });
    expect(sealed.manifest.entries.find((e) => e.path === 'workspace/readonly')).not.toHaveProperty('sha256');

    expect(await readBundleManifest({ file: out, dataKey })).toEqual(sealed.manifest);
    const listing = await listBundle({ file: out, dataKey });
    expect(listing.at(-1)).toMatchObject({ path: 'manifest.json', type: 'file' });
    expect(listing.at(-2)).toMatchObject({ path: 'state.db', type: 'file' });
    expect(listing.find((e) => e.path === 'workspace/src/deep/')).toMatchObject({ type: 'directory', mode: 0o750 });
  });

  it('skips sockets, fifos and symlinks that escape, and reports them', async () => {
    const ws = path.join(tempDir(), 'ws');
    fs.mkdirSync(path.join(ws, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(ws, 'keep.txt'), 'keep');
    execFileSync('mkfifo', [path.join(ws, 'sub/pipe')]);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(ws, 'sock'), resolve));
    fs.symlinkSync('/etc/passwd', path.join(ws, 'abs-link'));
    fs.symlinkSync('../../outside', path.join(ws, 'sub/up-link'));
    fs.mkdirSync(path.join(ws, 'd'));
    fs.symlinkSync('..', path.join(ws, 'd/parent'));
    fs.symlinkSync('d/parent/..', path.join(ws, 'chained'));
    fs.symlinkSync('d/parent', path.join(ws, 'fine'));
    try {
      const out = path.join(path.dirname(ws), 'b.sealed');
      const sealed = await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(path.dirname(ws)), mtimeSec: 0, dataKey, outFile: out });
      expect(sealed.skippedEntries).toEqual([
        { path: 'workspace/abs-link', reason: 'unsafe-symlink' },
        { path: 'workspace/chained', reason: 'unsafe-symlink' },
        { path: 'workspace/sock', reason: 'special-file' },
        { path: 'workspace/sub/pipe', reason: 'special-file' },
        { path: 'workspace/sub/up-link', reason: 'unsafe-symlink' },
      ]);
      expect(sealed.skipped).toEqual(sealed.skippedEntries.map((e) => e.path));
      const opened = await openSealedBundle({ file: out, dataKey, destDir: path.join(path.dirname(ws), 'restore') });
      expect(Object.keys(snapshotTree(opened.workspaceDir)).sort()).toEqual(['d', 'd/parent', 'fine', 'keep.txt', 'sub']);
    } finally {
      server.close();
    }
  });

  it('reports progress up to the total content size', async () => {
    const seen: Array<[number, number]> = [];
    await createSealedBundle({
      workspaceDir: workspace,
      stateDbPath: db,
      mtimeSec: 0,
      dataKey,
      outFile: path.join(work, 'progress.sealed'),
      onProgress: (done, total) => seen.push([done, total]),
    });
    const total = seen[0]![1];
    expect(seen.at(-1)).toEqual([total, total]);
    expect(seen.every(([done], i) => i === 0 || done >= seen[i - 1]![0])).toBe(true);
  });

  it('fails with STATE_SNAPSHOT_SOURCE_CHANGED when a file changes while packed, leaving no output', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'big.bin'), randomBytes(3 * 1024 * 1024));
    const out = path.join(dir, 'out', 'b.sealed');
    let truncated = false;
    const code = await codeOf(
      createSealedBundle({
        workspaceDir: ws,
        stateDbPath: stateDb(dir),
        mtimeSec: 0,
        dataKey,
        outFile: out,
        onProgress: () => {
          if (!truncated) fs.truncateSync(path.join(ws, 'big.bin'), 1024 * 1024);
          truncated = true;
        },
      }),
    );
    expect(code).toBe('STATE_SNAPSHOT_SOURCE_CHANGED');
    expect(fs.readdirSync(path.join(dir, 'out'))).toEqual([]);
  });

  it('refuses a missing workspace or state DB and bad arguments', async () => {
    const base = { stateDbPath: db, mtimeSec: 0, dataKey, outFile: path.join(work, 'x.sealed') };
    expect(await codeOf(createSealedBundle({ ...base, workspaceDir: path.join(work, 'nope') }))).toBe('STATE_SNAPSHOT_SOURCE_INVALID');
    expect(await codeOf(createSealedBundle({ ...base, workspaceDir: db }))).toBe('STATE_SNAPSHOT_SOURCE_INVALID');
    expect(await codeOf(createSealedBundle({ ...base, workspaceDir: workspace, stateDbPath: workspace }))).toBe('STATE_SNAPSHOT_SOURCE_INVALID');
    expect(await codeOf(createSealedBundle({ ...base, workspaceDir: workspace, mtimeSec: -1 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(createSealedBundle({ ...base, workspaceDir: workspace, dataKey: randomBytes(8) }))).toBe('STATE_KEY_INVALID');
  });

  it('refuses to restore over an existing workspace or state DB, leaving them alone', async () => {
    const out = path.join(work, 'b3.sealed');
    await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out });
    const dest = tempDir();
    fs.mkdirSync(path.join(dest, 'workspace'));
    fs.writeFileSync(path.join(dest, 'workspace', 'mine'), 'x');
    expect(await codeOf(openSealedBundle({ file: out, dataKey, destDir: dest }))).toBe('STATE_RESTORE_TARGET_EXISTS');
    expect(fs.readFileSync(path.join(dest, 'workspace', 'mine'), 'utf8')).toBe('x');
  });

  it('checks the recorded digest and reports missing, foreign-key and corrupt bundles by code', async () => {
    const out = path.join(work, 'b4.sealed');
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out });
    const fresh = () => path.join(tempDir(), 'dest');
    const other = `sha256:${'0'.repeat(64)}`;
    expect(await codeOf(openSealedBundle({ file: out, dataKey, expectedSha256: other, destDir: fresh() }))).toBe('STATE_BUNDLE_DIGEST_MISMATCH');
    expect(await codeOf(openSealedBundle({ file: path.join(work, 'missing'), dataKey, destDir: fresh() }))).toBe('STATE_BUNDLE_NOT_FOUND');
    expect(await codeOf(openSealedBundle({ file: out, dataKey: randomBytes(32), destDir: fresh() }))).toBe('STATE_KEY_MISMATCH');

    const damaged = path.join(work, 'b4-damaged.sealed');
    const bytesOnDisk = fs.readFileSync(out);
    bytesOnDisk[bytesOnDisk.length - 100]! ^= 1;
    fs.writeFileSync(damaged, bytesOnDisk);
    const dest = fresh();
    expect(await codeOf(openSealedBundle({ file: damaged, dataKey, destDir: dest }))).toBe('STATE_BUNDLE_CORRUPT');
    expect(fs.existsSync(dest)).toBe(false);
    expect(await codeOf(openSealedBundle({ file: damaged, dataKey, expectedSha256: sealed.bundleSha256, destDir: fresh() }))).toBe(
      'STATE_BUNDLE_DIGEST_MISMATCH',
    );
  });

  it('keeps an existing destination directory but removes what it extracted on failure', async () => {
    const out = path.join(work, 'b5.sealed');
    await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out });
    const dest = tempDir();
    fs.writeFileSync(path.join(dest, 'step.log'), 'log');
    expect(await codeOf(openSealedBundle({ file: out, dataKey, destDir: dest, limits: { maxBytes: 100_000 } }))).toBe('STATE_BUNDLE_TOO_LARGE');
    expect(fs.readdirSync(dest)).toEqual(['step.log']);
  });
});

describe('sealing thread', () => {
  it('gives the same bytes inline and on a worker thread, for any chunking', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    buildTree(ws);
    fs.writeFileSync(path.join(ws, 'exact-chunks.bin'), bytes('exact', 4 * 65_536));
    const db = stateDb(dir);
    const dataKey = randomBytes(32);
    for (const chunkSize of [undefined, 100, 4096]) {
      const digests = new Set<string>();
      for (const sealThread of ['never', 'always', 'auto'] as const) {
        const out = path.join(dir, `${sealThread}-${chunkSize ?? 'default'}.sealed`);
        const sealed = await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec: 7, dataKey, outFile: out, chunkSize, sealThread });
        expect(sealed.bundleSha256).toBe(sha256Digest(fs.readFileSync(out)));
        expect(sealed.size).toBe(fs.statSync(out).size);
        digests.add(sealed.bundleSha256);
      }
      expect(digests.size).toBe(1);
    }
  });

  it('gives chunks of different content different nonces under one data key, on either path', async () => {
    // Regression: with counter nonces, two bundles sealed under one node's data key (two projects
    // starting the same run id from root, a rerun of a collected run) shared their keystream.
    const dir = tempDir();
    const dataKey = randomBytes(32);
    const chunkSize = 4096;
    const sealedChunks = async (name: string, content: Buffer, sealThread: 'never' | 'always') => {
      const ws = path.join(dir, name);
      fs.mkdirSync(ws);
      fs.writeFileSync(path.join(ws, 'data.bin'), content);
      const out = path.join(dir, `${name}.sealed`);
      await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(dir), mtimeSec: 0, dataKey, outFile: out, chunkSize, sealThread });
      const sealed = fs.readFileSync(out);
      const plain = await openBytes(dataKey, sealed);
      const chunks: Array<{ nonce: string; sealed: Buffer; plain: Buffer }> = [];
      for (let i = 0, at = 36; at < sealed.length; i += 1, at += chunkSize + 40) {
        const chunk = sealed.subarray(at, at + chunkSize + 40);
        chunks.push({ nonce: chunk.subarray(0, 24).toString('hex'), sealed: chunk, plain: plain.subarray(i * chunkSize, (i + 1) * chunkSize) });
      }
      return chunks;
    };
    const content = bytes('same-size', 20 * chunkSize);
    const changed = Buffer.from(content);
    for (const at of [3 * chunkSize, 11 * chunkSize + 7]) changed[at]! ^= 0xff;
    const a = await sealedChunks('a', content, 'always');
    const b = await sealedChunks('b', changed, 'always');
    const c = await sealedChunks('c', changed, 'never');
    expect(a.length).toBe(b.length);
    let differing = 0;
    for (let i = 0; i < a.length; i += 1) {
      const same = a[i]!.plain.equals(b[i]!.plain);
      expect(a[i]!.nonce === b[i]!.nonce).toBe(same);
      expect(a[i]!.sealed.equals(b[i]!.sealed)).toBe(same);
      expect(b[i]!.sealed.equals(c[i]!.sealed)).toBe(true);
      if (!same) differing += 1;
    }
    // The two changed data chunks and the end of the tar, where the manifest records the new digest.
    expect(differing).toBeGreaterThanOrEqual(3);
    expect(differing).toBeLessThan(a.length / 2);
  });

  it('seals an empty workspace with an empty state DB on either path', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    const db = stateDb(dir, '');
    const dataKey = randomBytes(32);
    const a = await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec: 0, dataKey, outFile: path.join(dir, 'a'), sealThread: 'never' });
    const b = await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec: 0, dataKey, outFile: path.join(dir, 'b'), sealThread: 'always' });
    expect(a.bundleSha256).toBe(b.bundleSha256);
    const opened = await openSealedBundle({ file: path.join(dir, 'b'), dataKey, destDir: path.join(dir, 'out') });
    expect(fs.readdirSync(opened.workspaceDir)).toEqual([]);
    expect(fs.readFileSync(opened.stateDbPath).length).toBe(0);
  });

  it('stops the thread and leaves no output when a file changes mid-pack', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'big.bin'), randomBytes(6 * 1024 * 1024));
    let grown = false;
    const code = await codeOf(
      createSealedBundle({
        workspaceDir: ws,
        stateDbPath: stateDb(dir),
        mtimeSec: 0,
        dataKey: randomBytes(32),
        outFile: path.join(dir, 'out', 'b.sealed'),
        sealThread: 'always',
        onProgress: () => {
          if (!grown) fs.appendFileSync(path.join(ws, 'big.bin'), 'more');
          grown = true;
        },
      }),
    );
    expect(code).toBe('STATE_SNAPSHOT_SOURCE_CHANGED');
    expect(fs.readdirSync(path.join(dir, 'out'))).toEqual([]);
  });
});

describe('directories that cannot be made', () => {
  // Regression: fs.mkdirSync(dir, { recursive: true }) spins forever on Node 20 for paths under /proc.
  it.runIf(fs.existsSync('/proc/self'))('fail with IO_WRITE_FAILED instead of hanging', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    const dataKey = randomBytes(32);
    const out = path.join(dir, 'b.sealed');
    await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(dir), mtimeSec: 0, dataKey, outFile: out });
    const nowhere = '/proc/swarm-test-no-such-dir/inner';
    expect(await codeOf(openSealedBundle({ file: out, dataKey, destDir: nowhere }))).toBe('IO_WRITE_FAILED');
    expect(await codeOf(createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(dir), mtimeSec: 0, dataKey, outFile: `${nowhere}/b.sealed` }))).toBe(
      'IO_WRITE_FAILED',
    );
  });
});

describe('archive format', () => {
  it('is a tar that GNU tar lists and extracts to the same tree', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    buildTree(ws);
    const dataKey = randomBytes(32);
    const out = path.join(dir, 'b.sealed');
    await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(dir), mtimeSec: 1_600_000_000, dataKey, outFile: out });
    const plain = await openBytes(dataKey, fs.readFileSync(out));
    const tarFile = path.join(dir, 'plain.tar');
    fs.writeFileSync(tarFile, plain);
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', tarFile], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.at(-1)).toMatch(/ 0\/0 .* manifest\.json$/);
    expect(listing.every((line) => / 0\/0 /.test(line))).toBe(true);
    const extracted = path.join(dir, 'gnu');
    fs.mkdirSync(extracted);
    execFileSync('tar', ['-xf', tarFile, '-C', extracted]);
    expect(snapshotTree(path.join(extracted, 'workspace'))).toEqual(snapshotTree(ws));
    expect(fs.statSync(path.join(extracted, 'workspace', 'run.sh')).mtimeMs).toBe(1_600_000_000_000);
  });
});

describe('determinism', () => {
  it('gives byte-identical bundles and manifests for the same tree built in two places', async () => {
    const dataKey = randomBytes(32);
    const results = [];
    for (const reverse of [false, true]) {
      const dir = tempDir(reverse ? 'swarm-det-b-' : 'swarm-det-a-');
      const ws = path.join(dir, reverse ? 'elsewhere' : 'ws');
      fs.mkdirSync(ws);
      buildTree(ws, reverse);
      const db = stateDb(dir);
      const out = path.join(dir, 'bundle.sealed');
      const sealed = await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec: 1_234_567, dataKey, outFile: out });
      results.push({ sealed, bytes: fs.readFileSync(out) });
    }
    const [a, b] = results;
    expect(a!.sealed.manifestSha256).toBe(b!.sealed.manifestSha256);
    expect(a!.sealed.bundleSha256).toBe(b!.sealed.bundleSha256);
    expect(a!.bytes.equals(b!.bytes)).toBe(true);
  });

  it('changes when the clock, the key or the content changes', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'f'), 'one');
    const db = stateDb(dir);
    const key = randomBytes(32);
    const seal = async (mtimeSec: number, dataKey: Buffer, name: string) =>
      (await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec, dataKey, outFile: path.join(dir, name) })).bundleSha256;
    const base = await seal(10, key, 'a');
    expect(await seal(10, key, 'b')).toBe(base);
    expect(await seal(11, key, 'c')).not.toBe(base);
    expect(await seal(10, randomBytes(32), 'd')).not.toBe(base);
    fs.writeFileSync(path.join(ws, 'f'), 'two');
    expect(await seal(10, key, 'e')).not.toBe(base);
  });
});

describe('ratchet matrix', () => {
  // root → run r1 (state 1) → run r2 (state 2); fork A and fork B of state 1.
  const secret = randomBytes(32);
  const k0 = rootChainKeys(secret);
  const k1 = ratchetChainKeys(k0, 'run', 'r1');
  const k2 = ratchetChainKeys(k1, 'run', 'r2');
  const forkA = ratchetChainKeys(k1, 'fork', 'A');
  const forkB = ratchetChainKeys(k1, 'fork', 'B');
  const aad = 'node-1';
  let file: string;
  let wrapped: string;

  const openWith = async (keys: ChainKeys, wrappedKey: string, label: string) => {
    const dataKey = unwrapDataKey(wrappedKey, bundleWrapKey(keys.state), aad);
    return openSealedBundle({ file, dataKey, destDir: path.join(tempDir(), label) });
  };

  beforeAll(async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    fs.mkdirSync(ws);
    fs.writeFileSync(path.join(ws, 'note'), 'state 1');
    file = path.join(dir, 'state1.sealed');
    const dataKey = deriveDataKey(k1.state);
    await createSealedBundle({ workspaceDir: ws, stateDbPath: stateDb(dir), mtimeSec: 0, dataKey, outFile: file });
    wrapped = wrapDataKey(dataKey, bundleWrapKey(k1.state), aad);
  });

  it('state N opens with key N', async () => {
    const opened = await openWith(k1, wrapped, 'n');
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'note'), 'utf8')).toBe('state 1');
  });

  it('state N does not open with key N+1 or key N-1', async () => {
    expect(await codeOf(openWith(k2, wrapped, 'n-plus-1'))).toBe('STATE_KEY_MISMATCH');
    expect(await codeOf(openWith(k0, wrapped, 'n-minus-1'))).toBe('STATE_KEY_MISMATCH');
    // Nor does the data key that key N+1 or N-1 would derive.
    for (const keys of [k0, k2]) {
      expect(await codeOf(openSealedBundle({ file, dataKey: deriveDataKey(keys.state), destDir: path.join(tempDir(), 'd') }))).toBe(
        'STATE_KEY_MISMATCH',
      );
    }
  });

  it('a fork re-wraps the data key only, and one branch cannot open the other', async () => {
    const before = fs.readFileSync(file);
    const dataKey = unwrapDataKey(wrapped, bundleWrapKey(k1.state), aad);
    const wrappedA = wrapDataKey(dataKey, bundleWrapKey(forkA.state), aad);
    const wrappedB = wrapDataKey(dataKey, bundleWrapKey(forkB.state), aad);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(wrappedA).not.toBe(wrappedB);
    await openWith(forkA, wrappedA, 'a');
    await openWith(forkB, wrappedB, 'b');
    expect(await codeOf(openWith(forkA, wrappedB, 'a-opens-b'))).toBe('STATE_KEY_MISMATCH');
    expect(await codeOf(openWith(forkB, wrappedA, 'b-opens-a'))).toBe('STATE_KEY_MISMATCH');
    expect(await codeOf(openWith(k2, wrappedA, 'main-opens-a'))).toBe('STATE_KEY_MISMATCH');

    // A run on branch A seals under A's next key; branch B's next key cannot open it.
    const a1 = ratchetChainKeys(forkA, 'run', 'ra');
    const b1 = ratchetChainKeys(forkB, 'run', 'ra');
    expect(await codeOf(openSealedBundle({ file, dataKey: deriveDataKey(a1.state), destDir: path.join(tempDir(), 'x') }))).toBe(
      'STATE_KEY_MISMATCH',
    );
    expect(deriveDataKey(a1.state).equals(deriveDataKey(b1.state))).toBe(false);
  });
});
