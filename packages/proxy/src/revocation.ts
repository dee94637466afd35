/**
 * Revoked sessions. Kept in memory and, optionally, in a file of one session id per line (`#`
 * starts a comment), so an operator can revoke a ticket of a running broker by appending a line.
 * A revocation is never lifted: a session once seen in the file stays revoked even when the file
 * is deleted, truncated or unreadable. Because file watching is lossy, the file is re-read on
 * watch events, on every poll tick, and whenever its stat changes when a session is looked up.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import './errors.js';

export interface RevocationListOptions {
  /** A file of revoked session ids (it need not exist yet). */
  file?: string;
  /** How often the watched file is re-read whatever its stat says (default 1000 ms). */
  pollMs?: number;
  /** Told when the watched file cannot be read (the revocations already known stay). */
  onError?: (error: SwarmError) => void;
}

/** What identifies one version of the file without reading it. */
interface FileStamp {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export class RevocationList {
  private readonly revoked = new Set<string>();
  private readonly listeners = new Set<(sessionId: string) => void>();
  private readonly file: string | undefined;
  /** Stat of the file when last read; null when it was missing. */
  private stamp: FileStamp | null = null;
  private watcher: fs.FSWatcher | null = null;
  private poller: NodeJS.Timeout | null = null;

  constructor(private readonly options: RevocationListOptions = {}) {
    this.file = options.file;
    if (this.file) this.reload();
  }

  /** True when the session is revoked; re-reads the file first when it changed on disk. */
  has(sessionId: string): boolean {
    if (this.file && !this.revoked.has(sessionId)) this.refresh();
    return this.revoked.has(sessionId);
  }

  /** Revokes a session in memory and appends it to the file when there is one. */
  revoke(sessionId: string): void {
    if (this.has(sessionId)) return;
    this.revoked.add(sessionId);
    if (this.file) {
      try {
        // A deleted file is written again with everything known, so a restarted broker keeps it.
        if (fs.existsSync(this.file)) fs.appendFileSync(this.file, `${sessionId}\n`, { mode: 0o600 });
        else fs.writeFileSync(this.file, [...this.revoked].map((id) => `${id}\n`).join(''), { mode: 0o600 });
      } catch (cause) {
        throw new SwarmError('IO_WRITE_FAILED', `cannot write revocation file ${this.file}`, { details: { path: this.file }, cause });
      }
    }
    this.notify(sessionId);
  }

  /** Called with each newly revoked session id (the broker closes its tunnels). */
  onRevoke(listener: (sessionId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts watching the file: directory events plus a poll (neither keeps the process alive). */
  watch(): void {
    if (!this.file || this.poller) return;
    const file = this.file;
    this.poller = setInterval(() => this.reloadQuietly(), this.options.pollMs ?? 1000);
    this.poller.unref();
    try {
      // The directory, not the file: an editor or `mv` replaces the file and a file watch goes deaf.
      this.watcher = fs.watch(path.dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === path.basename(file)) this.reloadQuietly();
      });
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      // No watch (inotify limits, odd file systems): the poll and lookups still see every change.
      this.watcher = null;
    }
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    this.watcher?.close();
    this.watcher = null;
    this.listeners.clear();
  }

  /** Reads the file and adds every id in it; throws IO_READ_FAILED when it exists but is unreadable. */
  reload(): void {
    if (!this.file) return;
    let text: string;
    let stamp: FileStamp | null;
    try {
      stamp = stampOf(fs.statSync(this.file, { bigint: true }));
      text = fs.readFileSync(this.file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
        this.stamp = null;
        return;
      }
      throw new SwarmError('IO_READ_FAILED', `cannot read revocation file ${this.file}`, { details: { path: this.file }, cause });
    }
    this.stamp = stamp;
    // A torn last line (no newline yet) is taken too: revoking a prefix can only refuse, never admit.
    for (const line of text.split('\n')) {
      const id = line.replace(/#.*$/, '').trim();
      if (id === '' || this.revoked.has(id)) continue;
      this.revoked.add(id);
      this.notify(id);
    }
  }

  /** Re-reads when the file's stat differs from the version last read. */
  private refresh(): void {
    let now: FileStamp | null;
    try {
      now = stampOf(fs.statSync(this.file!, { bigint: true }));
    } catch {
      now = null;
    }
    if (sameStamp(now, this.stamp)) return;
    this.reloadQuietly();
  }

  private reloadQuietly(): void {
    try {
      this.reload();
    } catch (error) {
      // An unreadable file keeps the revocations already known: failing closed, not open.
      if (error instanceof SwarmError) this.options.onError?.(error);
    }
  }

  private notify(sessionId: string): void {
    for (const listener of this.listeners) {
      try {
        listener(sessionId);
      } catch {
        // One failing listener must not stop the others from closing the session.
      }
    }
  }
}

function stampOf(stat: fs.BigIntStats): FileStamp {
  return { ino: stat.ino, size: stat.size, mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs };
}

function sameStamp(a: FileStamp | null, b: FileStamp | null): boolean {
  if (a === null || b === null) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
