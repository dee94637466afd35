/**
 * Content-defined chunking for large files (FastCDC's gear hash with normalized chunking): a cut
 * falls where the rolling hash of the last bytes matches a mask, so an insertion moves only the
 * cuts near it and the chunks around stay the same. Files up to SINGLE_CHUNK_MAX are one chunk
 * (the bench shows per-file chunks deduplicate source trees as well and cost no hashing pass);
 * larger ones are cut into chunks of MIN..MAX bytes, about AVG on average.
 */
import { createHash } from 'node:crypto';

export const SINGLE_CHUNK_MAX = 1024 * 1024;
export const CDC_MIN = 256 * 1024;
export const CDC_AVG = 1024 * 1024;
export const CDC_MAX = 4 * 1024 * 1024;

/** 256 pseudo-random 32-bit gear values, fixed forever (they decide where chunks are cut). */
const GEAR: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i += 1) table[i] = createHash('sha256').update(`swarm-cdc-gear-${i}`).digest().readUInt32LE(0);
  return table;
})();

// Normalized chunking: a harder mask before AVG, an easier one after (log2(AVG) ± 2 bits, the
// high bits of the hash, which depend on the last 32 bytes).
const MASK_HARD = 0xfffffc00 >>> 0; // 22 bits
const MASK_EASY = 0xffffc000 >>> 0; // 18 bits

/**
 * Length of the next chunk at the start of `data` (which holds at least CDC_MAX bytes, or the rest
 * of the file when `final`).
 */
export function nextCut(data: Uint8Array, final: boolean): number {
  const n = data.length;
  if (n <= CDC_MIN) return final ? n : -1;
  const limit = Math.min(n, CDC_MAX);
  const normal = Math.min(limit, CDC_AVG);
  let hash = 0;
  let i = CDC_MIN;
  for (; i < normal; i += 1) {
    hash = ((hash << 1) + GEAR[data[i]!]!) >>> 0;
    if ((hash & MASK_HARD) === 0) return i + 1;
  }
  for (; i < limit; i += 1) {
    hash = ((hash << 1) + GEAR[data[i]!]!) >>> 0;
    if ((hash & MASK_EASY) === 0) return i + 1;
  }
  if (limit === CDC_MAX || final) return limit;
  return -1;
}

/**
 * Feeds a file's bytes in blocks and hands out its chunks in order. Holds at most CDC_MAX plus one
 * block, whatever the file size.
 */
export class Chunker {
  #pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onChunk: (chunk: Buffer) => void) {}

  push(block: Buffer): void {
    this.#pending = this.#pending.length === 0 ? Buffer.from(block) : Buffer.concat([this.#pending, block]);
    this.#drain(false);
  }

  end(): void {
    this.#drain(true);
  }

  #drain(final: boolean): void {
    while (this.#pending.length > 0 && (final || this.#pending.length >= CDC_MAX)) {
      const cut = nextCut(this.#pending, final);
      if (cut < 0) return;
      this.onChunk(this.#pending.subarray(0, cut));
      this.#pending = this.#pending.subarray(cut);
    }
  }
}
