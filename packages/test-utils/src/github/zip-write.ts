/**
 * A small ZIP writer (deflate via zlib, or stored) that writes exactly what it is told, so tests
 * can build hostile archives: names are not normalised (`../x`, `/abs`, `a\\b`), duplicates are
 * kept, symlinks are written as unix external attributes, and sizes or CRCs can be lies.
 */
import zlib from 'node:zlib';

export interface ZipEntryInput {
  /** Stored as given (UTF-8; the language-encoding flag is set when it is not ASCII). */
  name: string;
  /** File content; for a symlink, the link target. Empty for a directory. */
  data?: Buffer | Uint8Array | string;
  /** Writes unix mode 0o120777 in the external attributes: unzip tools treat it as a symlink. */
  symlink?: boolean;
  /** A directory entry (mode 0o40755, MS-DOS directory bit); a trailing `/` is added if missing. */
  directory?: boolean;
  /** Unix permission bits and type (default 0o100644); overrides symlink/directory if given. */
  mode?: number;
  /** Default 'deflate' (stored when data is empty). */
  method?: 'deflate' | 'store';
  /** A lie about the uncompressed size, in both the local header and the central directory. */
  declaredSize?: number;
  /** A lie about the compressed size. */
  declaredCompressedSize?: number;
  /** A lie about the CRC-32. */
  declaredCrc?: number;
  /** Default 2023-11-14T22:13:20Z, so archives are reproducible. */
  mtime?: Date;
}

export interface ZipWriteOptions {
  comment?: string;
}

const DEFAULT_MTIME = new Date(1_700_000_000_000);
const UNIX_FILE = 0o100644;
const UNIX_DIR = 0o40755;
const UNIX_SYMLINK = 0o120777;

function dosDateTime(date: Date): { time: number; day: number } {
  const year = Math.max(1980, date.getUTCFullYear());
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
    day: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

function toBuffer(data: ZipEntryInput['data']): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
}

/** Builds a ZIP archive of `entries`, in order. */
export function writeZip(entries: ZipEntryInput[], options: ZipWriteOptions = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = entry.directory && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
    const nameBytes = Buffer.from(name, 'utf8');
    const data = entry.directory ? Buffer.alloc(0) : toBuffer(entry.data);
    const method = entry.method === 'store' || data.length === 0 ? 0 : 8;
    const payload = method === 8 ? zlib.deflateRawSync(data) : data;
    const crc = entry.declaredCrc ?? zlib.crc32(data);
    const size = entry.declaredSize ?? data.length;
    const compressedSize = entry.declaredCompressedSize ?? payload.length;
    const mode = entry.mode ?? (entry.symlink ? UNIX_SYMLINK : entry.directory ? UNIX_DIR : UNIX_FILE);
    const external = (((mode & 0xffff) << 16) | (entry.directory ? 0x10 : 0)) >>> 0;
    const flags = /^[\x20-\x7e]*$/.test(name) ? 0 : 0x0800;
    const { time, day } = dosDateTime(entry.mtime ?? DEFAULT_MTIME);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(day, 12);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(compressedSize >>> 0, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, nameBytes, payload);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: unix, so the external attributes are unix modes
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(time, 12);
    central.writeUInt16LE(day, 14);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(compressedSize >>> 0, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE(external >>> 0, 38);
    central.writeUInt32LE(offset >>> 0, 42);
    centrals.push(central, nameBytes);

    offset += local.length + nameBytes.length + payload.length;
  }
  const centralDirectory = Buffer.concat(centrals);
  const comment = Buffer.from(options.comment ?? '', 'utf8');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralDirectory.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(comment.length, 20);
  return Buffer.concat([...locals, centralDirectory, end, comment]);
}
