import { describe, expect, it } from 'vitest';
import type { Digest } from '@swarm/core';
import { decodeRecords, encodeRecords } from './records-file.js';
import type { TreeRecords } from './snapshot.js';

const NODE = `sha256:${'ab'.repeat(32)}`;
const sha = (byte: string) => `sha256:${byte.repeat(32)}` as Digest;

function sample(): TreeRecords {
  return {
    secretsFp: 'f'.repeat(64),
    files: new Map([
      ['workspace/a.txt', { size: 3, mtimeMs: 1_700_000_000_123.456, ctimeMs: 1_700_000_000_999.5, ino: 2 ** 40 + 7, sha256: sha('01'), chunks: null }],
      ['workspace/dir/ünïcode name\nwith newline', { size: 0, mtimeMs: -1, ctimeMs: 5, ino: 9, sha256: sha('02'), chunks: null }],
      ['workspace/big.bin', { size: 5_000_000, mtimeMs: 1, ctimeMs: 2, ino: 3, sha256: sha('03'), chunks: [['c1'.repeat(32), 2_000_000], ['c2'.repeat(32), 3_000_000]] }],
      ['state.db', { size: 4096, mtimeMs: 10, ctimeMs: 11, ino: 12, sha256: sha('04'), chunks: null }],
    ]),
  };
}

describe('records file', () => {
  it('round-trips every field, the racy marker, multi-chunk lists and odd names', () => {
    const records = sample();
    const back = decodeRecords(encodeRecords(NODE, records), NODE);
    expect(back.secretsFp).toBe(records.secretsFp);
    expect([...back.files]).toEqual([...records.files]);
  });

  it('round-trips an empty tree', () => {
    const back = decodeRecords(encodeRecords(NODE, { secretsFp: '', files: new Map() }), NODE);
    expect(back.files.size).toBe(0);
  });

  it('refuses records of another node, a truncated or extended file, and another format', () => {
    const bytes = encodeRecords(NODE, sample());
    expect(() => decodeRecords(bytes, `sha256:${'cd'.repeat(32)}`)).toThrow(/another node/);
    expect(() => decodeRecords(bytes.subarray(0, bytes.length - 1), NODE)).toThrow(/truncated/);
    expect(() => decodeRecords(Buffer.concat([bytes, Buffer.from([0])]), NODE)).toThrow(/trailing/);
    expect(() => decodeRecords(Buffer.from(JSON.stringify({ node: NODE, files: [] })), NODE)).toThrow(/not a records file/);
  });

  it('refuses a record without a digest rather than writing zeros', () => {
    const records = sample();
    records.files.set('workspace/x', { size: 1, mtimeMs: 1, ctimeMs: 1, ino: 1, sha256: 'sha256:' as Digest, chunks: null });
    expect(() => encodeRecords(NODE, records)).toThrow(/no SHA-256/);
  });
});
