import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { writeFileAtomic } from './atomic-file.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

describe('writeFileAtomic', () => {
  it('writes the bytes, creating missing directories', () => {
    const file = path.join(tmp.dir, 'a', 'b', 'c.json');
    writeFileAtomic(file, Buffer.from([0, 1, 2, 255]));
    expect(fs.readFileSync(file)).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('replaces an existing file by rename, never by rewriting it in place', () => {
    const file = path.join(tmp.dir, 'config.json');
    fs.writeFileSync(file, 'old');
    const before = fs.statSync(file).ino;
    // A reader holding the old file keeps seeing the old bytes: the new content is a new inode.
    const fd = fs.openSync(file, 'r');
    writeFileAtomic(file, 'new content');
    expect(fs.readFileSync(file, 'utf8')).toBe('new content');
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(fs.readFileSync(fd, 'utf8')).toBe('old');
    fs.closeSync(fd);
  });

  it('applies the requested mode', () => {
    const file = path.join(tmp.dir, 'secret');
    writeFileAtomic(file, 'x', { mode: 0o600 });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.chmodSync(file, 0o644);
    writeFileAtomic(file, 'y', { mode: 0o600 });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('leaves no temporary files behind, after success or failure', () => {
    writeFileAtomic(path.join(tmp.dir, 'one'), '1');
    writeFileAtomic(path.join(tmp.dir, 'one'), '2');
    const target = path.join(tmp.dir, 'is-a-dir');
    fs.mkdirSync(path.join(target, 'child'), { recursive: true });
    expect(codeOf(() => writeFileAtomic(target, 'x'))).toBe('IO_WRITE_FAILED');
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(['is-a-dir', 'one']);
    expect(fs.readdirSync(target)).toEqual(['child']);
  });

  it('fails with a coded error when the directory cannot be created', () => {
    const blocker = path.join(tmp.dir, 'file');
    fs.writeFileSync(blocker, '');
    expect(codeOf(() => writeFileAtomic(path.join(blocker, 'x.json'), '{}'))).toBe('IO_WRITE_FAILED');
  });
});
