/** Reading untrusted input files into bytes, and parsing bytes as JSON, with coded errors. */
import './errors.js';
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';

/** Certificates, policies, envelopes and proofs are small; anything bigger is refused unread. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export function readInputFile(file: string, what: string): Buffer {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) {
      throw new SwarmError('FILE_NOT_FOUND', `${what} ${file} is not a regular file`, { details: { path: file } });
    }
    if (stat.size > MAX_INPUT_BYTES) {
      throw new SwarmError('VERIFY_INPUT_TOO_LARGE', `${what} ${file} is ${stat.size} bytes; the limit is ${MAX_INPUT_BYTES}`, {
        details: { path: file, size: stat.size, limit: MAX_INPUT_BYTES },
      });
    }
    return fs.readFileSync(fd);
  } catch (cause) {
    if (cause instanceof SwarmError) throw cause;
    const errno = (cause as NodeJS.ErrnoException).code;
    throw new SwarmError('FILE_NOT_FOUND', `cannot read ${what} ${file}${errno ? ` (${errno})` : ''}`, {
      details: { path: file, errno: errno ?? null },
      cause,
    });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export type ParsedJson = { ok: true; value: unknown } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict parse: the bytes must be valid UTF-8 and one JSON value. */
export function parseJsonBytes(bytes: Uint8Array): ParsedJson {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, reason: 'is not valid UTF-8' };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, reason: `is not valid JSON (${(error as Error).message})` };
  }
}

/** Reads a file that must hold JSON: exit 2 (JSON_PARSE) when it does not. */
export function readJsonInputFile(file: string, what: string): { bytes: Buffer; value: unknown } {
  const bytes = readInputFile(file, what);
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) {
    throw new SwarmError('JSON_PARSE', `${what} ${file} ${parsed.reason}`, { details: { path: file } });
  }
  return { bytes, value: parsed.value };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
