/**
 * A small exclusive lock for read-modify-write of shared files (the trust store): a lock file
 * created with O_EXCL next to the target. A lock left behind by a crashed process is taken over
 * once it is older than `staleMs`.
 */
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';

export interface FileLockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock file older than this (ms) is considered abandoned. */
  staleMs?: number;
  /** The code thrown when the lock cannot be taken in time. */
  busyCode: string;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function withFileLock<T>(target: string, options: FileLockOptions, fn: () => T): T {
  const lockFile = `${target}.lock`;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const staleMs = options.staleMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let fd: number | undefined;
  for (let attempt = 0; fd === undefined; attempt++) {
    try {
      fd = fs.openSync(lockFile, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SwarmError(options.busyCode, `cannot create lock file ${lockFile}`, { details: { path: lockFile }, cause: error });
      }
      if (isStale(lockFile, staleMs)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new SwarmError(options.busyCode, `${target} is locked by another process`, {
          details: { path: lockFile },
          hint: `if no other swarm process is running, remove ${lockFile}`,
        });
      }
      sleepSync(Math.min(50, 5 + attempt * 5));
    }
  }
  try {
    fs.writeSync(fd, `${process.pid}\n`);
    return fn();
  } finally {
    fs.closeSync(fd);
    fs.rmSync(lockFile, { force: true });
  }
}

function isStale(lockFile: string, staleMs: number): boolean {
  try {
    return Date.now() - fs.statSync(lockFile).mtimeMs > staleMs;
  } catch {
    return false;
  }
}
