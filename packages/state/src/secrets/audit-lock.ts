/**
 * The audit log's writer lock: an exclusive SQLite transaction on `$SWARM_HOME/audit.lock`, an
 * empty database used only for its lock. SQLite locks with fcntl, which the kernel releases when
 * the holder dies, so a crashed writer never leaves the log locked and no stale lock is broken.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';
import './errors.js';

export const AUDIT_LOCK_FILE = 'audit.lock';
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** Runs `fn` while holding the lock, waiting up to `timeoutMs` for it. Not reentrant. */
export function withAuditLock<T>(home: string, fn: () => T, options: { timeoutMs?: number } = {}): T {
  const file = path.join(home, AUDIT_LOCK_FILE);
  let db: Database.Database;
  try {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    // Created here so it is 0600; SQLite would create it with the umask's mode.
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600));
    db = new Database(file, { timeout: 0 });
  } catch (cause) {
    throw new SwarmError('IO_WRITE_FAILED', `cannot open the audit lock ${file}`, { details: { path: file }, cause });
  }
  try {
    lock(db, file, options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    try {
      return fn();
    } finally {
      db.exec('ROLLBACK');
    }
  } finally {
    db.close();
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Takes the exclusive lock, retrying every few milliseconds: SQLite's own busy wait backs off to
 * 100 ms, long enough for a busy writer to take the lock straight back every time.
 */
function lock(db: Database.Database, file: string, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      db.exec('BEGIN EXCLUSIVE');
      return;
    } catch (cause) {
      const code = (cause as { code?: string }).code;
      if (code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') {
        throw new SwarmError('IO_WRITE_FAILED', `cannot lock ${file}`, { details: { path: file }, cause });
      }
      if (Date.now() >= deadline) {
        throw new SwarmError('AUDIT_BUSY', 'another swarm process holds the audit log lock; try again', { retryable: true, details: { path: file }, cause });
      }
    }
    Atomics.wait(sleeper, 0, 0, 1 + Math.floor(Math.random() * Math.min(5, 1 + attempt)));
  }
}
