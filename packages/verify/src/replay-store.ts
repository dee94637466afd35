/**
 * Seen replay nonces. The file store is an append-only JSON-lines file
 * (default `$SWARM_HOME/verify/replay-nonces.jsonl`) that is safe for concurrent verifiers without
 * a lock: each verifier appends its claim with O_APPEND (one write per line), then re-reads the
 * file; the claim that appears first for a nonce wins, every later one is a reuse.
 */
import './errors.js';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, isMissingFileError, readBoundedFile, swarmHome } from '@swarm/core';

/** About a million claims; a store past this is refused rather than read whole into memory. */
const MAX_REPLAY_STORE_BYTES = 256 * 1024 * 1024;

export interface NonceClaim {
  nonce: string;
  job_id: string | null;
  artifact_hash: string;
  expires_at_unix: number;
  recorded_at_unix: number;
}

export interface ReplayStore {
  /** Where the store lives (a path, or a label for in-memory stores). */
  readonly location: string;
  /** True when the nonce was already accepted. */
  has(nonce: string): boolean;
  /** Claims the nonce; true when this claim is the first, false when it was already taken. */
  claim(claim: NonceClaim): boolean;
}

export function defaultReplayStorePath(home: string = swarmHome()): string {
  return path.join(home, 'verify', 'replay-nonces.jsonl');
}

/** An in-memory store: used for the links of one chain, where a nonce may appear only once. */
export class MemoryReplayStore implements ReplayStore {
  readonly location = 'memory';
  private readonly seen = new Set<string>();

  has(nonce: string): boolean {
    return this.seen.has(nonce);
  }

  claim(claim: NonceClaim): boolean {
    if (this.seen.has(claim.nonce)) return false;
    this.seen.add(claim.nonce);
    return true;
  }
}

interface StoredClaim extends NonceClaim {
  claim_id: string;
}

export class FileReplayStore implements ReplayStore {
  constructor(readonly location: string) {}

  has(nonce: string): boolean {
    return this.read().some((c) => c.nonce === nonce);
  }

  claim(claim: NonceClaim): boolean {
    const stored: StoredClaim = { ...claim, claim_id: randomBytes(12).toString('hex') };
    this.append(stored);
    const first = this.read().find((c) => c.nonce === claim.nonce);
    return first?.claim_id === stored.claim_id;
  }

  private append(claim: StoredClaim): void {
    const dir = path.dirname(this.location);
    let fd: number | undefined;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const { O_RDWR, O_APPEND, O_CREAT, O_NONBLOCK } = fs.constants;
      // Never blocks on a FIFO; what was opened must be a regular file.
      fd = fs.openSync(this.location, O_RDWR | O_APPEND | O_CREAT | O_NONBLOCK, 0o600);
      const stat = fs.fstatSync(fd);
      if (!stat.isFile()) throw new SwarmError('FILE_NOT_REGULAR', `replay nonce store ${this.location} is not a regular file`);
      const size = stat.size;
      // A line torn by a crash is ended first, so it can never swallow the claim written after it.
      let prefix = '';
      if (size > 0) {
        const last = Buffer.alloc(1);
        fs.readSync(fd, last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = '\n';
      }
      fs.writeSync(fd, `${prefix}${JSON.stringify(claim)}\n`);
      fs.fsyncSync(fd);
    } catch (cause) {
      throw unusable(this.location, cause);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  private read(): StoredClaim[] {
    let text: string;
    try {
      text = readBoundedFile(this.location, { what: 'replay nonce store', maxBytes: MAX_REPLAY_STORE_BYTES }).toString('utf8');
    } catch (cause) {
      if (isMissingFileError(cause)) return [];
      throw unusable(this.location, cause);
    }
    const claims: StoredClaim[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      // A line that does not parse is a write that never completed; its verifier never passed.
      try {
        const value = JSON.parse(line) as Partial<StoredClaim>;
        if (typeof value?.nonce === 'string' && typeof value.claim_id === 'string') claims.push(value as StoredClaim);
      } catch {
        continue;
      }
    }
    return claims;
  }
}

function unusable(location: string, cause: unknown): SwarmError {
  const errno = (cause as NodeJS.ErrnoException)?.code;
  return new SwarmError('VERIFY_REPLAY_STORE_UNUSABLE', `cannot use the replay nonce store ${location}${errno ? ` (${errno})` : ''}`, {
    details: { path: location, errno: errno ?? null },
    cause,
    hint: 'pass a writable file with --replay-store, or --no-record-nonce to check without recording',
  });
}
