import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { isMissingFileError, openBoundedFile, readBoundedFile } from './bounded-file.js';
import { SwarmError } from './errors.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

const opts = { what: 'test file', maxBytes: 1024 };

describe('readBoundedFile', () => {
  it('reads a regular file, and through a symlink unless noFollow', () => {
    const file = path.join(tmp.dir, 'a.json');
    fs.writeFileSync(file, '{"a":1}');
    fs.symlinkSync(file, path.join(tmp.dir, 'link'));
    expect(readBoundedFile(file, opts).toString()).toBe('{"a":1}');
    expect(readBoundedFile(path.join(tmp.dir, 'link'), opts).toString()).toBe('{"a":1}');
    expect(codeOf(() => readBoundedFile(path.join(tmp.dir, 'link'), { ...opts, noFollow: true }))).toBe('FILE_NOT_REGULAR');
  });

  it('a missing file is FILE_NOT_FOUND that isMissingFileError recognises', () => {
    let error: unknown;
    try {
      readBoundedFile(path.join(tmp.dir, 'nope'), opts);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SwarmError);
    expect((error as SwarmError).code).toBe('FILE_NOT_FOUND');
    expect(isMissingFileError(error)).toBe(true);
    expect(isMissingFileError(new SwarmError('FILE_NOT_FOUND', 'x', { details: { errno: 'EACCES' } }))).toBe(false);
  });

  it('a FIFO is refused without blocking on open', () => {
    const fifo = path.join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // If the open blocked, this test would time out instead of returning a code.
    expect(codeOf(() => readBoundedFile(fifo, opts))).toBe('FILE_NOT_REGULAR');
  });

  it('devices and directories are refused, also behind a symlink', () => {
    fs.symlinkSync('/dev/zero', path.join(tmp.dir, 'zero'));
    expect(codeOf(() => readBoundedFile('/dev/zero', opts))).toBe('FILE_NOT_REGULAR');
    expect(codeOf(() => readBoundedFile(path.join(tmp.dir, 'zero'), opts))).toBe('FILE_NOT_REGULAR');
    expect(codeOf(() => readBoundedFile(tmp.dir, opts))).toBe('FILE_NOT_REGULAR');
  });

  it('refuses a file over the cap; exactly the cap is fine', () => {
    const file = path.join(tmp.dir, 'big');
    fs.writeFileSync(file, Buffer.alloc(1025, 0x61));
    expect(codeOf(() => readBoundedFile(file, opts))).toBe('FILE_TOO_LARGE');
    expect(codeOf(() => openBoundedFile(file, opts))).toBe('FILE_TOO_LARGE');
    fs.writeFileSync(file, Buffer.alloc(1024, 0x61));
    expect(readBoundedFile(file, opts).length).toBe(1024);
  });

  it('caps what it reads even when fstat reports a size of 0 (content past the stat size)', () => {
    // /proc files are regular files whose stat size is 0 while they hold bytes.
    const proc = '/proc/self/maps';
    expect(fs.statSync(proc).size).toBe(0);
    expect(codeOf(() => readBoundedFile(proc, { what: 'proc file', maxBytes: 16 }))).toBe('FILE_TOO_LARGE');
    expect(readBoundedFile(proc, { what: 'proc file', maxBytes: 16 * 1024 * 1024 }).length).toBeGreaterThan(16);
  });

  it('grows its buffer for a file larger than its first guess', () => {
    const file = path.join(tmp.dir, 'mid');
    const data = Buffer.alloc(300 * 1024, 0x62);
    fs.writeFileSync(file, data);
    expect(readBoundedFile(file, { what: 'x', maxBytes: 1024 * 1024 }).equals(data)).toBe(true);
  });

  it('openBoundedFile hands back an open descriptor of a regular file', () => {
    const file = path.join(tmp.dir, 'a');
    fs.writeFileSync(file, 'abc');
    const { fd, stat } = openBoundedFile(file, opts);
    try {
      expect(stat.isFile()).toBe(true);
      expect(stat.size).toBe(3);
    } finally {
      fs.closeSync(fd);
    }
  });
});
