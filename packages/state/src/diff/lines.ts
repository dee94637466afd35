/**
 * A minimal line diff: Myers' O(ND) algorithm in its linear-space form (the middle snake, divide
 * and conquer). Lines found on one side only are marked first and left out of the search, which
 * keeps unrelated files cheap. The result is one flag per line: deleted (old) or inserted (new).
 */

export interface LineDiff {
  /** `deleted[i]` is 1 when old line i is not part of the common subsequence. */
  deleted: Uint8Array;
  /** `inserted[j]` is 1 when new line j is not part of the common subsequence. */
  inserted: Uint8Array;
}

/** Splits bytes into lines, each keeping its `\n`; a last line without one is kept as is. */
export function splitLines(content: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = content.indexOf(0x0a, start);
    if (nl === -1) break;
    lines.push(content.subarray(start, nl + 1));
    start = nl + 1;
  }
  if (start < content.length) lines.push(content.subarray(start));
  return lines;
}

/** Diffs two lists of lines (compared byte for byte, line ends included). */
export function diffLines(oldLines: Buffer[], newLines: Buffer[]): LineDiff {
  // Equal lines get equal small integers, so the search compares numbers.
  const ids = new Map<string, number>();
  const idOf = (line: Buffer) => {
    const key = line.toString('latin1');
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    return id;
  };
  const a = Int32Array.from(oldLines, idOf);
  const b = Int32Array.from(newLines, idOf);
  return diffSequences(a, b);
}

/** The same diff over integer sequences. */
export function diffSequences(a: Int32Array, b: Int32Array): LineDiff {
  const deleted = new Uint8Array(a.length);
  const inserted = new Uint8Array(b.length);
  // A line with no equal on the other side cannot be matched: mark it and search without it.
  const inB = new Set(b);
  const inA = new Set(a);
  const keptA: number[] = [];
  const keptB: number[] = [];
  a.forEach((id, i) => (inB.has(id) ? keptA.push(i) : (deleted[i] = 1)));
  b.forEach((id, j) => (inA.has(id) ? keptB.push(j) : (inserted[j] = 1)));
  const ra = Int32Array.from(keptA, (i) => a[i]!);
  const rb = Int32Array.from(keptB, (j) => b[j]!);
  const rDeleted = new Uint8Array(ra.length);
  const rInserted = new Uint8Array(rb.length);
  const size = 2 * (ra.length + rb.length) + 4;
  new MyersSearch(ra, rb, rDeleted, rInserted, new Int32Array(size), new Int32Array(size)).compare(0, ra.length, 0, rb.length);
  rDeleted.forEach((flag, i) => flag && (deleted[keptA[i]!] = 1));
  rInserted.forEach((flag, j) => flag && (inserted[keptB[j]!] = 1));
  return { deleted, inserted };
}

class MyersSearch {
  constructor(
    private readonly a: Int32Array,
    private readonly b: Int32Array,
    private readonly deleted: Uint8Array,
    private readonly inserted: Uint8Array,
    private readonly forward: Int32Array,
    private readonly backward: Int32Array,
  ) {}

  compare(aLo: number, aHi: number, bLo: number, bHi: number): void {
    const { a, b } = this;
    while (aLo < aHi && bLo < bHi && a[aLo] === b[bLo]) {
      aLo++;
      bLo++;
    }
    while (aLo < aHi && bLo < bHi && a[aHi - 1] === b[bHi - 1]) {
      aHi--;
      bHi--;
    }
    if (aLo === aHi) {
      this.inserted.fill(1, bLo, bHi);
      return;
    }
    if (bLo === bHi) {
      this.deleted.fill(1, aLo, aHi);
      return;
    }
    // Both sides non-empty with no common prefix or suffix: at least two edits, so the middle
    // snake splits the problem into two strictly smaller ones.
    const [x, y, u, v] = this.middleSnake(aLo, aHi, bLo, bHi);
    this.compare(aLo, x, bLo, y);
    this.compare(u, aHi, v, bHi);
  }

  /** The middle snake of an optimal path, as absolute [x, y] start and [u, v] end. */
  private middleSnake(aLo: number, aHi: number, bLo: number, bHi: number): [number, number, number, number] {
    const { a, b, forward: vf, backward: vb } = this;
    const n = aHi - aLo;
    const m = bHi - bLo;
    const delta = n - m;
    const odd = (delta & 1) !== 0;
    const max = Math.ceil((n + m) / 2);
    const o = max + 1;
    vf[o + 1] = 0;
    vb[o + 1] = 0;
    for (let d = 0; d <= max; d++) {
      for (let k = -d; k <= d; k += 2) {
        let x = k === -d || (k !== d && vf[o + k - 1]! < vf[o + k + 1]!) ? vf[o + k + 1]! : vf[o + k - 1]! + 1;
        let y = x - k;
        const x0 = x;
        const y0 = y;
        while (x < n && y < m && a[aLo + x] === b[bLo + y]) {
          x++;
          y++;
        }
        vf[o + k] = x;
        // Backward paths of d-1 edits lie on forward diagonals delta-(d-1) .. delta+(d-1).
        if (odd && k >= delta - (d - 1) && k <= delta + (d - 1) && x + vb[o + delta - k]! >= n) {
          return [aLo + x0, bLo + y0, aLo + x, bLo + y];
        }
      }
      for (let k = -d; k <= d; k += 2) {
        // Backward search in reversed coordinates: x counts lines from the end.
        let x = k === -d || (k !== d && vb[o + k - 1]! < vb[o + k + 1]!) ? vb[o + k + 1]! : vb[o + k - 1]! + 1;
        let y = x - k;
        const x0 = x;
        const y0 = y;
        while (x < n && y < m && a[aHi - 1 - x] === b[bHi - 1 - y]) {
          x++;
          y++;
        }
        vb[o + k] = x;
        const kf = delta - k;
        if (!odd && kf >= -d && kf <= d && x + vf[o + kf]! >= n) {
          return [aHi - x, bHi - y, aHi - x0, bHi - y0];
        }
      }
    }
    throw new Error('middle snake not found');
  }
}
