import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SwarmError } from './errors.js';

export interface AtomicWriteOptions {
  mode?: number;
}

/**
 * Writes a file so that readers see either the old or the new content, never a torn one:
 * write to a temporary file in the same directory, fsync it, rename it over the target, then
 * fsync the directory so the rename itself survives a crash.
 */
export function writeFileAtomic(target: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fd = fs.openSync(tmp, 'wx', options.mode ?? 0o644);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    if (options.mode !== undefined) fs.chmodSync(tmp, options.mode);
    fs.renameSync(tmp, target);
    fsyncDir(dir);
  } catch (cause) {
    if (fd !== undefined) fs.closeSync(fd);
    removeQuietly(tmp);
    throw new SwarmError('IO_WRITE_FAILED', `cannot write ${target}`, { details: { path: target }, cause });
  }
}

/** Best-effort cleanup: the original failure is what the caller must see. */
function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // e.g. ENOTDIR when the parent is not a directory: there is nothing to remove.
  }
}

/** fsync a directory so renames and creations in it are durable. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Writes several files in one directory atomically each, paying for the directory fsync once:
 * every temporary file is written and fsynced, then all are renamed, then the directory is synced.
 */
export function writeFilesAtomic(dir: string, files: Array<{ name: string; data: string | Uint8Array; mode?: number }>): void {
  const staged: Array<{ tmp: string; target: string }> = [];
  try {
    fs.mkdirSync(dir, { recursive: true });
    for (const file of files) {
      const target = path.join(dir, file.name);
      const tmp = path.join(dir, `.${file.name}.${randomBytes(6).toString('hex')}.tmp`);
      staged.push({ tmp, target });
      const fd = fs.openSync(tmp, 'wx', file.mode ?? 0o644);
      try {
        fs.writeFileSync(fd, file.data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const { tmp, target } of staged) fs.renameSync(tmp, target);
    fsyncDir(dir);
  } catch (cause) {
    for (const { tmp } of staged) fs.rmSync(tmp, { force: true });
    throw new SwarmError('IO_WRITE_FAILED', `cannot write files in ${dir}`, { details: { path: dir }, cause });
  }
}
