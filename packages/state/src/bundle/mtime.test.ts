/**
 * File times through a bundle: each entry keeps its own mtime, clamped to the run clock, and
 * restore puts it back on files, symlinks and directories. Bundles sealed before the manifest
 * recorded mtimes (v1) still restore.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SwarmError, canonicalBytes, sha256Digest } from '@swarm/core';
import { afterAll, describe, expect, it } from 'vitest';
import { sealBytes } from '../crypto/stream.js';
import { createSealedBundle, listBundle, openSealedBundle } from './index.js';
import { BUNDLE_MANIFEST_SCHEMA_VERSION, BUNDLE_MANIFEST_SCHEMA_VERSION_V1, type BundleManifestEntry } from './manifest.js';
import { TAR_END, encodeTarHeader, tarPadding } from './tar-format.js';

const CLOCK = 1_700_000_000;
const OLD = 1_500_000_000;
const OLDER = 1_400_000_000;
const FUTURE = CLOCK + 10 * 365 * 24 * 3600;

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-mtime-'));
  roots.push(dir);
  return dir;
}

const secondsOf = (file: string) => Math.floor(fs.lstatSync(file).mtimeMs / 1000);

/**
 * Three files of different mtimes (one in the future, one with a fraction of a second), a
 * directory and a symlink with their own times, and a state DB; directory times are set last,
 * since writing into a directory moves its time.
 */
function buildTree(dir: string, futureSec = FUTURE): { workspace: string; stateDb: string } {
  const workspace = path.join(dir, 'ws');
  fs.mkdirSync(path.join(workspace, 'sessions'), { recursive: true });
  const set = (rel: string, sec: number) => fs.utimesSync(path.join(workspace, rel), sec, sec);
  fs.writeFileSync(path.join(workspace, 'sessions/older.jsonl'), 'older\n');
  set('sessions/older.jsonl', OLDER);
  fs.writeFileSync(path.join(workspace, 'sessions/newer.jsonl'), 'newer\n');
  set('sessions/newer.jsonl', OLD + 0.75);
  fs.writeFileSync(path.join(workspace, 'future.txt'), 'from the future\n');
  set('future.txt', futureSec);
  fs.symlinkSync('sessions/newer.jsonl', path.join(workspace, 'latest'));
  fs.lutimesSync(path.join(workspace, 'latest'), OLD + 60, OLD + 60);
  set('sessions', OLD + 120);
  const stateDb = path.join(dir, 'state.db');
  fs.writeFileSync(stateDb, 'SQLite format 3\0 pretend state', { mode: 0o600 });
  fs.utimesSync(stateDb, OLD + 180, OLD + 180);
  return { workspace, stateDb };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    return (error as SwarmError).code;
  }
  return undefined;
}

