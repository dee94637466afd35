/** Reading untrusted input files into bytes, and parsing bytes as JSON, with coded errors. */
import './errors.js';
import { SwarmError, parseStrictJson, readBoundedFile, type JsonProblem, type NumberNote } from '@swarm/core';

/** Certificates, policies, envelopes and proofs are small; anything bigger is refused unread. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/**
 * The shared bounded reader (no blocking on a FIFO, regular files only, size cap) with the
 * verifier's own codes: FILE_NOT_FOUND for anything unreadable, VERIFY_INPUT_TOO_LARGE over the cap.
 */
export function readInputFile(file: string, what: string): Buffer {
  try {
    return readBoundedFile(file, { what, maxBytes: MAX_INPUT_BYTES });
  } catch (error) {
    if (!(error instanceof SwarmError)) throw error;
    if (error.code === 'FILE_TOO_LARGE') {
      const size = (error.details as { size?: number } | null)?.size ?? null;
      throw new SwarmError('VERIFY_INPUT_TOO_LARGE', `${what} ${file} is larger than ${MAX_INPUT_BYTES} bytes`, {
        details: { path: file, size, limit: MAX_INPUT_BYTES },
        cause: error,
      });
    }
    if (error.code === 'FILE_NOT_REGULAR') {
      throw new SwarmError('FILE_NOT_FOUND', error.message, { details: error.details, cause: error });
    }
    throw error;
  }
}

export type ParsedJson = { ok: true; value: unknown; numbers: NumberNote[] } | { ok: false; problem: JsonProblem; reason: string };

/** Strict parse (core's one parser for untrusted JSON): UTF-8, no BOM, no lone surrogates. */
export function parseJsonBytes(bytes: Uint8Array): ParsedJson {
  return parseStrictJson(bytes);
}

/** Reads a file that must hold JSON: exit 2 (JSON_PARSE) when it does not. */
export function readJsonInputFile(file: string, what: string): { bytes: Buffer; value: unknown } {
  const bytes = readInputFile(file, what);
  const parsed = parseJsonBytes(bytes);
  if (!parsed.ok) {
    throw new SwarmError('JSON_PARSE', `${what} ${file} ${parsed.reason}`, { details: { path: file, problem: parsed.problem } });
  }
  return { bytes, value: parsed.value };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
