import { describe, expect, it } from 'vitest';
import { codeOf } from '@swarm/test-utils';
import { formatNodeRef, isValidName, parseNodeRef } from './node-ref.js';

describe('node references', () => {
  it.each([
    ['root', { kind: 'root' }],
    ['nd_0001', { kind: 'node', nodeId: 'nd_0001' }],
    ['run:run-20231114-0001', { kind: 'run', runId: 'run-20231114-0001' }],
    ['branch:feature.x', { kind: 'branch', label: 'feature.x' }],
  ])('parses %s and formats it back', (text, ref) => {
    expect(parseNodeRef(text)).toEqual(ref);
    expect(formatNodeRef(parseNodeRef(text))).toBe(text);
  });

  it.each(['', 'run:', 'branch:', 'branch:../x', 'a/b', '-x', 'run: x', 'x'.repeat(129), 'branch:a b'])('refuses %j', (text) => {
    expect(codeOf(() => parseNodeRef(text))).toBe('INVALID_ARGUMENT');
  });

  it('accepts names that are safe as file names only', () => {
    expect(isValidName('a'.repeat(128))).toBe(true);
    expect(isValidName('a'.repeat(129))).toBe(false);
    expect(isValidName('..')).toBe(false);
    expect(isValidName('a\0b')).toBe(false);
  });
});
