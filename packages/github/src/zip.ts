/**
 * A strict reader for the artifact zips a run uploads. It accepts only the plain shape: one
 * disk, no zip64, no archive comment, no encryption, stored or deflated entries whose local
 * headers tile the file up to the central directory and agree with it, safe relative names,
 * regular files and directories only, every size and crc checked, budgets enforced before
 * and while inflating. Anything else is ARTIFACT_ARCHIVE_UNSAFE.
 */
import zlib from 'node:zlib';
import { SwarmError } from '@swarm/core';

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the inflated sizes of all entries. */
  maxTotalBytes: number;
  maxEntryBytes: number;
  /** Inflated / compressed size of one entry (entries up to 64 KiB are exempt). */
  maxRatio: number;
  /** A file entry this refuses fails with ARTIFACT_MANIFEST_MISMATCH (directories are not asked). */
  allowed?: (name: string) => boolean;
}

/** Small entries compress far beyond any sane ratio (a 4 KiB run of spaces); they cannot be bombs. */
const RATIO_FLOOR_BYTES = 64 * 1024;

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;
const EOCD_SIZE = 22;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
const MAX_NAME_BYTES = 1024;
// Bits 1–2 (deflate level), 3 (sizes in a data descriptor), 11 (UTF-8 names).
const ALLOWED_FLAGS = 0x080e;
const FLAG_DESCRIPTOR = 0x0008;
const FLAG_ENCRYPTED = 0x0001 | 0x0040 | 0x2000;
const HOST_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const DOS_DIRECTORY = 0x10;

interface Entry {
  name: string;
  rawName: Buffer;
  directory: boolean;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  dataStart: number;
}

function unsafe(entry: string | null, reason: string): SwarmError {
  const where = entry === null ? 'the archive' : `entry ${JSON.stringify(entry)}`;
  return new SwarmError('ARTIFACT_ARCHIVE_UNSAFE', `unsafe artifact zip: ${where}: ${reason}`, { details: { entry, reason } });
}

/** Reads every file entry of `bytes` into memory, or throws for the first unsafe thing found. */
export function readZipStrict(bytes: Buffer, limits: ZipLimits): Map<string, Buffer> {
  const { cdOffset, cdEnd, count } = readEndRecord(bytes, limits);
  const entries = readCentralDirectory(bytes, cdOffset, cdEnd, count);
  checkEntries(entries, limits);
  checkLocalHeaders(bytes, entries, cdOffset);
  const files = new Map<string, Buffer>();
  for (const entry of entries) {
    const data = entryData(bytes, entry);
    if (!entry.directory) files.set(entry.name, data);
  }
  return files;
}

function readEndRecord(bytes: Buffer, limits: ZipLimits): { cdOffset: number; cdEnd: number; count: number } {
  if (bytes.length < EOCD_SIZE) throw unsafe(null, 'too short to be a zip');
  const eocd = bytes.length - EOCD_SIZE;
  if (bytes.readUInt32LE(eocd) !== SIG_EOCD || bytes.readUInt16LE(eocd + 20) !== 0) {
    // Say why: an archive comment, or bytes after the end record.
    for (let p = eocd - 1; p >= Math.max(0, eocd - 0xffff); p--) {
      if (bytes.readUInt32LE(p) !== SIG_EOCD) continue;
      const commented = p + EOCD_SIZE + bytes.readUInt16LE(p + 20) === bytes.length;
      throw unsafe(null, commented ? 'archive comments are not accepted' : 'data after the end of the archive');
    }
    throw unsafe(null, 'no end-of-central-directory record');
  }
  if (eocd >= 20 && bytes.readUInt32LE(eocd - 20) === SIG_ZIP64_LOCATOR) throw unsafe(null, 'zip64 archives are not supported');
  const disk = bytes.readUInt16LE(eocd + 4);
  const cdDisk = bytes.readUInt16LE(eocd + 6);
  const onDisk = bytes.readUInt16LE(eocd + 8);
  const count = bytes.readUInt16LE(eocd + 10);
  const cdSize = bytes.readUInt32LE(eocd + 12);
  const cdOffset = bytes.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) throw unsafe(null, 'zip64 archives are not supported');
  if (disk !== 0 || cdDisk !== 0 || onDisk !== count) throw unsafe(null, 'multi-disk archives are not supported');
  if (count > limits.maxEntries) throw unsafe(null, `more than ${limits.maxEntries} entries`);
  if (cdOffset + cdSize !== eocd) throw unsafe(null, 'the central directory does not end where its end record starts');
  return { cdOffset, cdEnd: eocd, count };
}

