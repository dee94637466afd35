/**
 * Reading the audit log's files: its lines in order (a sync reader that never holds the whole
 * log), its last line alone (what an append needs), and `audit.head`, the small file that records
 * the last line's seq and digest so a log cut short at the end is noticed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SWARM_DIGEST_RE, isMissingFileError, openBoundedFile, readBoundedFile } from '@swarm/core';
import { AUDIT_GENESIS, MAX_AUDIT_LINE_BYTES } from './audit-entry.js';

export const AUDIT_LOG_FILE = 'audit.log';
export const AUDIT_HEAD_FILE = 'audit.head';

export function auditLogPath(home: string): string {
  return path.join(home, AUDIT_LOG_FILE);
}

export function auditHeadPath(home: string): string {
  return path.join(home, AUDIT_HEAD_FILE);
}

export interface LogLine {
  /** 1-based. */
  number: number;
  /** Without the newline. */
  bytes: Buffer;
  /** False for a last line with no newline, or a line too long to be one swarm wrote. */
  terminated: boolean;
}

function openLog(file: string): number | null {
  try {
    return openBoundedFile(file, { what: 'audit log', maxBytes: Number.MAX_SAFE_INTEGER, noFollow: true }).fd;
  } catch (error) {
    if (isMissingFileError(error)) return null;
    throw error;
  }
}

const CHUNK_BYTES = 64 * 1024;

/** The log's lines in order; nothing when there is no log. Stops after an overlong line. */
export function* logLines(file: string): Generator<LogLine> {
  const fd = openLog(file);
  if (fd === null) return;
  try {
    let pending = Buffer.alloc(0);
    let number = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      const read = fs.readSync(fd, chunk, 0, CHUNK_BYTES, null);
      if (read === 0) break;
      let data = pending.length > 0 ? Buffer.concat([pending, chunk.subarray(0, read)]) : chunk.subarray(0, read);
      for (let at = data.indexOf(0x0a); at !== -1; at = data.indexOf(0x0a)) {
        number += 1;
        yield { number, bytes: data.subarray(0, at), terminated: true };
        data = data.subarray(at + 1);
      }
      pending = Buffer.from(data);
      if (pending.length > MAX_AUDIT_LINE_BYTES) {
        yield { number: number + 1, bytes: pending, terminated: false };
        return;
      }
    }
    if (pending.length > 0) yield { number: number + 1, bytes: pending, terminated: false };
  } finally {
    fs.closeSync(fd);
  }
}

export type LastLine = { kind: 'empty' } | { kind: 'line'; bytes: Buffer } | { kind: 'truncated' } | { kind: 'overlong' };

/** The last line of the log, read from its end. */
export function lastLogLine(file: string): LastLine {
  const fd = openLog(file);
  if (fd === null) return { kind: 'empty' };
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return { kind: 'empty' };
    // The longest line, its newline, and the newline before it.
    const length = Math.min(size, MAX_AUDIT_LINE_BYTES + 2);
    const tail = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const read = fs.readSync(fd, tail, got, length - got, size - length + got);
      if (read === 0) break;
      got += read;
    }
    if (got < length || tail[length - 1] !== 0x0a) return { kind: 'truncated' };
    const body = tail.subarray(0, length - 1);
    const start = body.lastIndexOf(0x0a);
    if (start === -1 && length < size) return { kind: 'overlong' };
    return { kind: 'line', bytes: body.subarray(start + 1) };
  } finally {
    fs.closeSync(fd);
  }
}

export type Head = { kind: 'head'; seq: number; line_hash: string } | { kind: 'missing' } | { kind: 'malformed'; message: string };

export function readHead(file: string): Head {
  let bytes: Buffer;
  try {
    bytes = readBoundedFile(file, { what: 'audit head', maxBytes: 4096, noFollow: true });
  } catch (error) {
    if (isMissingFileError(error)) return { kind: 'missing' };
    return { kind: 'malformed', message: error instanceof Error ? error.message : String(error) };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { kind: 'malformed', message: `${AUDIT_HEAD_FILE} is not JSON` };
  }
  const { seq, line_hash } = (doc ?? {}) as Record<string, unknown>;
  if (
    typeof doc !== 'object' ||
    doc === null ||
    Object.keys(doc).sort().join() !== 'line_hash,seq' ||
    typeof seq !== 'number' ||
    !Number.isSafeInteger(seq) ||
    seq < 1 ||
    typeof line_hash !== 'string' ||
    !SWARM_DIGEST_RE.test(line_hash)
  ) {
    return { kind: 'malformed', message: `${AUDIT_HEAD_FILE} is not {"seq","line_hash"}` };
  }
  return { kind: 'head', seq, line_hash };
}

export function serializeHead(seq: number, lineHash: string): string {
  return `${JSON.stringify({ seq, line_hash: lineHash })}\n`;
}

export interface HeadProblem {
  reason: 'tail_removed' | 'head_mismatch';
  line: number;
  message: string;
}

/**
 * Whether a log of `lines` lines agrees with its head. The head may lag one line behind (a writer
 * stopped between appending a line and updating the head); the next append brings it level.
 * `hashOfLine(k)` is the digest of line k (k = 0 is the genesis value).
 */
export function headProblem(head: Head, lines: number, hashOfLine: (line: number) => string | undefined): HeadProblem | null {
  if (head.kind === 'malformed') return { reason: 'head_mismatch', line: lines, message: head.message };
  const seq = head.kind === 'head' ? head.seq : 0;
  const recorded = head.kind === 'head' ? head.line_hash : AUDIT_GENESIS;
  const missing = head.kind === 'missing' ? ` (${AUDIT_HEAD_FILE} is missing)` : '';
  if (seq > lines) {
    return { reason: 'tail_removed', line: lines + 1, message: `${AUDIT_HEAD_FILE} records ${seq} lines but the log has ${lines}: its last lines were removed` };
  }
  if (seq < lines - 1) {
    return { reason: 'head_mismatch', line: seq + 2, message: `lines from ${seq + 2} on are not recorded in ${AUDIT_HEAD_FILE}${missing}` };
  }
  if (seq > 0 && hashOfLine(seq) !== recorded) {
    return { reason: 'head_mismatch', line: seq, message: `line ${seq} is not the line ${AUDIT_HEAD_FILE} records: it was replaced` };
  }
  return null;
}
