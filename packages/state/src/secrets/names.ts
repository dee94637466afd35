/**
 * What a secret name, value and time may be. Names become file names and environment variable
 * names; values must be text a process environment can carry and long enough for the log redactor.
 */
import { SwarmError } from '@swarm/core';
import { MIN_SECRET_LENGTH } from '../run/redact.js';
import './errors.js';

export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const MAX_SECRET_VALUE_BYTES = 64 * 1024;
export const MIN_SECRET_VALUE_LENGTH = MIN_SECRET_LENGTH;

export function assertSecretName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SECRET_NAME.test(name)) {
    throw new SwarmError('SECRET_NAME_INVALID', `invalid secret name ${JSON.stringify(name)}`, {
      details: { name: typeof name === 'string' ? name : null },
      hint: 'a letter or _ followed by up to 127 letters, digits or _',
    });
  }
}

export function assertSecretValue(value: unknown): asserts value is string {
  const invalid = (why: string, hint?: string) => new SwarmError('SECRET_VALUE_INVALID', `the secret value ${why}`, { hint });
  if (typeof value !== 'string' || value.length === 0) throw invalid('is empty');
  // The redactor hides only values this long; a shorter one would leak into step.log.
  if (value.length < MIN_SECRET_VALUE_LENGTH) throw invalid(`is shorter than ${MIN_SECRET_VALUE_LENGTH} characters and could not be redacted reliably`);
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) throw invalid(`is larger than ${MAX_SECRET_VALUE_BYTES} bytes`);
  // An environment variable ends at a NUL; the step would get a different value than was stored.
  if (value.includes('\0')) throw invalid('holds a NUL character, which an environment variable cannot carry');
  if (Buffer.from(value, 'utf8').toString('utf8') !== value) throw invalid('is not well-formed text (a lone surrogate)');
}

/** Times are ISO strings exactly as `isoTime` writes them, so they compare and hash the same. */
export function isIsoTime(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const time = new Date(value);
  return !Number.isNaN(time.getTime()) && time.toISOString() === value;
}
