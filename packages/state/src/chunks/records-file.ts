/**
 * The records a cached tree keeps beside it (what the tree cache hands the next snapshot), in a
 * columnar binary form: a 50,000-file tree's records as JSON cost about 150 ms to write and read
 * back, most of it parsing and building per-entry arrays; as columns they are a few native copies.
 *
 *   "SWARMREC1\n"  u32 header length, header JSON {node, secrets_fp, count, chunks: [[i, refs]]}
 *   u32 length, the bundle paths joined by NUL (no path holds one)
 *   count × 4 float64 (little-endian): size, mtimeMs, ctimeMs, ino
 *   count × 32 bytes: the file's SHA-256
 *
 * A file that does not decode exactly (wrong magic, lengths that do not add up, another node's
 * records) is an error: the caller treats the cached tree as absent.
 */
import type { Digest } from '@swarm/core';
import type { FileRecord, TreeRecords } from './snapshot.js';

const MAGIC = Buffer.from('SWARMREC1\n');
const FIELDS = 4;

interface Header {
  node: string;
  secrets_fp: string;
  count: number;
  chunks: Array<[number, NonNullable<FileRecord['chunks']>]>;
}

export function encodeRecords(node: string, records: TreeRecords): Buffer {
  const count = records.files.size;
  const paths: string[] = new Array(count);
  const numbers = new Float64Array(count * FIELDS);
  const digests = Buffer.allocUnsafe(count * 32);
  const chunks: Header['chunks'] = [];
  let i = 0;
  for (const [p, r] of records.files) {
    if (p.includes('\0')) throw new Error('a record path holds NUL');
    paths[i] = p;
    numbers[i * FIELDS] = r.size;
    numbers[i * FIELDS + 1] = r.mtimeMs;
    numbers[i * FIELDS + 2] = r.ctimeMs;
    numbers[i * FIELDS + 3] = r.ino;
    if (digests.write(r.sha256.slice(7), i * 32, 32, 'hex') !== 32) throw new Error(`record of ${p} has no SHA-256`);
    if (r.chunks) chunks.push([i, r.chunks]);
    i += 1;
  }
  const header = Buffer.from(JSON.stringify({ node, secrets_fp: records.secretsFp, count, chunks } satisfies Header));
  const joined = Buffer.from(paths.join('\0'));
  const lengths = (n: number) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(n);
    return b;
  };
  return Buffer.concat([MAGIC, lengths(header.length), header, lengths(joined.length), joined, littleEndian(numbers), digests]);
}

export function decodeRecords(bytes: Buffer, node: string): TreeRecords {
  let at = 0;
  const take = (n: number): Buffer => {
    if (at + n > bytes.length) throw new Error('records file is truncated');
    const part = bytes.subarray(at, at + n);
    at += n;
    return part;
  };
  if (!take(MAGIC.length).equals(MAGIC)) throw new Error('not a records file');
  const header = JSON.parse(take(take(4).readUInt32LE()).toString('utf8')) as Header;
  if (header.node !== node) throw new Error('records of another node');
  const count = header.count;
  if (!Number.isSafeInteger(count) || count < 0) throw new Error('records count is invalid');
  const joined = take(take(4).readUInt32LE()).toString('utf8');
  const paths = count === 0 ? [] : joined.split('\0');
  if (paths.length !== count) throw new Error('records paths do not match their count');
  const numbers = fromLittleEndian(take(count * FIELDS * 8), count * FIELDS);
  const digests = take(count * 32);
  if (at !== bytes.length) throw new Error('records file has trailing bytes');
  const multi = new Map(header.chunks);
  const files = new Map<string, FileRecord>();
  for (let i = 0; i < count; i += 1) {
    const o = i * FIELDS;
    files.set(paths[i]!, {
      size: numbers[o]!,
      mtimeMs: numbers[o + 1]!,
      ctimeMs: numbers[o + 2]!,
      ino: numbers[o + 3]!,
      sha256: `sha256:${digests.toString('hex', i * 32, i * 32 + 32)}` as Digest,
      chunks: multi.get(i) ?? null,
    });
  }
  if (files.size !== count) throw new Error('records hold a path twice');
  return { secretsFp: header.secrets_fp, files };
}

const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndian(numbers: Float64Array): Buffer {
  const out = Buffer.from(numbers.buffer, numbers.byteOffset, numbers.byteLength);
  return LITTLE ? out : Buffer.from(out).swap64();
}

function fromLittleEndian(bytes: Buffer, n: number): Float64Array {
  // Copied: the file's bytes need not sit at an 8-byte boundary.
  const numbers = new Float64Array(n);
  const view = new Uint8Array(numbers.buffer);
  view.set(bytes);
  if (!LITTLE) Buffer.from(numbers.buffer).swap64();
  return numbers;
}
