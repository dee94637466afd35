/**
 * A process the step left running swaps a workspace directory for a symlink to the operator's key
 * directory after the walk and before the pack. The packer must refuse, and never seal the key.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SwarmError } from '@swarm/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSealedBundle, listBundle, openSealedBundle, walkWorkspace } from './index.js';

const SECRET = 'SECRET-KEY-MATERIAL-0123456789ab';
const PUBLIC = 'ordinary workspace content 01234';

let tmp: string;
let workspace: string;
let keys: string;
let db: string;
let out: string;
const dataKey = randomBytes(32);

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-swap-'));
  workspace = path.join(tmp, 'workspace');
  keys = path.join(tmp, 'keys');
  fs.mkdirSync(path.join(workspace, 'sub'), { recursive: true });
  fs.mkdirSync(keys);
  // Same name and size in both places, so only the file's identity can tell them apart.
  expect(SECRET.length).toBe(PUBLIC.length);
  fs.writeFileSync(path.join(workspace, 'sub', 'data.txt'), PUBLIC);
  fs.writeFileSync(path.join(keys, 'data.txt'), SECRET, { mode: 0o600 });
  db = path.join(tmp, 'state.db');
  fs.writeFileSync(db, 'db');
  out = path.join(tmp, 'out', 'bundle.sealed');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swapSubForKeys(): void {
  fs.renameSync(path.join(workspace, 'sub'), path.join(tmp, 'sub.moved'));
  fs.symlinkSync(keys, path.join(workspace, 'sub'));
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

/** Every file under `dir`, with its bytes, to look for the secret in. */
function allBytes(dir: string): Buffer {
  if (!fs.existsSync(dir)) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, name);
    if (fs.lstatSync(p).isFile()) parts.push(fs.readFileSync(p));
  }
  return Buffer.concat(parts);
}

describe('a workspace directory swapped for a symlink between walk and pack', () => {
  it('positive control: after the swap, a path read (even O_NOFOLLOW on the last component) reads the secret', () => {
    const seen = walkWorkspace(workspace).entries.find((e) => e.rel === 'sub/data.txt')!;
    swapSubForKeys();
    expect(fs.readFileSync(seen.abs, 'utf8')).toBe(SECRET);
    const fd = fs.openSync(seen.abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      expect(fs.fstatSync(fd).size).toBe(seen.size);
      expect(fs.readFileSync(fd, 'utf8')).toBe(SECRET);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('control: without the swap the same workspace seals and restores', async () => {
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out, afterWalk: () => undefined });
    const opened = await openSealedBundle({ file: out, dataKey, expectedSha256: sealed.bundleSha256, destDir: path.join(tmp, 'restored') });
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'sub', 'data.txt'), 'utf8')).toBe(PUBLIC);
  });

  it('the packer refuses with STATE_BUNDLE_ENTRY_CHANGED, and the secret is in no bundle', async () => {
    const code = await codeOf(
      createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out, afterWalk: swapSubForKeys }),
    );
    expect(code).toBe('STATE_BUNDLE_ENTRY_CHANGED');
    expect(fs.existsSync(out)).toBe(false);
    // Neither a finished bundle nor a partial temporary file is left in the output directory.
    expect(fs.existsSync(path.dirname(out)) ? fs.readdirSync(path.dirname(out)) : []).toEqual([]);
    expect(allBytes(path.dirname(out)).includes(SECRET)).toBe(false);
  });

  it('a file renamed over by another file of the same size is refused too', async () => {
    // (Created before the old one goes, so it cannot reuse the old inode number.)
    const swapFile = () => {
      const file = path.join(workspace, 'sub', 'data.txt');
      fs.writeFileSync(`${file}.new`, SECRET);
      fs.renameSync(`${file}.new`, file);
    };
    expect(await codeOf(createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out, afterWalk: swapFile }))).toBe(
      'STATE_BUNDLE_ENTRY_CHANGED',
    );
  });

  it('a state DB swapped for a symlink to the key is refused', async () => {
    const swapDb = () => {
      fs.rmSync(db);
      fs.symlinkSync(path.join(keys, 'data.txt'), db);
    };
    expect(await codeOf(createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out, afterWalk: swapDb }))).toBe(
      'STATE_BUNDLE_ENTRY_CHANGED',
    );
  });

  it('a swap that happened before the walk is packed as a symlink (kept verbatim or skipped), never followed', async () => {
    swapSubForKeys();
    const sealed = await createSealedBundle({ workspaceDir: workspace, stateDbPath: db, mtimeSec: 0, dataKey, outFile: out });
    expect(sealed.skippedEntries).toEqual([{ path: 'workspace/sub', reason: 'unsafe-symlink' }]);
    const listing = await listBundle({ file: out, dataKey });
    expect(listing.map((e) => e.path)).not.toContain('workspace/sub/data.txt');
  });
});