function readCentralDirectory(bytes: Buffer, cdOffset: number, cdEnd: number, count: number): Entry[] {
  const entries: Entry[] = [];
  let pos = cdOffset;
  for (let i = 0; i < count; i++) {
    if (pos + CENTRAL_SIZE > cdEnd || bytes.readUInt32LE(pos) !== SIG_CENTRAL) throw unsafe(null, 'malformed central directory');
    const madeBy = bytes.readUInt16LE(pos + 4);
    const flags = bytes.readUInt16LE(pos + 8);
    const method = bytes.readUInt16LE(pos + 10);
    const crc = bytes.readUInt32LE(pos + 16);
    const compressedSize = bytes.readUInt32LE(pos + 20);
    const size = bytes.readUInt32LE(pos + 24);
    const nameLength = bytes.readUInt16LE(pos + 28);
    const extraLength = bytes.readUInt16LE(pos + 30);
    const commentLength = bytes.readUInt16LE(pos + 32);
    const diskStart = bytes.readUInt16LE(pos + 34);
    const external = bytes.readUInt32LE(pos + 38);
    const localOffset = bytes.readUInt32LE(pos + 42);
    const next = pos + CENTRAL_SIZE + nameLength + extraLength + commentLength;
    if (next > cdEnd) throw unsafe(null, 'malformed central directory');
    const rawName = bytes.subarray(pos + CENTRAL_SIZE, pos + CENTRAL_SIZE + nameLength);
    const name = checkName(rawName);
    const directory = name.endsWith('/');
    if (flags & FLAG_ENCRYPTED) throw unsafe(name, 'encrypted entry');
    if (flags & ~ALLOWED_FLAGS) throw unsafe(name, `unsupported flags 0x${flags.toString(16)}`);
    if (method !== 0 && method !== 8) throw unsafe(name, `compression method ${method} (only stored and deflate)`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff) throw unsafe(name, 'zip64 entries are not supported');
    if (diskStart !== 0) throw unsafe(name, 'multi-disk archives are not supported');
    checkExtra(bytes.subarray(pos + CENTRAL_SIZE + nameLength, pos + CENTRAL_SIZE + nameLength + extraLength), name);
    checkKind(name, directory, madeBy >> 8, external);
    if (method === 0 && compressedSize !== size) throw unsafe(name, 'a stored entry whose sizes differ');
    if (directory && size !== 0) throw unsafe(name, 'a directory entry with data');
    entries.push({ name, rawName, directory, flags, method, crc, compressedSize, size, localOffset, dataStart: -1 });
    pos = next;
  }
  if (pos !== cdEnd) throw unsafe(null, 'the central directory has bytes after its last entry');
  return entries;
}

/** A relative, normalised, printable UTF-8 path; a trailing "/" marks a directory. */
function checkName(raw: Buffer): string {
  let name: string;
  try {
    name = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw unsafe(`hex:${raw.toString('hex')}`, 'the name is not UTF-8');
  }
  if (raw.length === 0) throw unsafe(name, 'empty name');
  if (raw.length > MAX_NAME_BYTES) throw unsafe(name, 'name too long');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw unsafe(name, 'control character or NUL in the name');
  if (name.includes('\\')) throw unsafe(name, 'backslash in the name');
  if (name.startsWith('/')) throw unsafe(name, 'absolute name');
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, 'drive letter in the name');
  if (name.includes(':')) throw unsafe(name, 'colon in the name');
  const body = name.endsWith('/') ? name.slice(0, -1) : name;
  for (const segment of body.split('/')) {
    if (segment === '') throw unsafe(name, 'empty path segment');
    if (segment === '.' || segment === '..') throw unsafe(name, `"${segment}" path segment`);
  }
  return name;
}

