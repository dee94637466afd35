/**
 * sha256 of a file's exact bytes, read in fixed-size chunks so a gigabyte bundle object is hashed
 * in bounded memory. Says what it found instead of throwing, so a check can decide what a missing
 * or unreadable file means.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Digest } from '@swarm/core';

export const FILE_DIGEST_CHUNK = 1024 * 1024;

export type FileDigest =
  | { status: 'hashed'; digest: Digest; size: number }
  | { status: 'missing' }
  | { status: 'not-a-file' }
  | { status: 'unreadable'; errno: string };

export function sha256OfFile(file: string, chunkSize: number = FILE_DIGEST_CHUNK): FileDigest {
  let fd: number;
  try {
    // Non-blocking, so a FIFO planted at the path cannot hang the verifier; no effect on files.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code ?? 'EIO';
    return errno === 'ENOENT' ? { status: 'missing' } : { status: 'unreadable', errno };
  }
  try {
    // fstat on the open descriptor: the file hashed is the file checked.
    if (!fs.fstatSync(fd).isFile()) return { status: 'not-a-file' };
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(chunkSize);
    let size = 0;
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, chunkSize, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
      size += n;
    }
    return { status: 'hashed', digest: `sha256:${hash.digest('hex')}`, size };
  } catch (error) {
    return { status: 'unreadable', errno: (error as NodeJS.ErrnoException).code ?? 'EIO' };
  } finally {
    fs.closeSync(fd);
  }
}
