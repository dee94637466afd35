/** The chunk store's parts on their own: cutting, sealing, the manifest's pieces, snapshots that read only what changed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { encodeBundleManifest, type BundleManifest } from '../bundle/manifest.js';
import { createStateDb } from '../state-db.js';
import { Store } from '../store/store.js';
import { CDC_MAX, CDC_MIN, Chunker } from './cdc.js';
import { ChunkCodec } from './codec.js';
import { chunkId, chunkIdOfDigest, chunkKeys } from './keys.js';
import { encodeManifestPieces } from './node-index.js';
import { snapshotTree, type Snapshot } from './snapshot.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-chunks-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cut(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const chunker = new Chunker((c) => out.push(Buffer.from(c)));
  for (let i = 0; i < data.length; i += 777_777) chunker.push(data.subarray(i, i + 777_777));
  chunker.end();
  return out;
}
const hex = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

describe('content-defined chunking', () => {
  it('cuts within its bounds, and an insertion changes only the chunks around it', () => {
    const data = crypto.randomBytes(24 * 1024 * 1024);
    const before = cut(data);
    expect(Buffer.concat(before).equals(data)).toBe(true);
    for (const c of before.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(CDC_MIN);
      expect(c.length).toBeLessThanOrEqual(CDC_MAX);
    }
    expect(before.length).toBeGreaterThan(8);
    // 100 bytes inserted 5 MiB in: fixed-size blocks would all shift; content-defined cuts resync.
    const at = 5 * 1024 * 1024;
    const edited = Buffer.concat([data.subarray(0, at), crypto.randomBytes(100), data.subarray(at)]);
    const after = cut(edited);
    const old = new Set(before.map(hex));
    const shared = after.filter((c) => old.has(hex(c))).length;
    expect(after.length - shared).toBeLessThanOrEqual(2);
    expect(shared).toBeGreaterThanOrEqual(before.length - 2);
  });
});

describe('sealed chunks', () => {
  const keys = chunkKeys(crypto.randomBytes(32));
  const codec = new ChunkCodec(keys);

  it('open what was sealed, compress text, and refuse a tampered or substituted chunk', () => {
    const text = Buffer.from('const a = 1;\n'.repeat(5000));
    const id = chunkId(keys, crypto.createHash('sha256').update(text).digest());
    const sealed = codec.seal(id, text);
    expect(sealed.length).toBeLessThan(text.length / 4);
    expect(codec.open(id, sealed).equals(text)).toBe(true);
    const flipped = Buffer.from(sealed);
    flipped[3] ^= 1;
    expect(() => codec.open(id, flipped)).toThrow(expect.objectContaining({ code: 'STORE_CHUNK_CORRUPT' }));
    const other = crypto.randomBytes(4096);
    const otherId = chunkId(keys, crypto.createHash('sha256').update(other).digest());
    expect(() => codec.open(otherId, sealed)).toThrow(SwarmError);
    // Incompressible data is stored as it is (plus the nonce, the flag byte and the tag), and the
    // same chunk seals to the same bytes.
    const random = crypto.randomBytes(64 * 1024);
    const randomId = chunkId(keys, crypto.createHash('sha256').update(random).digest());
    expect(codec.seal(randomId, random).length).toBe(random.length + 24 + 1 + 16);
    expect(codec.seal(randomId, random).equals(codec.seal(randomId, random))).toBe(true);
  });

  it('are addressed and keyed per installation: another root secret gives other ids and cannot open them', () => {
    const content = Buffer.from('the same file in two installations\n');
    const sha = crypto.createHash('sha256').update(content).digest();
    const other = chunkKeys(crypto.randomBytes(32));
    expect(chunkId(keys, sha).equals(chunkId(other, sha))).toBe(false);
    const id = chunkId(keys, sha);
    const sealed = codec.seal(id, content);
    expect(() => new ChunkCodec(other).open(id, sealed)).toThrow(expect.objectContaining({ code: 'STORE_CHUNK_CORRUPT' }));
    // Nor can the id be computed from the content alone (it is keyed): a plain hash is not it.
    expect(id.toString('hex')).not.toBe(sha.toString('hex'));
  });
});

describe('the manifest in pieces', () => {
  it('joins to exactly the canonical manifest bytes, and one changed entry changes one piece', () => {
    const entries: BundleManifest['entries'] = [];
    for (let i = 0; i < 3000; i += 1) {
      const p = `workspace/d${i % 37}/é-"q"\\-${i}.ts`;
      entries.push(
        i % 11 === 0
          ? { path: `${p}.lnk`, type: 'symlink', mode: 0o777, size: 0, target: `../x ${i}`, mtime: 1_700_000_000 }
          : { path: p, type: 'file', mode: 0o644, size: i, sha256: `sha256:${hex(Buffer.from(String(i)))}`, mtime: 1_700_000_000 + i },
      );
    }
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
    entries.push({ path: 'state.db', type: 'file', mode: 0o600, size: 10, sha256: `sha256:${hex(Buffer.from('db'))}`, mtime: 1 });
    const manifest: BundleManifest = { schema_version: 'swarm-bundle-manifest-v3', entries };
    const pieces = encodeManifestPieces(manifest);
    expect(pieces.bytes.equals(encodeBundleManifest(manifest).bytes)).toBe(true);
    expect(pieces.sha256).toBe(encodeBundleManifest(manifest).sha256);
    expect(pieces.pieces.length).toBeGreaterThan(10);
    const changed = { ...manifest, entries: manifest.entries.map((e, i) => (i === 1500 ? { ...e, size: e.size + 1 } : e)) };
    const after = new Set(encodeManifestPieces(changed).pieces.map(hex));
    expect(pieces.pieces.filter((p) => !after.has(hex(p))).length).toBe(1);
  });
});

describe('snapshots over the chunk store', () => {
  function tree(name: string): { workspaceDir: string; homeDir: string; stateDbPath: string } {
    const root = path.join(tmp, name);
    const workspaceDir = path.join(root, 'workspace');
    const homeDir = path.join(root, 'home');
    fs.mkdirSync(path.join(workspaceDir, 'src'), { recursive: true });
    fs.mkdirSync(homeDir);
    for (let i = 0; i < 40; i += 1) fs.writeFileSync(path.join(workspaceDir, 'src', `f${i}.ts`), `export const v${i} = ${i};\n`.repeat(20 + i));
    const stateDbPath = path.join(root, 'state.db');
    createStateDb(stateDbPath);
    return { workspaceDir, homeDir, stateDbPath };
  }

  async function snap(store: Store, t: ReturnType<typeof tree>, parent: Snapshot | null, out: string): Promise<Snapshot> {
    const s = await snapshotTree({ chunks: store.chunks, ...t, mtimeSec: 1_700_000_000, dataKey: crypto.randomBytes(32), outFile: path.join(tmp, out), parent: parent?.records });
    store.catalog.write(() => store.catalog.insertChunks(s.rows));
    return s;
  }

  it('a changed file among unchanged ones is the one file read and the one file chunk stored', async () => {
    const store = Store.open(path.join(tmp, 'project'), { home: path.join(tmp, 'home-dir') });
    try {
      const t = tree('a');
      const first = await snap(store, t, null, 'i1');
      expect(first.stats.files_read).toBe(41);
      // Older than the racy window, as any file is by the time a later run looks at it.
      const old = Date.now() / 1000 - 60;
      for (const f of fs.readdirSync(path.join(t.workspaceDir, 'src'))) fs.utimesSync(path.join(t.workspaceDir, 'src', f), old, old);
      // A file changed just before a snapshot is read again by the next one (git's racy-clean rule).
      await new Promise((resolve) => setTimeout(resolve, 120));
      const settled = await snap(store, t, first, 'i2');
      fs.appendFileSync(path.join(t.workspaceDir, 'src', 'f7.ts'), '// changed\n');
      const second = await snap(store, t, settled, 'i3');
      // f7.ts and the state DB (always read; here unchanged, so nothing new of it).
      expect(second.stats.files_read).toBe(2);
      expect(second.stats.files_reused).toBe(39);
      const f7 = second.manifest.entries.find((e) => e.path === 'workspace/src/f7.ts')!;
      const ids = second.rows.map((r) => r.id.toString('hex'));
      expect(ids).toContain(chunkIdOfDigest(store.chunks.keys, f7.sha256!).toString('hex'));
      // The file's chunk and the one manifest piece holding its entry: nothing else is new.
      expect(second.rows.length).toBe(2);
      // A snapshot that trusted nothing would have found the same content.
      const full = await snap(store, t, null, 'i4');
      expect(full.manifestSha256).toBe(second.manifestSha256);
      expect(full.rows.length).toBe(0);
    } finally {
      store.close();
    }
  });

  it('deduplicates across trees: the same content in another tree stores nothing new', async () => {
    const store = Store.open(path.join(tmp, 'project'), { home: path.join(tmp, 'home-dir') });
    try {
      const a = tree('a');
      const big = crypto.randomBytes(3 * 1024 * 1024 + 12345);
      fs.writeFileSync(path.join(a.workspaceDir, 'big.bin'), big);
      const first = await snap(store, a, null, 'i1');
      const b = tree('b');
      fs.writeFileSync(path.join(b.workspaceDir, 'big.bin'), big);
      const second = await snap(store, b, null, 'i2');
      expect(first.rows.length).toBeGreaterThan(4);
      expect(second.rows.length).toBe(0);
      expect(second.existing.length).toBeGreaterThan(4);
      expect(second.manifestSha256).toBe(first.manifestSha256);
    } finally {
      store.close();
    }
  });
});