/** Extra fields must be well-formed; a zip64 field means sizes this reader does not read. */
function checkExtra(extra: Buffer, name: string): void {
  let pos = 0;
  while (pos < extra.length) {
    if (pos + 4 > extra.length) throw unsafe(name, 'malformed extra field');
    const id = extra.readUInt16LE(pos);
    const length = extra.readUInt16LE(pos + 2);
    if (pos + 4 + length > extra.length) throw unsafe(name, 'malformed extra field');
    if (id === 0x0001) throw unsafe(name, 'zip64 entries are not supported');
    pos += 4 + length;
  }
}

/** Only regular files and directories; links, devices, fifos and sockets are refused. */
function checkKind(name: string, directory: boolean, host: number, external: number): void {
  if (!directory && external & DOS_DIRECTORY) throw unsafe(name, 'directory attribute on a file name');
  if (host !== HOST_UNIX) return;
  const type = (external >>> 16) & S_IFMT;
  if (type === 0) return; // no unix mode recorded
  if (type === S_IFLNK) throw unsafe(name, 'symbolic link');
  if (type !== S_IFREG && type !== S_IFDIR) throw unsafe(name, `special file (mode 0${type.toString(8)})`);
  if ((type === S_IFDIR) !== directory) throw unsafe(name, directory ? 'file mode on a directory name' : 'directory mode on a file name');
}

/** Duplicates (exact, by case or Unicode form), files used as directories, budgets, `allowed`. */
function checkEntries(entries: Entry[], limits: ZipLimits): void {
  const byKey = new Map<string, Entry>();
  const fileKeys = new Set<string>();
  let total = 0;
  for (const entry of entries) {
    const key = foldKey(entry.name);
    const other = byKey.get(key);
    if (other) throw unsafe(entry.name, other.name === entry.name ? 'duplicate name' : `collides with ${JSON.stringify(other.name)} (case or Unicode form)`);
    byKey.set(key, entry);
    if (!entry.directory) fileKeys.add(key);
    if (entry.size > limits.maxEntryBytes) throw unsafe(entry.name, `larger than ${limits.maxEntryBytes} bytes`);
    if (entry.size > Math.max(entry.compressedSize * limits.maxRatio, RATIO_FLOOR_BYTES)) {
      throw unsafe(entry.name, `compression ratio over ${limits.maxRatio} (a zip bomb)`);
    }
    total += entry.size;
    if (total > limits.maxTotalBytes) throw unsafe(entry.name, `the archive inflates past ${limits.maxTotalBytes} bytes`);
    if (!entry.directory && limits.allowed && !limits.allowed(entry.name)) {
      throw new SwarmError('ARTIFACT_MANIFEST_MISMATCH', `the artifact holds a file it may not: ${JSON.stringify(entry.name)}`, {
        details: { entry: entry.name, reason: 'not allowed' },
      });
    }
  }
  for (const [key, entry] of byKey) {
    const segments = key.split('/');
    for (let i = 1; i < segments.length; i++) {
      if (fileKeys.has(segments.slice(0, i).join('/'))) throw unsafe(entry.name, 'a file of the archive is also used as its directory');
    }
  }
}

function foldKey(name: string): string {
  return (name.endsWith('/') ? name.slice(0, -1) : name).normalize('NFC').toLowerCase();
}

/**
 * Local headers must tile the file from offset 0 to the central directory with no gap or
 * overlap, and say what the central directory says (name, flags, method, crc, sizes).
 */
