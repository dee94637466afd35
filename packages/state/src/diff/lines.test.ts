import { describe, expect, it } from 'vitest';
import { diffLines, diffSequences, splitLines } from './lines.js';

/** Length of the longest common subsequence, by dynamic programming. */
function lcsLength(a: Int32Array, b: Int32Array): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(row[j]!, row[j - 1]!);
      diag = up;
    }
  }
  return row[b.length]!;
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function kept(seq: Int32Array, flags: Uint8Array): number[] {
  return [...seq].filter((_, i) => !flags[i]);
}

describe('diffSequences', () => {
  it('keeps a common subsequence as long as the longest one (minimal edit script)', () => {
    const rand = random(7);
    for (let round = 0; round < 400; round++) {
      const alphabet = 1 + Math.floor(rand() * 6);
      const a = Int32Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * alphabet));
      const b = Int32Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * alphabet));
      const { deleted, inserted } = diffSequences(a, b);
      const commonA = kept(a, deleted);
      expect(commonA).toEqual(kept(b, inserted));
      expect(commonA.length).toBe(lcsLength(a, b));
    }
  });

  it('marks everything of two unrelated inputs and nothing of equal ones', () => {
    const a = Int32Array.from([1, 2, 3]);
    expect(diffSequences(a, Int32Array.from([4, 5]))).toEqual({ deleted: Uint8Array.from([1, 1, 1]), inserted: Uint8Array.from([1, 1]) });
    expect(diffSequences(a, a.slice())).toEqual({ deleted: new Uint8Array(3), inserted: new Uint8Array(3) });
  });
});

describe('splitLines and diffLines', () => {
  it('keeps line ends, so a last line without a newline differs from one with it', () => {
    expect(splitLines(Buffer.from('a\nb')).map(String)).toEqual(['a\n', 'b']);
    expect(splitLines(Buffer.from(''))).toEqual([]);
    const d = diffLines(splitLines(Buffer.from('a\nb')), splitLines(Buffer.from('a\nb\n')));
    expect([...d.deleted]).toEqual([0, 1]);
    expect([...d.inserted]).toEqual([0, 1]);
  });
});