describe('entry mtimes', () => {
  it('are each entry’s own, clamped to the run clock, in the headers, the manifest and the restored tree', async () => {
    const dir = tempDir();
    const { workspace, stateDb } = buildTree(dir);
    const dataKey = randomBytes(32);
    const out = path.join(dir, 'b.sealed');
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: stateDb, mtimeSec: CLOCK, dataKey, outFile: out });

    const expected: Record<string, number> = {
      'workspace/future.txt': CLOCK,
      'workspace/latest': OLD + 60,
      'workspace/sessions': OLD + 120,
      'workspace/sessions/newer.jsonl': OLD,
      'workspace/sessions/older.jsonl': OLDER,
      'state.db': OLD + 180,
    };
    expect(sealed.manifest.schema_version).toBe(BUNDLE_MANIFEST_SCHEMA_VERSION);
    expect(Object.fromEntries(sealed.manifest.entries.map((e) => [e.path, e.mtime]))).toEqual(expected);
    const headers = Object.fromEntries((await listBundle({ file: out, dataKey })).map((e) => [e.path.replace(/\/$/, ''), e.mtime]));
    expect(headers).toEqual({ ...expected, 'manifest.json': CLOCK });

    const dest = path.join(dir, 'restored');
    const opened = await openSealedBundle({ file: out, dataKey, expectedSha256: sealed.bundleSha256, destDir: dest });
    for (const [entry, sec] of Object.entries(expected)) {
      const abs = entry === 'state.db' ? opened.stateDbPath : path.join(opened.workspaceDir, entry.slice('workspace/'.length));
      expect(secondsOf(abs), entry).toBe(sec);
    }
    // The agent's view: the newest session by mtime is the one that was newest when packed.
    const sessions = path.join(opened.workspaceDir, 'sessions');
    const newest = fs.readdirSync(sessions).sort((a, b) => fs.statSync(path.join(sessions, b)).mtimeMs - fs.statSync(path.join(sessions, a)).mtimeMs)[0];
    expect(newest).toBe('newer.jsonl');
  });

  it('give byte-identical bundles for the same tree and clock, and different ones when a time differs', async () => {
    const dataKey = randomBytes(32);
    const pack = async (dir: string) => {
      const { workspace, stateDb } = buildTree(dir, FUTURE + dir.length);
      const out = path.join(dir, 'b.sealed');
      const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: stateDb, mtimeSec: CLOCK, dataKey, outFile: out });
      return { sealed, bytes: fs.readFileSync(out), workspace, stateDb, out };
    };
    // Different future times on either side: both clamp to the clock.
    const a = await pack(tempDir());
    const b = await pack(path.join(tempDir(), 'deeper'));
    expect(b.sealed.manifestSha256).toBe(a.sealed.manifestSha256);
    expect(b.bytes.equals(a.bytes)).toBe(true);

    fs.utimesSync(path.join(b.workspace, 'sessions/older.jsonl'), OLDER + 1, OLDER + 1);
    fs.rmSync(b.out);
    const moved = await createSealedBundle({ workspaceDir: b.workspace, stateDbPath: b.stateDb, mtimeSec: CLOCK, dataKey, outFile: b.out });
    expect(moved.bundleSha256).not.toBe(a.sealed.bundleSha256);
  });

  it('make trees written at different times identical under a clock no later than their writes', async () => {
    const dataKey = randomBytes(32);
    const digests = [];
    for (const sec of [CLOCK + 5, CLOCK + 5000]) {
      const dir = tempDir();
      const ws = path.join(dir, 'ws');
      fs.mkdirSync(ws);
      fs.writeFileSync(path.join(ws, 'f'), 'same');
      fs.utimesSync(path.join(ws, 'f'), sec, sec);
      const db = path.join(dir, 'state.db');
      fs.writeFileSync(db, 'db');
      digests.push((await createSealedBundle({ workspaceDir: ws, stateDbPath: db, mtimeSec: CLOCK, dataKey, outFile: path.join(dir, 'b') })).bundleSha256);
    }
    expect(digests[1]).toBe(digests[0]);
  });
});

interface PlainEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  body?: string;
  target?: string;
}

/**
 * An archive as the packer wrote it before v2: every header has the clock as mtime and the
 * manifest is v1 (no times). `manifestMtime` makes a v2 manifest instead, for tampering tests.
 */
