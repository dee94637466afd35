/**
 * The append-only, hash-chained audit log of secrets, `$SWARM_HOME/audit.log`: one JSON line per
 * set, remove or grant (names and run ids, never values). Writers serialise on the audit lock and
 * append with O_APPEND, one write per line, then move `audit.head` to the new last line.
 */
import fs from 'node:fs';
import { SwarmError, isValidName, writeFileAtomic } from '@swarm/core';
import { AUDIT_GENESIS, MAX_AUDIT_LINE_BYTES, lineHash, parseEntryLine, serializeEntry, type AuditAction, type AuditEntry, type AuditFields } from './audit-entry.js';
import { auditHeadPath, auditLogPath, headProblem, lastLogLine, logLines, readHead, serializeHead } from './audit-file.js';
import { withAuditLock } from './audit-lock.js';
import { assertSecretName, isIsoTime } from './names.js';
import './errors.js';

export type { AuditAction, AuditEntry };

export interface AuditEvent {
  action: AuditAction;
  name: string;
  /** Required for a grant, absent otherwise. */
  run_id?: string;
  /** ISO time. */
  at: string;
}

export type AuditProblemReason = 'truncated' | 'malformed' | 'edited' | 'out_of_order' | 'chain_broken' | 'tail_removed' | 'head_mismatch';

export interface AuditIntact {
  ok: true;
  log: string;
  entries: number;
  /** The head was one line behind (a writer stopped between the two writes); the next append fixes it. */
  head_behind: boolean;
}

export interface AuditBroken {
  ok: false;
  log: string;
  /** The first bad line of the log, 1-based (for `tail_removed`, the first missing one). */
  line: number;
  reason: AuditProblemReason;
  message: string;
}

export type AuditVerification = AuditIntact | AuditBroken;

function assertEvent(event: AuditEvent): void {
  assertSecretName(event.name);
  if (!isIsoTime(event.at)) throw new SwarmError('INVALID_ARGUMENT', `audit time ${JSON.stringify(event.at)} is not an ISO time`);
  if ((event.action === 'grant') !== (event.run_id !== undefined)) {
    throw new SwarmError('INVALID_ARGUMENT', 'an audit entry has a run id exactly when it is a grant');
  }
  if (event.run_id !== undefined && !isValidName(event.run_id)) {
    throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(event.run_id)}`, { hint: 'letters, digits, . _ - (max 128)' });
  }
}

/** `line` is null when only the end of the log was read (an append), so its number is unknown. */
function broken(problem: { line: number | null; reason: AuditProblemReason; message: string }, log: string): SwarmError {
  const where = problem.line === null ? 'at its end' : `at line ${problem.line}`;
  return new SwarmError('AUDIT_CHAIN_BROKEN', `the audit log ${log} is broken ${where}: ${problem.message}`, {
    details: { log, line: problem.line, reason: problem.reason },
    hint: `\`swarm audit verify\` checks the whole log; to start a new one, move ${log} and its audit.head aside`,
  });
}

/** The seq and line digest an append continues from, after checking the last line against the head. */
function appendPoint(home: string): { seq: number; prev: string } {
  const log = auditLogPath(home);
  const last = lastLogLine(log);
  const head = readHead(auditHeadPath(home));
  if (last.kind === 'truncated' || last.kind === 'overlong') {
    throw broken({ line: null, reason: last.kind === 'truncated' ? 'truncated' : 'malformed', message: 'its last line is incomplete' }, log);
  }
  if (last.kind === 'empty') {
    const problem = headProblem(head, 0, () => AUDIT_GENESIS);
    if (problem) throw broken(problem, log);
    return { seq: 0, prev: AUDIT_GENESIS };
  }
  const parsed = parseEntryLine(last.bytes);
  if ('problem' in parsed) throw broken({ line: null, reason: parsed.problem, message: `its last line: ${parsed.message}` }, log);
  const { entry } = parsed;
  const digest = lineHash(last.bytes);
  const problem = headProblem(head, entry.seq, (k) => (k === entry.seq ? digest : k === entry.seq - 1 ? entry.prev : undefined));
  if (problem) throw broken(problem, log);
  return { seq: entry.seq, prev: digest };
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
}

/**
 * Appends one line per event, in order, under the audit lock. Refuses (AUDIT_CHAIN_BROKEN) when
 * the last line or the head shows the log was tampered with: appending would hide it.
 */
