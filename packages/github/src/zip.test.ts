import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError } from '@swarm/core';
import { makeTempDir } from '@swarm/test-utils';
import { readZipStrict, type ZipLimits } from './zip.js';

const limits: ZipLimits = { maxEntries: 100, maxTotalBytes: 64 * 1024 * 1024, maxEntryBytes: 64 * 1024 * 1024, maxRatio: 100 };

/** The code and details of what `fn` throws (a test fails on a non-SwarmError). */
function failure(fn: () => unknown): { code: string; entry: unknown; reason: string } {
  try {
    fn();
  } catch (error) {
    if (!isSwarmError(error)) throw error;
    const details = error.details as { entry: unknown; reason: string };
    return { code: error.code, entry: details.entry, reason: details.reason };
  }
  throw new Error('expected readZipStrict to refuse the archive');
}

function expectUnsafe(bytes: Buffer, reason: RegExp, opts: ZipLimits = limits): void {
  const f = failure(() => readZipStrict(bytes, opts));
  expect(f.code).toBe('ARTIFACT_ARCHIVE_UNSAFE');
  expect(f.reason).toMatch(reason);
}

// --- a tiny writer for shapes the zip CLI will not make --------------------------------------

interface RawEntry {
  name: string | Buffer;
  data?: Buffer;
  /** 0 stored, 8 deflate, anything else written as given (with the data stored). */
  method?: number;
  /** Replaces the compressed bytes (the declared compressed size follows them). */
  compressed?: Buffer;
  /** Declared sizes/crc, in both headers, when they should lie. */
  size?: number;
  compressedSize?: number;
  crc?: number;
  flags?: number;
  madeBy?: number;
  external?: number;
  /** Sizes in a data descriptor after the data (local header fields zero). */
  descriptor?: 'signed' | 'unsigned';
  /** Changes to the local header only. */
  local?: { name?: string; size?: number; crc?: number; method?: number; flags?: number };
  extra?: Buffer;
  /** No local record: the central entry points at the local record of entry `pointTo`. */
  pointTo?: number;
}

interface WriteOptions {
  comment?: Buffer;
  trailing?: Buffer;
  /** Bytes before the first local header. */
  prefix?: Buffer;
  /** Bytes between the local records and the central directory. */
  beforeCentral?: Buffer;
}

const UNIX = (3 << 8) | 20;
const FILE_MODE = 0o100644 << 16;
const DIR_MODE = (0o040755 << 16) | 0x10;