function archive(entries: PlainEntry[], clock: number, manifestMtime?: (entry: PlainEntry) => number): Buffer {
  const parts: Buffer[] = [];
  const listed: BundleManifestEntry[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const size = entry.type === 'file' ? body.length : 0;
    const name = entry.type === 'dir' ? `${entry.path}/` : entry.path;
    parts.push(encodeTarHeader({ name, type: entry.type, mode: entry.mode, size, mtimeSec: clock, linkname: entry.target }));
    if (size > 0) parts.push(body, tarPadding(size));
    const item: BundleManifestEntry = { path: entry.path, type: entry.type, mode: entry.mode, size };
    if (entry.type === 'file') item.sha256 = sha256Digest(body);
    if (entry.type === 'symlink') item.target = entry.target!;
    if (manifestMtime) item.mtime = manifestMtime(entry);
    listed.push(item);
  }
  const version = manifestMtime ? BUNDLE_MANIFEST_SCHEMA_VERSION : BUNDLE_MANIFEST_SCHEMA_VERSION_V1;
  const manifest = canonicalBytes({ schema_version: version, entries: listed });
  parts.push(encodeTarHeader({ name: 'manifest.json', type: 'file', mode: 0o644, size: manifest.length, mtimeSec: clock }), manifest, tarPadding(manifest.length));
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

const OLD_TREE: PlainEntry[] = [
  { path: 'workspace/notes', type: 'dir', mode: 0o755 },
  { path: 'workspace/notes/a.txt', type: 'file', mode: 0o644, body: 'a\n' },
  { path: 'workspace/notes/link', type: 'symlink', mode: 0o777, target: 'a.txt' },
  { path: 'state.db', type: 'file', mode: 0o600, body: 'db' },
];

describe('older bundles', () => {
  it('restores a v1 bundle (no mtimes in its manifest), every entry at the clock it was sealed with', async () => {
    const dir = tempDir();
    const dataKey = randomBytes(32);
    const file = path.join(dir, 'v1.sealed');
    fs.writeFileSync(file, await sealBytes(dataKey, archive(OLD_TREE, OLD)));
    const opened = await openSealedBundle({ file, dataKey, destDir: path.join(dir, 'out') });
    expect(opened.manifest.schema_version).toBe(BUNDLE_MANIFEST_SCHEMA_VERSION_V1);
    expect(opened.manifest.entries.every((e) => e.mtime === undefined)).toBe(true);
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'notes/a.txt'), 'utf8')).toBe('a\n');
    for (const rel of ['notes', 'notes/a.txt', 'notes/link']) expect(secondsOf(path.join(opened.workspaceDir, rel)), rel).toBe(OLD);
    expect(secondsOf(opened.stateDbPath)).toBe(OLD);
  });

  it('checks v2 mtimes against the headers, and refuses a v2 entry without one or a v1 entry with one', async () => {
    const dir = tempDir();
    const dataKey = randomBytes(32);
    const open = async (name: string, tarBytes: Buffer) => {
      const file = path.join(dir, `${name}.sealed`);
      fs.writeFileSync(file, await sealBytes(dataKey, tarBytes));
      return codeOf(openSealedBundle({ file, dataKey, destDir: path.join(dir, name) }));
    };
    // Positive control: the same builder with matching v2 times restores.
    expect(await open('matching', archive(OLD_TREE, OLD, () => OLD))).toBeUndefined();
    expect(await open('moved', archive(OLD_TREE, OLD, (e) => (e.path === 'workspace/notes/a.txt' ? OLD + 1 : OLD)))).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    expect(fs.existsSync(path.join(dir, 'moved'))).toBe(false);

    const rewrite = (bytes: Buffer, from: string, to: string) => {
      const text = bytes.toString('latin1');
      expect(text.includes(from)).toBe(true);
      return Buffer.from(text.replace(from, to), 'latin1');
    };
    // Swapping the version string keeps the manifest's length, so the tar stays well formed.
    const v2 = archive(OLD_TREE, OLD, () => OLD);
    expect(await open('v1-with-mtime', rewrite(v2, BUNDLE_MANIFEST_SCHEMA_VERSION, BUNDLE_MANIFEST_SCHEMA_VERSION_V1))).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
    const v1 = archive(OLD_TREE, OLD);
    expect(await open('v2-without-mtime', rewrite(v1, BUNDLE_MANIFEST_SCHEMA_VERSION_V1, BUNDLE_MANIFEST_SCHEMA_VERSION))).toBe('STATE_BUNDLE_MANIFEST_MISMATCH');
  });
});
