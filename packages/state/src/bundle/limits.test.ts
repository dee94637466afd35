/**
 * One limit for both sides: what the packer seals, restore opens, and what restore would refuse the
 * packer refuses to seal (so a committed node can always be restored).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { SwarmError } from '@swarm/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sealBytes } from '../crypto/stream.js';
import { DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, createSealedBundle, encodeBundleManifest, openSealedBundle } from './index.js';
import { BUNDLE_LIMITS, MAX_PACKED_PATH_BYTES } from './limits.js';

let tmp: string;
let workspace: string;
let db: string;
const dataKey = randomBytes(32);
let n = 0;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-limits-'));
  workspace = path.join(tmp, 'workspace');
  fs.mkdirSync(workspace);
  db = path.join(tmp, 'state.db');
  fs.writeFileSync(db, 'db');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SwarmError);
    return (error as SwarmError).code;
  }
  return undefined;
}

const outFile = () => path.join(tmp, 'out', `b${(n += 1)}.sealed`);
const seal = (limits?: { maxBytes?: number; maxEntries?: number }, out = outFile()) =>
  createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out, limits }).then((sealed) => ({ ...sealed, out }));
const restore = (file: string, limits?: { maxBytes?: number; maxEntries?: number }) =>
  openSealedBundle({ file, dataKey, destDir: path.join(tmp, `restore-${(n += 1)}`), limits });

/** A raw ustar header for a file of `size` bytes (base-256 size field, as GNU tar writes big sizes). */
function bigFileHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'ascii');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header[124] = 0x80;
  let rest = BigInt(size);
  for (let i = 135; i > 124; i -= 1) {
    header[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

describe('bundle limits, one definition', () => {
  it('restore defaults are the shared limits', () => {
    expect(DEFAULT_MAX_BYTES).toBe(BUNDLE_LIMITS.maxBytes);
    expect(DEFAULT_MAX_ENTRIES).toBe(BUNDLE_LIMITS.maxEntries);
  });

  it('with the real limit, the packer refuses a workspace over maxBytes before writing anything', async () => {
    // Sparse: nothing is read, the size alone is over (the state DB and manifest add to it).
    const big = path.join(workspace, 'big.bin');
    fs.writeFileSync(big, '');
    fs.truncateSync(big, BUNDLE_LIMITS.maxBytes);
    const out = outFile();
    expect(await codeOf(seal(undefined, out))).toBe('STATE_SNAPSHOT_TOO_LARGE');
    expect(fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)) : []).toEqual([]);
  });

  it('with the real limit, restore refuses an entry over maxBytes (same constant)', async () => {
    const file = path.join(tmp, 'huge.sealed');
    const tar = Buffer.concat([bigFileHeader('workspace/big.bin', BUNDLE_LIMITS.maxBytes + 1), Buffer.alloc(4096)]);
    fs.writeFileSync(file, await sealBytes(dataKey, tar));
    expect(await codeOf(restore(file))).toBe('STATE_BUNDLE_TOO_LARGE');
  });

  it('bytes: exactly at the limit seals and restores; one byte more is refused by both sides', async () => {
    fs.writeFileSync(path.join(workspace, 'f'), Buffer.alloc(1000, 0x61));
    const probe = await seal();
    // Both sides count workspace files, the state DB and the manifest.
    const exact = probe.manifest.entries.reduce((sum, e) => sum + e.size, 0) + encodeBundleManifest(probe.manifest).bytes.length;
    expect(await codeOf(seal({ maxBytes: exact }))).toBeUndefined();
    expect(await codeOf(restore(probe.out, { maxBytes: exact }))).toBeUndefined();
    expect(await codeOf(seal({ maxBytes: exact - 1 }))).toBe('STATE_SNAPSHOT_TOO_LARGE');
    expect(await codeOf(restore(probe.out, { maxBytes: exact - 1 }))).toBe('STATE_BUNDLE_TOO_LARGE');
  });

  it('entries: exactly at the limit seals and restores; one more is refused by both sides', async () => {
    fs.mkdirSync(path.join(workspace, 'd'));
    for (const name of ['a', 'b', 'd/c']) fs.writeFileSync(path.join(workspace, name), name);
    const probe = await seal();
    // 4 workspace entries + state.db + manifest.json.
    const exact = probe.manifest.entries.length + 1;
    expect(exact).toBe(6);
    expect(await codeOf(seal({ maxEntries: exact }))).toBeUndefined();
    expect(await codeOf(restore(probe.out, { maxEntries: exact }))).toBeUndefined();
    expect(await codeOf(seal({ maxEntries: exact - 1 }))).toBe('STATE_SNAPSHOT_TOO_LARGE');
    expect(await codeOf(restore(probe.out, { maxEntries: exact - 1 }))).toBe('STATE_BUNDLE_TOO_LARGE');
  });
});

describe('path limits', () => {
  it('a tree deeper than PATH_MAX (made by relative mkdir/chdir) seals with the too-long part skipped and reported, and restores', async () => {
    execFileSync('python3', ['-c', `import os\nos.chdir(${JSON.stringify(workspace)})\nfor i in range(450):\n    os.mkdir('d123456789'); os.chdir('d123456789')\nopen('deep.txt','w').write('deep')`]);
    fs.writeFileSync(path.join(workspace, 'top.txt'), 'top');
    // Positive control: a path-based lstat of the deepest file fails, as the old walk did.
    const deepest = path.join(workspace, ...Array<string>(450).fill('d123456789'), 'deep.txt');
    expect(() => fs.lstatSync(deepest)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    const sealed = await seal();
    expect(sealed.skippedEntries.length).toBe(1);
    expect(sealed.skippedEntries[0]!.reason).toBe('path-too-long');
    const opened = await restore(sealed.out);
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'top.txt'), 'utf8')).toBe('top');
    // One location-independent rule: every packed path fits MAX_PACKED_PATH_BYTES, the skipped one does not.
    for (const entry of sealed.manifest.entries) expect(Buffer.byteLength(entry.path)).toBeLessThanOrEqual(MAX_PACKED_PATH_BYTES);
    expect(Buffer.byteLength(sealed.skippedEntries[0]!.path)).toBeGreaterThan(MAX_PACKED_PATH_BYTES);
    execFileSync('rm', ['-rf', workspace]);
  });

  it('an entry name over 255 bytes cannot exist on disk, so the packer never meets one (restore refuses them)', () => {
    expect(() => fs.writeFileSync(path.join(workspace, 'x'.repeat(256)), '')).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
  });
});

describe('object files opened for restore', () => {
  it('a sealed bundle must be a regular file: a link to /dev/zero, a FIFO or a directory is refused at once', async () => {
    fs.writeFileSync(path.join(workspace, 'f'), 'x');
    const good = await seal();
    // Control: the real object opens.
    expect(await codeOf(restore(good.out))).toBeUndefined();
    const zero = path.join(tmp, 'zero.sealed');
    fs.symlinkSync('/dev/zero', zero);
    const link = path.join(tmp, 'link.sealed');
    fs.symlinkSync(good.out, link);
    const fifo = path.join(tmp, 'fifo.sealed');
    execFileSync('mkfifo', [fifo]);
    for (const file of [zero, link, fifo, tmp]) {
      const opening = openSealedBundle({ file, dataKey, expectedSha256: good.bundleSha256, destDir: path.join(tmp, `restore-${(n += 1)}`) });
      expect(await codeOf(opening), file).toBe('STATE_BUNDLE_NOT_FOUND');
    }
  });
});