function buildZip(entries: RawEntry[], opts: WriteOptions = {}): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  if (opts.prefix) push(opts.prefix);
  const records = entries.map((e) => {
    const name = typeof e.name === 'string' ? Buffer.from(e.name, 'utf8') : e.name;
    const data = e.data ?? Buffer.alloc(0);
    const method = e.method ?? 8;
    const compressed = e.compressed ?? (method === 8 ? zlib.deflateRawSync(data) : data);
    const crc = e.crc ?? zlib.crc32(data);
    const size = e.size ?? data.length;
    const flags = (e.flags ?? 0x0800) | (e.descriptor ? 0x0008 : 0);
    const isDir = name.toString('utf8').endsWith('/');
    const compressedSize = e.compressedSize ?? compressed.length;
    return { e, name, method, compressed, compressedSize, crc, size, flags, isDir, offset: 0 };
  });
  for (const r of records) {
    if (r.e.pointTo !== undefined) continue;
    r.offset = offset;
    const localName = r.e.local?.name !== undefined ? Buffer.from(r.e.local.name, 'utf8') : r.name;
    const extra = r.e.extra ?? Buffer.alloc(0);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(20, 4);
    h.writeUInt16LE(r.e.local?.flags ?? r.flags, 6);
    h.writeUInt16LE(r.e.local?.method ?? r.method, 8);
    h.writeUInt32LE(r.e.descriptor ? 0 : (r.e.local?.crc ?? r.crc), 14);
    h.writeUInt32LE(r.e.descriptor ? 0 : r.compressedSize, 18);
    h.writeUInt32LE(r.e.descriptor ? 0 : (r.e.local?.size ?? r.size), 22);
    h.writeUInt16LE(localName.length, 26);
    h.writeUInt16LE(extra.length, 28);
    push(Buffer.concat([h, localName, extra, r.compressed]));
    if (r.e.descriptor) {
      const d = Buffer.alloc(16);
      d.writeUInt32LE(0x08074b50, 0);
      d.writeUInt32LE(r.crc, 4);
      d.writeUInt32LE(r.compressedSize, 8);
      d.writeUInt32LE(r.size, 12);
      push(r.e.descriptor === 'signed' ? d : d.subarray(4));
    }
  }
  for (const r of records) if (r.e.pointTo !== undefined) r.offset = records[r.e.pointTo]!.offset;
  if (opts.beforeCentral) push(opts.beforeCentral);
  const cdOffset = offset;
  for (const r of records) {
    const extra = r.e.extra ?? Buffer.alloc(0);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(r.e.madeBy ?? UNIX, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(r.flags, 8);
    c.writeUInt16LE(r.method, 10);
    c.writeUInt32LE(r.crc, 16);
    c.writeUInt32LE(r.compressedSize, 20);
    c.writeUInt32LE(r.size, 24);
    c.writeUInt16LE(r.name.length, 28);
    c.writeUInt16LE(extra.length, 30);
    c.writeUInt32LE((r.e.external ?? (r.isDir ? DIR_MODE : FILE_MODE)) >>> 0, 38);
    c.writeUInt32LE(r.offset, 42);
    push(Buffer.concat([c, r.name, extra]));
  }
  const cdSize = offset - cdOffset;
  const comment = opts.comment ?? Buffer.alloc(0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(records.length, 8);
  end.writeUInt16LE(records.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(cdOffset, 16);
  end.writeUInt16LE(comment.length, 20);
  push(Buffer.concat([end, comment]));
  if (opts.trailing) push(opts.trailing);
  return Buffer.concat(parts);
}

const hello = Buffer.from('hello, artifact\n'.repeat(20));
const file = (name: string | Buffer, extra: Partial<RawEntry> = {}): RawEntry => ({ name, data: hello, ...extra });

describe('readZipStrict on archives made by the zip CLI', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    tmp = makeTempDir('swarm-zip-');
    fs.mkdirSync(path.join(tmp.dir, 'in', 'sub', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(tmp.dir, 'in', 'manifest.json'), '{"files":[]}\n');
    fs.writeFileSync(path.join(tmp.dir, 'in', 'sub', 'text.txt'), 'text '.repeat(10_000));
    fs.writeFileSync(path.join(tmp.dir, 'in', 'sub', 'deeper', 'random.bin'), crypto.randomBytes(100_000));
  });
  afterEach(() => tmp.cleanup());

  const zip = (args: string[], out = 'out.zip'): Buffer => {
    // Only -z reads stdin (the comment); giving others input races their exit (EPIPE).
    const stdin = args.includes('-z') ? { input: 'a comment\n' } : { stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'] };
    execFileSync('zip', ['-q', '-X', ...args, path.join(tmp.dir, out), '.'], { cwd: path.join(tmp.dir, 'in'), ...stdin });
    return fs.readFileSync(path.join(tmp.dir, out));
  };
  const expected = (): Map<string, Buffer> => {
    const out = new Map<string, Buffer>();
    for (const rel of ['manifest.json', 'sub/text.txt', 'sub/deeper/random.bin']) out.set(rel, fs.readFileSync(path.join(tmp.dir, 'in', rel)));
    return out;
  };

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('reads deflated and stored archives, directories omitted', () => {
    for (const flags of [['-r'], ['-r', '-0'], ['-r', '-9']]) {
      const files = readZipStrict(zip(flags), limits);
      expect(new Map([...files].sort())).toEqual(new Map([...expected()].sort()));
    }
  });

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('reads a streamed archive (data descriptors)', () => {
    const bytes = execFileSync('zip', ['-q', '-X', '-r', '-', '.'], { cwd: path.join(tmp.dir, 'in') });
    // Positive control that this shape uses descriptors: general-purpose bit 3 in the first local header.
    expect(bytes.readUInt16LE(6) & 0x0008).toBe(0x0008);
    expect(new Map([...readZipStrict(bytes, limits)].sort())).toEqual(new Map([...expected()].sort()));
  });

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('refuses a stored symlink (zip -y), accepts the same tree without it', () => {
    expect(readZipStrict(zip(['-r', '-y']), limits).size).toBe(3);
    fs.symlinkSync('/etc/passwd', path.join(tmp.dir, 'in', 'sub', 'link'));
    const f = failure(() => readZipStrict(zip(['-r', '-y'], 'link.zip'), limits));
    expect(f).toMatchObject({ code: 'ARTIFACT_ARCHIVE_UNSAFE', entry: 'sub/link', reason: 'symbolic link' });
  });

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('refuses zip64 (zip -fz), accepts the same tree without it', () => {
    expect(readZipStrict(zip(['-r']), limits).size).toBe(3);
    expectUnsafe(zip(['-r', '-fz'], 'z64.zip'), /zip64/);
  });

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('refuses an archive comment (zip -z)', () => {
    expect(readZipStrict(zip(['-r']), limits).size).toBe(3);
    expectUnsafe(zip(['-r', '-z'], 'comment.zip'), /comment/);
  });

  it.skipIf(!fs.existsSync('/usr/bin/zip'))('refuses what `allowed` does not list, as a manifest mismatch', () => {
    const bytes = zip(['-r']);
    const listed = new Set(expected().keys());
    expect(readZipStrict(bytes, { ...limits, allowed: (n) => listed.has(n) }).size).toBe(3);
    listed.delete('sub/text.txt');
    const f = failure(() => readZipStrict(bytes, { ...limits, allowed: (n) => listed.has(n) }));
    expect(f).toMatchObject({ code: 'ARTIFACT_MANIFEST_MISMATCH', entry: 'sub/text.txt', reason: 'not allowed' });
  });
});

describe('readZipStrict on hostile archives', () => {
  it('reads what the test writer makes (the control for every case below)', () => {
    const files = readZipStrict(buildZip([file('a.txt'), { name: 'dir/' }, file('dir/b.txt', { method: 0 }), { name: 'empty', data: Buffer.alloc(0) }]), limits);
    expect([...files.keys()]).toEqual(['a.txt', 'dir/b.txt', 'empty']);
    expect(files.get('a.txt')).toEqual(hello);
    expect(files.get('dir/b.txt')).toEqual(hello);
    expect(files.get('empty')).toEqual(Buffer.alloc(0));
  });

  it('refuses unsafe names, accepts the safe ones beside them', () => {
    for (const safe of ['x', 'a/b', '..a', 'a..', 'a/.b/c', 'dir/', 'ünï/cødé']) {
      expect(() => readZipStrict(buildZip([safe.endsWith('/') ? { name: safe } : file(safe)]), limits)).not.toThrow();
    }
    const hostile: Array<[string | Buffer, RegExp]> = [
      ['../x', /"\.\." path segment/],
      ['a/../../x', /"\.\." path segment/],
      ['./x', /"\." path segment/],
      ['/abs', /absolute/],
      ['/', /absolute/],
      ['C:/x', /drive letter/],
      ['c:x', /drive letter/],
      ['ab:c', /colon/],
      ['a\\b', /backslash/],
      ['..\\x', /backslash/],
      ['a//b', /empty path segment/],
      ['a//', /empty path segment/],
      ['a\u0000b', /control character/],
      ['a\u001b[31mb', /control character/],
      ['a\nb', /control character/],
      ['a\u0085b', /control character/],
      [Buffer.from([0x61, 0xff, 0x62]), /not UTF-8/],
      ['', /empty name/],
      ['x'.repeat(1025), /too long/],
    ];
    for (const [name, reason] of hostile) expectUnsafe(buildZip([String(name).endsWith('/') ? { name } : file(name)]), reason);
  });

  it('refuses duplicates: exact, by case, by Unicode form, file beside directory, file as directory', () => {
    expect(readZipStrict(buildZip([file('a'), file('b'), { name: 'c/' }, file('c/d')]), limits).size).toBe(3);
    expectUnsafe(buildZip([file('a'), file('a')]), /duplicate name/);
    expectUnsafe(buildZip([file('Readme.md'), file('README.md')]), /collides/);
    expectUnsafe(buildZip([file('caf\u00e9'), file('cafe\u0301')]), /collides/);
    expectUnsafe(buildZip([file('a'), { name: 'a/' }]), /collides/);
    expectUnsafe(buildZip([file('a'), file('a/b')]), /also used as its directory/);
    expectUnsafe(buildZip([file('A/b'), file('a')]), /also used as its directory/);
  });

  it('refuses links, devices and fifos by unix mode; directory entries must not carry data', () => {
    expect(readZipStrict(buildZip([file('f', { external: FILE_MODE }), { name: 'd/', external: DIR_MODE }]), limits).size).toBe(1);
    // Without a unix host the mode bits mean nothing.
    expect(readZipStrict(buildZip([file('f', { madeBy: 20, external: 0o120777 << 16 })]), limits).size).toBe(1);
    expectUnsafe(buildZip([file('f', { external: 0o120777 << 16 })]), /symbolic link/);
    expectUnsafe(buildZip([file('f', { external: 0o020644 << 16 })]), /special file/);
    expectUnsafe(buildZip([file('f', { external: 0o060644 << 16 })]), /special file/);
    expectUnsafe(buildZip([file('f', { external: 0o010644 << 16 })]), /special file/);
    expectUnsafe(buildZip([file('f', { external: 0o140644 << 16 })]), /special file/);
    expectUnsafe(buildZip([file('f', { external: 0o040755 << 16 })]), /directory mode on a file/);
    expectUnsafe(buildZip([file('f', { external: 0x10 })]), /directory attribute/);
    expectUnsafe(buildZip([{ name: 'd/', external: FILE_MODE }]), /file mode on a directory/);
    expectUnsafe(buildZip([{ name: 'd/', data: hello }]), /directory entry with data/);
  });

  it('refuses encrypted entries and methods other than stored and deflate', () => {
    expect(readZipStrict(buildZip([file('f', { flags: 0x0800 })]), limits).size).toBe(1);
    expectUnsafe(buildZip([file('f', { flags: 0x0801 })]), /encrypted/);
    expectUnsafe(buildZip([file('f', { flags: 0x0840 })]), /encrypted/);
    expectUnsafe(buildZip([file('f', { flags: 0x0810 })]), /unsupported flags/);
    for (const method of [1, 9, 12, 14, 93, 99]) expectUnsafe(buildZip([file('f', { method, compressed: hello })]), /compression method/);
  });

  it('refuses declared sizes that lie and crc mismatches', () => {
    expect(readZipStrict(buildZip([file('f', { size: hello.length, crc: zlib.crc32(hello) })]), limits).size).toBe(1);
    expectUnsafe(buildZip([file('f', { size: hello.length - 1 })]), /inflates past its declared size/);
    expectUnsafe(buildZip([file('f', { size: hello.length + 1 })]), /not the declared/);
    expectUnsafe(buildZip([file('f', { method: 0, size: hello.length + 1 })]), /stored entry whose sizes differ/);
    expectUnsafe(buildZip([file('f', { crc: zlib.crc32(hello) ^ 1 })]), /crc32 mismatch/);
    expectUnsafe(buildZip([file('f', { method: 0, crc: 0 })]), /crc32 mismatch/);
    expectUnsafe(buildZip([file('f', { compressed: zlib.deflateRawSync(hello).subarray(0, 10) })]), /corrupt deflate/);
    expectUnsafe(buildZip([file('f', { compressed: Buffer.concat([zlib.deflateRawSync(hello), Buffer.from('hidden')]) })]), /after the end of its deflate stream/);
  });

  it('refuses a bomb by its ratio before inflating (50 MiB of zeros in ~50 KiB)', () => {
    const zeros = Buffer.alloc(50 * 1024 * 1024);
    const bytes = buildZip([{ name: 'zeros', data: zeros }]);
    expect(bytes.length).toBeLessThan(100 * 1024);
    expect(readZipStrict(bytes, { ...limits, maxRatio: 2000 }).get('zeros')?.length).toBe(zeros.length);
    expectUnsafe(bytes, /compression ratio/, { ...limits, maxRatio: 100 });
  });

  it('stops a bomb that lies about its size at the declared size', () => {
    const deflated = zlib.deflateRawSync(Buffer.alloc(50 * 1024 * 1024));
    const honest = Buffer.from(crypto.randomBytes(50 * 1024).toString('hex'));
    // The control: the declared size and ratio pass when the stream really is that big.
    expect(readZipStrict(buildZip([{ name: 'z', data: honest, compressed: zlib.deflateRawSync(honest) }]), limits).size).toBe(1);
    const before = process.memoryUsage().arrayBuffers;
    expectUnsafe(buildZip([{ name: 'z', data: honest, compressed: deflated }]), /inflates past its declared size/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(20 * 1024 * 1024);
  });

  it('enforces entry count, entry size and total size', () => {
    const three = buildZip([file('a'), file('b'), file('c')]);
    expect(readZipStrict(three, { ...limits, maxEntries: 3, maxEntryBytes: hello.length, maxTotalBytes: 3 * hello.length }).size).toBe(3);
    expectUnsafe(three, /more than 2 entries/, { ...limits, maxEntries: 2 });
    expectUnsafe(three, /larger than/, { ...limits, maxEntryBytes: hello.length - 1 });
    expectUnsafe(three, /inflates past/, { ...limits, maxTotalBytes: 3 * hello.length - 1 });
  });

  it('requires local headers to agree with the central directory', () => {
    expect(readZipStrict(buildZip([file('f', { local: {} })]), limits).size).toBe(1);
    expectUnsafe(buildZip([file('f', { local: { name: 'g' } })]), /local name differs/);
    expectUnsafe(buildZip([file('f', { local: { name: '../f' } })]), /local name differs/);
    expectUnsafe(buildZip([file('f', { local: { method: 0 } })]), /flags or method differ/);
    expectUnsafe(buildZip([file('f', { local: { flags: 0 } })]), /flags or method differ/);
    expectUnsafe(buildZip([file('f', { local: { size: 1 } })]), /crc or sizes differ/);
    expectUnsafe(buildZip([file('f', { local: { crc: 1 } })]), /crc or sizes differ/);
  });

  it('reads data descriptors (with and without signature) only when they agree', () => {
    expect(readZipStrict(buildZip([file('a', { descriptor: 'signed' }), file('b', { descriptor: 'unsigned' })]), limits).size).toBe(2);
    expectUnsafe(buildZip([file('a', { descriptor: 'signed', crc: 7 })]), /crc32 mismatch/);
    const bytes = buildZip([file('a', { descriptor: 'signed' })]);
    const dataEnd = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x07, 0x08]));
    bytes.writeUInt32LE(bytes.readUInt32LE(dataEnd + 12) + 1, dataEnd + 12); // the descriptor's size
    expectUnsafe(bytes, /data descriptor/);
  });

  it('refuses overlapping entries, hidden bytes and data outside the file', () => {
    expect(readZipStrict(buildZip([file('a'), file('b')]), limits).size).toBe(2);
    expectUnsafe(buildZip([file('a'), { name: 'b', data: hello, pointTo: 0 }]), /overlaps/);
    expectUnsafe(buildZip([file('a'), file('b')], { prefix: Buffer.from('MZ self-extractor') }), /unaccounted bytes before its local header/);
    expectUnsafe(buildZip([file('a'), file('b')], { beforeCentral: Buffer.from('hidden') }), /unaccounted bytes before the central directory/);
    expectUnsafe(buildZip([file('a')], { trailing: Buffer.from('trailing garbage') }), /after the end of the archive/);
    const bytes = buildZip([file('a')]);
    bytes.writeUInt32LE(bytes.readUInt32LE(bytes.length - 22 + 16) + 1, bytes.length - 22 + 16); // cd offset
    expectUnsafe(bytes, /central directory/);
    expectUnsafe(buildZip([file('a', { compressedSize: 0x7fffffff })]), /data runs past/);
    expectUnsafe(buildZip([file('a'), file('b', { compressedSize: 2 })]), /data descriptor|unaccounted|corrupt/);
  });

  it('refuses malformed and unsupported archive shapes', () => {
    expect(readZipStrict(buildZip([]), limits).size).toBe(0);
    expectUnsafe(Buffer.from('not a zip at all, just some text that is long enough'), /no end-of-central-directory/);
    expectUnsafe(Buffer.alloc(10), /too short/);
    expectUnsafe(buildZip([file('a')], { comment: Buffer.from('hi') }), /comment/);
    expectUnsafe(buildZip([file('a', { extra: Buffer.from([0x01, 0x00, 0x00, 0x00]) })]), /zip64/);
    expectUnsafe(buildZip([file('a', { extra: Buffer.from([0x55, 0x54, 0x09, 0x00, 0x01]) })]), /malformed extra field/);
    const twoDisks = buildZip([file('a')]);
    twoDisks.writeUInt16LE(1, twoDisks.length - 22 + 4);
    expectUnsafe(twoDisks, /multi-disk/);
    const count = buildZip([file('a')]);
    count.writeUInt16LE(2, count.length - 22 + 8);
    count.writeUInt16LE(2, count.length - 22 + 10);
    expectUnsafe(count, /central directory/);
  });
});
