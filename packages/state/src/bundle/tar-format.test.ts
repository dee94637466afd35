import { describe, expect, it } from 'vitest';
import { TAR_BLOCK, encodeTarHeader, tarPadding } from './tar-format.js';

function field(header: Buffer, offset: number, length: number): string {
  const raw = header.subarray(offset, offset + length).toString('ascii');
  const end = raw.indexOf('\0');
  return end === -1 ? raw : raw.slice(0, end);
}

function checksumOk(header: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return parseInt(field(header, 148, 8).trim(), 8) === sum;
}

/** Parses "len key=value\n" records and checks every length field counts its own record. */
function paxRecords(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = Buffer.from(body, 'utf8');
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    const length = Number(rest.subarray(0, space).toString());
    const record = rest.subarray(0, length).toString('utf8');
    expect(record.endsWith('\n')).toBe(true);
    const [key, ...value] = record.slice(space + 1, -1).split('=');
    out[key!] = value.join('=');
    rest = rest.subarray(length);
  }
  return out;
}

describe('tar headers', () => {
  it('writes a ustar header with fixed owner fields and a valid checksum', () => {
    const header = encodeTarHeader({ name: 'workspace/a.txt', type: 'file', mode: 0o640, size: 1234, mtimeSec: 1_700_000_000 });
    expect(header.length).toBe(TAR_BLOCK);
    expect(field(header, 0, 100)).toBe('workspace/a.txt');
    expect(field(header, 100, 8)).toBe('0000640');
    expect(field(header, 108, 8)).toBe('0000000');
    expect(field(header, 116, 8)).toBe('0000000');
    expect(parseInt(field(header, 124, 12), 8)).toBe(1234);
    expect(parseInt(field(header, 136, 12), 8)).toBe(1_700_000_000);
    expect(String.fromCharCode(header[156]!)).toBe('0');
    expect(header.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    expect(field(header, 265, 32)).toBe('');
    expect(field(header, 297, 32)).toBe('');
    expect(checksumOk(header)).toBe(true);
    expect(encodeTarHeader({ name: 'workspace/a.txt', type: 'file', mode: 0o640, size: 1234, mtimeSec: 1_700_000_000 }).equals(header)).toBe(true);
  });

  it('marks directories and symlinks with their type flags', () => {
    expect(String.fromCharCode(encodeTarHeader({ name: 'workspace/d/', type: 'dir', mode: 0o755, size: 0, mtimeSec: 0 })[156]!)).toBe('5');
    const link = encodeTarHeader({ name: 'workspace/l', type: 'symlink', mode: 0o777, size: 0, mtimeSec: 0, linkname: '../x' });
    expect(String.fromCharCode(link[156]!)).toBe('2');
    expect(field(link, 157, 100)).toBe('../x');
  });

  it('puts long or non-ASCII paths and link targets, and huge sizes, in a pax header', () => {
    const name = `workspace/${'ü'.repeat(80)}/${'x'.repeat(120)}`;
    const target = 't'.repeat(150);
    const size = 9 * 1024 * 1024 * 1024;
    const bytes = encodeTarHeader({ name, type: 'symlink', mode: 0o777, size, mtimeSec: 5, linkname: target });
    expect(bytes.length % TAR_BLOCK).toBe(0);
    const pax = bytes.subarray(0, TAR_BLOCK);
    expect(String.fromCharCode(pax[156]!)).toBe('x');
    expect(checksumOk(pax)).toBe(true);
    const bodyLength = parseInt(field(pax, 124, 12), 8);
    const records = paxRecords(bytes.subarray(TAR_BLOCK, TAR_BLOCK + bodyLength).toString('utf8'));
    expect(records).toEqual({ path: name, linkpath: target, size: String(size) });
    const main = bytes.subarray(bytes.length - TAR_BLOCK);
    expect(checksumOk(main)).toBe(true);
    expect(String.fromCharCode(main[156]!)).toBe('2');
  });

  it('pads to whole blocks', () => {
    expect(tarPadding(0).length).toBe(0);
    expect(tarPadding(1).length).toBe(511);
    expect(tarPadding(512).length).toBe(0);
    expect(tarPadding(513).length).toBe(511);
    expect(tarPadding(1000).every((b) => b === 0)).toBe(true);
  });
});
