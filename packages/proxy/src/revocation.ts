/**
 * Revoked sessions. Kept in memory and, optionally, in a file of one session id per line (`#`
 * starts a comment) that the broker re-reads when it changes, so an operator can revoke a ticket
 * of a running broker by appending a line.
 */
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';
import './errors.js';

export interface RevocationListOptions {
  /** A file of revoked session ids; created empty when missing. */
  file?: string;
  /** How often the file is checked for changes. */
  pollMs?: number;
}

export class RevocationList {
  private readonly revoked = new Set<string>();
  private fromFile = new Set<string>();
  private readonly listeners = new Set<(sessionId: string) => void>();
  private readonly file: string | undefined;
  private watching = false;

  constructor(private readonly options: RevocationListOptions = {}) {
    this.file = options.file;
    if (this.file) this.reload();
  }

  has(sessionId: string): boolean {
    return this.revoked.has(sessionId) || this.fromFile.has(sessionId);
  }

  /** Revokes a session in memory and appends it to the file when there is one. */
  revoke(sessionId: string): void {
    if (this.has(sessionId)) return;
    this.revoked.add(sessionId);
    if (this.file) {
      try {
        fs.appendFileSync(this.file, `${sessionId}\n`, { mode: 0o600 });
      } catch (cause) {
        throw new SwarmError('IO_WRITE_FAILED', `cannot append to revocation file ${this.file}`, { details: { path: this.file }, cause });
      }
    }
    this.notify(sessionId);
  }

  /** Called with each newly revoked session id (the broker closes its tunnels). */
  onRevoke(listener: (sessionId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts watching the file (polling; the timer does not keep the process alive). */
  watch(): void {
    if (!this.file || this.watching) return;
    this.watching = true;
    fs.watchFile(this.file, { interval: this.options.pollMs ?? 1000, persistent: false }, () => {
      try {
        this.reload();
      } catch {
        // An unreadable file keeps the revocations already known: failing closed, not open.
      }
    });
  }

  close(): void {
    if (this.file && this.watching) fs.unwatchFile(this.file);
    this.watching = false;
    this.listeners.clear();
  }

  reload(): void {
    if (!this.file) return;
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SwarmError('IO_READ_FAILED', `cannot read revocation file ${this.file}`, { details: { path: this.file }, cause });
      }
    }
    const next = new Set(
      text
        .split('\n')
        .map((line) => line.replace(/#.*$/, '').trim())
        .filter((line) => line !== ''),
    );
    const added = [...next].filter((id) => !this.has(id));
    this.fromFile = next;
    for (const id of added) this.notify(id);
  }

  private notify(sessionId: string): void {
    for (const listener of this.listeners) listener(sessionId);
  }
}
