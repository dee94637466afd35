import { describe, expect, it } from 'vitest';
import {
  EXIT_CODES,
  SwarmError,
  errorCodeInfo,
  fsError,
  isSwarmError,
  registerErrorCodes,
  registeredErrorCodes,
  type ErrorCategory,
} from './errors.js';
// Importing the index registers every code core defines (keys, dsse, …).
import './index.js';

describe('exit codes', () => {
  it('follow the stable table of the design', () => {
    expect(EXIT_CODES).toEqual({ ok: 0, internal: 1, input: 2, verification: 3, backend: 4, restore: 5, policy: 6, step: 7, interrupted: 130 });
    expect(Object.isFrozen(EXIT_CODES)).toBe(true);
  });

  it('map every category to a distinct non-zero code', () => {
    const categories = Object.keys(EXIT_CODES).filter((k) => k !== 'ok') as ErrorCategory[];
    const codes = categories.map((c) => EXIT_CODES[c]);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.every((c) => c > 0)).toBe(true);
  });
});

describe('error registry', () => {
  registerErrorCodes('errors-test', {
    TEST_BAD_INPUT: { category: 'input', description: 'test' },
    TEST_FLAKY_BACKEND: { category: 'backend', description: 'test', retryable: true },
    TEST_TAMPERED: { category: 'verification', description: 'test' },
  });

  it('gives a registered code its category, exit code and retryability', () => {
    const cases: Array<[string, ErrorCategory, boolean]> = [
      ['TEST_BAD_INPUT', 'input', false],
      ['TEST_FLAKY_BACKEND', 'backend', true],
      ['TEST_TAMPERED', 'verification', false],
    ];
    for (const [code, category, retryable] of cases) {
      const error = new SwarmError(code, 'm');
      expect(error.category).toBe(category);
      expect(error.exitCode).toBe(EXIT_CODES[category]);
      expect(error.retryable).toBe(retryable);
    }
    expect(new SwarmError('TEST_FLAKY_BACKEND', 'm', { retryable: false }).retryable).toBe(false);
  });

  it('treats an unregistered code as an internal error (exit 1)', () => {
    const error = new SwarmError('TEST_NEVER_REGISTERED', 'm');
    expect(error.category).toBe('internal');
    expect(error.exitCode).toBe(1);
  });

  it('keeps details, hint and cause; a plain object is taken as details', () => {
    const cause = new Error('root');
    const error = new SwarmError('TEST_BAD_INPUT', 'm', { details: { a: 1 }, hint: 'do x', cause });
    expect(error.details).toEqual({ a: 1 });
    expect(error.hint).toBe('do x');
    expect(error.cause).toBe(cause);
    expect(new SwarmError('TEST_BAD_INPUT', 'm', { path: '/x' }).details).toEqual({ path: '/x' });
    expect(new SwarmError('TEST_BAD_INPUT', 'm').details).toBeNull();
    expect(isSwarmError(error)).toBe(true);
    expect(isSwarmError(new Error('x'))).toBe(false);
    expect(error).toBeInstanceOf(Error);
  });

  it('refuses malformed codes and a code two owners give different categories', () => {
    expect(() => registerErrorCodes('errors-test', { lower_case: { category: 'input', description: 'x' } })).toThrow();
    expect(() => registerErrorCodes('errors-test', { X: { category: 'input', description: 'x' } })).toThrow();
    expect(() => registerErrorCodes('someone-else', { TEST_BAD_INPUT: { category: 'policy', description: 'x' } })).toThrow();
    // Another package may raise the same code with the same meaning; the first description stays.
    expect(() => registerErrorCodes('someone-else', { TEST_BAD_INPUT: { category: 'input', description: 'x' } })).not.toThrow();
    expect(errorCodeInfo('TEST_BAD_INPUT')?.owner).toBe('errors-test');
    expect(() => registerErrorCodes('errors-test', { TEST_BAD_INPUT: { category: 'policy', description: 'x' } })).toThrow();
    expect(() => registerErrorCodes('errors-test', { TEST_BAD_INPUT: { category: 'input', description: 'again' } })).not.toThrow();
  });

  it('lists every registered code, sorted, each with a category from the exit table and a description', () => {
    const entries = registeredErrorCodes();
    const codes = entries.map(([code]) => code);
    expect(codes).toEqual([...codes].sort((a, b) => a.localeCompare(b)));
    for (const code of ['INTERNAL', 'USAGE', 'SCHEMA_INVALID', 'CONFIG_INVALID', 'KEYS_MISSING', 'DSSE_MALFORMED', 'TEST_TAMPERED']) {
      expect(codes).toContain(code);
    }
    for (const [code, info] of entries) {
      expect(Object.keys(EXIT_CODES), code).toContain(info.category);
      expect(info.description.trim(), code).not.toBe('');
    }
    expect(errorCodeInfo('TEST_TAMPERED')?.owner).toBe('errors-test');
    expect(errorCodeInfo('SCHEMA_INVALID')?.owner).toBe('core');
  });

  it('turns errno failures into the given code with the path and errno in details', () => {
    const enoent = Object.assign(new Error('x'), { code: 'ENOENT' });
    const error = fsError('FILE_NOT_FOUND', '/nowhere', enoent);
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.details).toEqual({ path: '/nowhere', errno: 'ENOENT' });
    expect(fsError('IO_READ_FAILED', '/x', new Error('no errno')).details).toEqual({ path: '/x', errno: null });
  });
});
