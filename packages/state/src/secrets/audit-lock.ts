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
const LOCK_TIMEOUT_MS = 10_000;

/** Runs `fn` while holding the lock. Not reentrant: `fn` must not take it again. */
export function withAuditLock<T>(home: string, fn: () => T): T {
  const file = path.join(home, AUDIT_LOCK_FILE);
  let db: Database.Database;
  try {
    fs.mkdirSync(home, { recursive: true, mode: 0o700 });
    // Created here so it is 0600; SQLite would create it with the umask's mode.
    fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600));
    db = new Database(file, { timeout: LOCK_TIMEOUT_MS });
  } catch (cause) {
    throw new SwarmError('IO_WRITE_FAILED', `cannot open the audit lock ${file}`, { details: { path: file }, cause });
  }
  try {
    try {
      db.exec('BEGIN EXCLUSIVE');
    } catch (cause) {
      const code = (cause as { code?: string }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new SwarmError('AUDIT_BUSY', 'another swarm process holds the audit log lock; try again', { retryable: true, details: { path: file }, cause });
      }
      throw new SwarmError('IO_WRITE_FAILED', `cannot lock ${file}`, { details: { path: file }, cause });
    }
    try {
      return fn();
    } finally {
      db.exec('ROLLBACK');
    }
  } finally {
    db.close();
  }
}
