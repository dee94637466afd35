/**
 * One line of the audit log: `{"seq","at","action","name"[,"run_id"],"prev","hash"}` as JSON in
 * exactly that layout. `hash` covers every other field (prev included), and the next line's
 * `prev` is the SHA-256 of this line's bytes, so each line commits to the whole log before it.
 */
import { SWARM_DIGEST_RE, canonicalBytes, isValidName, sha256Digest } from '@swarm/core';
import { SECRET_NAME, isIsoTime } from './names.js';

export type AuditAction = 'set' | 'remove' | 'grant';
const ACTIONS: readonly string[] = ['set', 'remove', 'grant'];

/** The `prev` of the first line. */
export const AUDIT_GENESIS = `sha256:${'0'.repeat(64)}`;
/** A line is a few hundred bytes (names and run ids are at most 128 characters). */
export const MAX_AUDIT_LINE_BYTES = 2048;

export interface AuditEntry {
  seq: number;
  at: string;
  action: AuditAction;
  name: string;
  /** The run a secret was granted to (grant only). */
  run_id?: string;
  prev: string;
  hash: string;
}

export type AuditFields = Omit<AuditEntry, 'hash'>;

export function entryHash(fields: AuditFields): string {
  const { seq, at, action, name, run_id, prev } = fields;
  return sha256Digest(canonicalBytes(run_id === undefined ? { seq, at, action, name, prev } : { seq, at, action, name, run_id, prev }));
}

/** The line's bytes without its newline: what the next line's `prev` is the digest of. */
export function serializeEntry(fields: AuditFields): string {
  const { seq, at, action, name, run_id, prev } = fields;
  const hash = entryHash(fields);
  return JSON.stringify(run_id === undefined ? { seq, at, action, name, prev, hash } : { seq, at, action, name, run_id, prev, hash });
}

export function lineHash(line: Uint8Array): string {
  return sha256Digest(line);
}

export type ParsedLine = { entry: AuditEntry } | { problem: 'malformed' | 'edited'; message: string };

/** Checks one line on its own (its form and its hash); `line` excludes the newline. */
export function parseEntryLine(line: Buffer): ParsedLine {
  const malformed = (message: string): ParsedLine => ({ problem: 'malformed', message });
  if (line.length > MAX_AUDIT_LINE_BYTES) return malformed(`the line is longer than ${MAX_AUDIT_LINE_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(line));
  } catch {
    return malformed('the line is not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return malformed('the line is not a JSON object');
  const record = doc as Record<string, unknown>;
  const { seq, at, action, name, run_id, prev, hash } = record;
  const expected = ['seq', 'at', 'action', 'name', ...(action === 'grant' ? ['run_id'] : []), 'prev', 'hash'];
  if (Object.keys(record).sort().join() !== [...expected].sort().join()) return malformed(`the entry does not have exactly the fields ${expected.join(', ')}`);
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return malformed('seq is not a positive integer');
  if (!isIsoTime(at)) return malformed('at is not an ISO time');
  if (typeof action !== 'string' || !ACTIONS.includes(action)) return malformed(`action is not one of ${ACTIONS.join(', ')}`);
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) return malformed('name is not a secret name');
  if (action === 'grant' && (typeof run_id !== 'string' || !isValidName(run_id))) return malformed('run_id is not a run id');
  if (typeof prev !== 'string' || !SWARM_DIGEST_RE.test(prev)) return malformed('prev is not a sha256 digest');
  if (typeof hash !== 'string' || !SWARM_DIGEST_RE.test(hash)) return malformed('hash is not a sha256 digest');
  const entry = record as unknown as AuditEntry;
  if (entryHash(entry) !== hash) return { problem: 'edited', message: 'the entry does not match its hash' };
  // One layout only: a re-spaced or re-ordered line would hash the same but break the next prev.
  if (serializeEntry(entry) !== line.toString('utf8')) return { problem: 'edited', message: 'the line is not in the form swarm writes' };
  return { entry };
}