export function appendAudit(home: string, events: AuditEvent[]): AuditEntry[] {
  events.forEach(assertEvent);
  if (events.length === 0) return [];
  return withAuditLock(home, () => appendHoldingLock(home, events));
}

/** The append itself; the caller holds the audit lock (without it, two writers fork the chain). */
export function appendHoldingLock(home: string, events: AuditEvent[]): AuditEntry[] {
  const log = auditLogPath(home);
  let { seq, prev } = appendPoint(home);
  const written: AuditEntry[] = [];
  let fd: number | undefined;
  try {
    fd = fs.openSync(log, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o600);
    for (const event of events) {
      const fields: AuditFields = { seq: seq + 1, at: event.at, action: event.action, name: event.name, ...(event.run_id === undefined ? {} : { run_id: event.run_id }), prev };
      const line = serializeEntry(fields);
      // One write per line: with O_APPEND each lands whole at the end.
      writeAll(fd, Buffer.from(`${line}\n`, 'utf8'));
      seq = fields.seq;
      prev = lineHash(Buffer.from(line, 'utf8'));
      written.push(JSON.parse(line) as AuditEntry);
    }
    fs.fsyncSync(fd);
  } catch (cause) {
    throw new SwarmError('IO_WRITE_FAILED', `cannot append to the audit log ${log}`, { details: { path: log }, cause });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  writeFileAtomic(auditHeadPath(home), serializeHead(seq, prev), { mode: 0o600 });
  return written;
}

/** Checks every line in order, then the head; calls `onEntry` for each good line. */
function scanAudit(home: string, onEntry: (entry: AuditEntry) => void): AuditVerification {
  const log = auditLogPath(home);
  const head = readHead(auditHeadPath(home));
  const headSeq = head.kind === 'head' ? head.seq : 0;
  let lines = 0;
  let prev = AUDIT_GENESIS;
  let atHead: string | undefined;
  const fail = (line: number, reason: AuditProblemReason, message: string): AuditBroken => ({ ok: false, log, line, reason, message });
  for (const line of logLines(log)) {
    if (!line.terminated) {
      return line.bytes.length > MAX_AUDIT_LINE_BYTES ? fail(line.number, 'malformed', 'the line is too long') : fail(line.number, 'truncated', 'the last line has no end: it was cut short');
    }
    const parsed = parseEntryLine(line.bytes);
    if ('problem' in parsed) return fail(line.number, parsed.problem, parsed.message);
    const { entry } = parsed;
    if (entry.seq !== line.number) {
      return fail(line.number, 'out_of_order', `seq ${entry.seq} where ${line.number} belongs: a line was removed, inserted or moved here`);
    }
    if (entry.prev !== prev) return fail(line.number, 'chain_broken', 'prev is not the digest of the line before: that line was replaced');
    prev = lineHash(line.bytes);
    if (line.number === headSeq) atHead = prev;
    lines = line.number;
    onEntry(entry);
  }
  const problem = headProblem(head, lines, (k) => (k === headSeq ? atHead : undefined));
  if (problem) return fail(problem.line, problem.reason, problem.message);
  return { ok: true, log, entries: lines, head_behind: headSeq === lines - 1 };
}

/** Verifies the whole log: the first bad line and why, or how many entries it holds. */
export function verifyAudit(home: string): AuditVerification {
  return scanAudit(home, () => {});
}

export interface ListAuditOptions {
  /** Only entries about this secret. */
  name?: string;
  /** Only the last `limit` entries (after filtering by name). */
  limit?: number;
}

/** The log's entries, oldest first. A log that does not verify is refused, not shown in part. */
export function listAudit(home: string, options: ListAuditOptions = {}): AuditEntry[] {
  if (options.name !== undefined) assertSecretName(options.name);
  const limit = options.limit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new SwarmError('INVALID_ARGUMENT', `--limit must be a positive integer, got ${String(limit)}`);
  }
  const out: AuditEntry[] = [];
  const result = scanAudit(home, (entry) => {
    if (options.name !== undefined && entry.name !== options.name) return;
    out.push(entry);
    if (limit !== undefined && out.length > limit) out.shift();
  });
  if (!result.ok) throw broken(result, result.log);
  return out;
}
