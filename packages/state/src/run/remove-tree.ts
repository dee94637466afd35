/**
 * `rm -rf` for trees a step made: deeper than PATH_MAX, or with directories it made read-only.
 * `fs.rmSync` works by full path and gives up with ENAMETOOLONG or EACCES there, which would leave a
 * run's plaintext workspace on disk. This moves too-deep subtrees up to the top (rename works on
 * short paths), makes directories writable, then removes the lot.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Subtrees below this many bytes of path are moved up; well under PATH_MAX, leaving room for names. */
const HOIST_AT_BYTES = 2048;
const RETRIED = new Set(['ENAMETOOLONG', 'EACCES', 'EPERM', 'ENOTEMPTY']);

export function removeTree(target: string): void {
  for (let round = 0; ; round += 1) {
    try {
      fs.rmSync(target, { recursive: true, force: true });
      return;
    } catch (error) {
      if (round >= 3 || !RETRIED.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      loosen(target);
    }
  }
}

/** Makes every directory under `root` writable and moves every too-deep one up to `root`. */
function loosen(root: string): void {
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (!stat?.isDirectory()) continue;
    if ((stat.mode & 0o700) !== 0o700) fs.chmodSync(dir, 0o700);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const child = path.join(dir, entry.name);
      if (Buffer.byteLength(child) <= HOIST_AT_BYTES) {
        pending.push(child);
        continue;
      }
      // Moving a directory to another parent rewrites its `..`, which needs write permission on it.
      fs.chmodSync(child, 0o700);
      const hoisted = path.join(root, `.removing-${randomBytes(6).toString('hex')}`);
      fs.renameSync(child, hoisted);
      pending.push(hoisted);
    }
  }
}