function checkLocalHeaders(bytes: Buffer, entries: Entry[], cdOffset: number): void {
  let cursor = 0;
  for (const entry of [...entries].sort((a, b) => a.localOffset - b.localOffset)) {
    const pos = entry.localOffset;
    if (pos < cursor) throw unsafe(entry.name, 'overlaps another entry');
    if (pos > cursor) throw unsafe(entry.name, 'unaccounted bytes before its local header');
    if (pos + LOCAL_SIZE > cdOffset || bytes.readUInt32LE(pos) !== SIG_LOCAL) throw unsafe(entry.name, 'no local header where the central directory points');
    const flags = bytes.readUInt16LE(pos + 6);
    const method = bytes.readUInt16LE(pos + 8);
    const crc = bytes.readUInt32LE(pos + 14);
    const compressedSize = bytes.readUInt32LE(pos + 18);
    const size = bytes.readUInt32LE(pos + 22);
    const nameLength = bytes.readUInt16LE(pos + 26);
    const extraLength = bytes.readUInt16LE(pos + 28);
    const dataStart = pos + LOCAL_SIZE + nameLength + extraLength;
    if (dataStart > cdOffset) throw unsafe(entry.name, 'local header runs into the central directory');
    if (!bytes.subarray(pos + LOCAL_SIZE, pos + LOCAL_SIZE + nameLength).equals(entry.rawName)) throw unsafe(entry.name, 'local name differs from the central directory');
    if (flags !== entry.flags || method !== entry.method) throw unsafe(entry.name, 'local flags or method differ from the central directory');
    checkExtra(bytes.subarray(pos + LOCAL_SIZE + nameLength, dataStart), entry.name);
    const described = (flags & FLAG_DESCRIPTOR) !== 0;
    const agrees = (local: number, central: number) => local === central || (described && local === 0);
    if (!agrees(crc, entry.crc) || !agrees(compressedSize, entry.compressedSize) || !agrees(size, entry.size)) {
      throw unsafe(entry.name, 'local crc or sizes differ from the central directory');
    }
    const dataEnd = dataStart + entry.compressedSize;
    if (dataEnd > cdOffset) throw unsafe(entry.name, 'entry data runs past the entries');
    entry.dataStart = dataStart;
    cursor = dataEnd + (described ? descriptorLength(bytes, dataEnd, cdOffset, entry) : 0);
  }
  if (cursor !== cdOffset) throw unsafe(null, 'unaccounted bytes before the central directory');
}

/** The data descriptor after an entry's data (signature optional), which must match the central directory. */
function descriptorLength(bytes: Buffer, at: number, limit: number, entry: Entry): number {
  const matches = (p: number) =>
    p + 12 <= limit && bytes.readUInt32LE(p) === entry.crc && bytes.readUInt32LE(p + 4) === entry.compressedSize && bytes.readUInt32LE(p + 8) === entry.size;
  if (at + 4 <= limit && bytes.readUInt32LE(at) === SIG_DESCRIPTOR && matches(at + 4)) return 16;
  if (matches(at)) return 12;
  throw unsafe(entry.name, 'data descriptor missing or differs from the central directory');
}

/** Inflates (never past the declared size) and checks size and crc. */
function entryData(bytes: Buffer, entry: Entry): Buffer {
  const raw = bytes.subarray(entry.dataStart, entry.dataStart + entry.compressedSize);
  let data: Buffer;
  if (entry.method === 0) {
    data = Buffer.from(raw);
  } else {
    let result: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      // maxOutputLength stops a lying size (or a bomb) at the declared size, before allocating more.
      result = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1), info: true } as zlib.ZlibOptions) as unknown as typeof result;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw unsafe(entry.name, 'inflates past its declared size');
      throw unsafe(entry.name, 'corrupt deflate data');
    }
    data = result.buffer;
    if (result.engine.bytesWritten !== raw.length) throw unsafe(entry.name, 'bytes after the end of its deflate stream');
  }
  if (data.length !== entry.size) throw unsafe(entry.name, `inflates to ${data.length} bytes, not the declared ${entry.size}`);
  if (crc32(data) !== entry.crc) throw unsafe(entry.name, 'crc32 mismatch');
  return data;
}

let crcTable: Uint32Array | undefined;

/** zlib.crc32 where Node has it (≥ 20.15 / 22.2), else a table implementation. */
function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const byte of data) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
