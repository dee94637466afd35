/**
 * Tar headers for the packer: POSIX ustar, with a pax extended header ('x') in front of an entry
 * whose path or link target is longer than the ustar fields or not ASCII, or whose size does not fit
 * 11 octal digits. Every field is fixed (uid/gid 0, empty owner names, no device numbers), so the
 * same entry always gives the same bytes. Extraction reads these with tar-stream; GNU tar reads
 * them too.
 */
export const TAR_BLOCK = 512;
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);
const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK);
const MAX_OCTAL_11 = 0o77777777777;
/** The latest mtime a ustar header holds (11 octal digits of seconds). */
export const MAX_TAR_MTIME_SEC = MAX_OCTAL_11;

export type TarEntryType = 'file' | 'dir' | 'symlink';

export interface TarEntryHeader {
  /** Path inside the archive; directories get a trailing slash here. */
  name: string;
  type: TarEntryType;
  /** Permission bits. */
  mode: number;
  size: number;
  mtimeSec: number;
  linkname?: string;
}

const TYPEFLAG: Record<TarEntryType | 'pax', number> = { file: 0x30, dir: 0x35, symlink: 0x32, pax: 0x78 };

function octal(buffer: Buffer, offset: number, width: number, value: number): void {
  // width - 1 zero-padded octal digits, then NUL.
  buffer.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'ascii');
  buffer[offset + width - 1] = 0;
}

function fitsUstar(text: string, limit: number): boolean {
  return text.length <= limit && /^[\x20-\x7e]*$/.test(text);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const base = Buffer.byteLength(body);
  let length = base + String(base).length;
  while (length !== base + String(length).length) length = base + String(length).length;
  return `${length}${body}`;
}

function ustarHeader(name: string, typeflag: number, mode: number, size: number, mtimeSec: number, linkname: string): Buffer {
  const header = Buffer.alloc(TAR_BLOCK);
  header.write(name, 0, 100, 'ascii');
  octal(header, 100, 8, mode);
  octal(header, 108, 8, 0); // uid
  octal(header, 116, 8, 0); // gid
  octal(header, 124, 12, size);
  octal(header, 136, 12, mtimeSec);
  header.fill(0x20, 148, 156); // checksum is computed with its own field as spaces
  header[156] = typeflag;
  header.write(linkname, 157, 100, 'ascii');
  header.write('ustar\x0000', 257, 8, 'ascii');
  octal(header, 329, 8, 0); // devmajor
  octal(header, 337, 8, 0); // devminor
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\x00 `, 148, 8, 'ascii');
  return header;
}

/** An ASCII stand-in for readers without pax support; readers with it use the pax path. */
function asciiFallback(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '_').slice(-100);
}

/** The header block(s) of one entry: an optional pax header and its records, then the ustar header. */
export function encodeTarHeader(entry: TarEntryHeader): Buffer {
  const linkname = entry.linkname ?? '';
  const records: string[] = [];
  if (!fitsUstar(entry.name, 100)) records.push(paxRecord('path', entry.name));
  if (!fitsUstar(linkname, 100)) records.push(paxRecord('linkpath', linkname));
  if (entry.size > MAX_OCTAL_11) records.push(paxRecord('size', String(entry.size)));
  const main = ustarHeader(
    fitsUstar(entry.name, 100) ? entry.name : asciiFallback(entry.name),
    TYPEFLAG[entry.type],
    entry.mode & 0o7777,
    entry.size > MAX_OCTAL_11 ? 0 : entry.size,
    entry.mtimeSec,
    fitsUstar(linkname, 100) ? linkname : asciiFallback(linkname),
  );
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''), 'utf8');
  const paxHeader = ustarHeader('PaxHeader', TYPEFLAG.pax, 0o644, body.length, entry.mtimeSec, '');
  return Buffer.concat([paxHeader, body, tarPadding(body.length), main]);
}

/** Zero bytes that round `size` up to whole blocks. */
export function tarPadding(size: number): Buffer {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? ZERO_BLOCK.subarray(0, 0) : ZERO_BLOCK.subarray(0, TAR_BLOCK - rest);
}
