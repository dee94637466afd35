/**
 * Opening and reading files named by a user (flags, config, key and ticket files, objects) so that
 * a device, a FIFO or a huge file can never hang or exhaust swarm: the open never blocks
 * (O_NONBLOCK), what was opened must be a regular file (checked on the descriptor, not the name),
 * and reads stop at a byte cap even if the file grows meanwhile.
 */
import fs from 'node:fs';
import { SwarmError, registerErrorCodes } from './errors.js';

registerErrorCodes('core', {
  FILE_NOT_REGULAR: { category: 'input', description: 'An input file is a directory, device, FIFO, socket or (where links are refused) a symlink.' },
  FILE_TOO_LARGE: { category: 'input', description: 'An input file is larger than swarm accepts for its kind; it is refused unread.' },
});

export interface BoundedFileOptions {
  /** What the file is, for messages ("config file", "policy file"). */
  what: string;
  /** Largest size accepted, in bytes. */
  maxBytes: number;
  /** Refuse a symlink as the last component instead of following it (for files swarm itself wrote). */
  noFollow?: boolean;
}

export interface OpenedBoundedFile {
  fd: number;
  stat: fs.Stats;
}

/**
 * Opens `file` for reading: FILE_NOT_FOUND when it cannot be opened (details.errno says why),
 * FILE_NOT_REGULAR when it is not a regular file, FILE_TOO_LARGE over `maxBytes`. The caller
 * closes the descriptor.
 */
export function openBoundedFile(file: string, options: BoundedFileOptions): OpenedBoundedFile {
  const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NONBLOCK | (options.noFollow ? O_NOFOLLOW : 0));
  } catch (cause) {
    const errno = (cause as NodeJS.ErrnoException).code ?? null;
    if (errno === 'ELOOP' && options.noFollow) {
      throw new SwarmError('FILE_NOT_REGULAR', `${options.what} ${file} is a symlink`, { details: { path: file, errno }, cause });
    }
    throw new SwarmError('FILE_NOT_FOUND', `cannot open ${options.what} ${file}${errno ? ` (${errno})` : ''}`, {
      details: { path: file, errno },
      cause,
    });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) {
      throw new SwarmError('FILE_NOT_REGULAR', `${options.what} ${file} is not a regular file`, { details: { path: file } });
    }
    if (stat.size > options.maxBytes) throw tooLarge(file, options, stat.size);
    return { fd, stat };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/** Reads a whole file through `openBoundedFile`; `inspect` may refuse it on its stat (e.g. its mode). */
export function readBoundedFile(file: string, options: BoundedFileOptions & { inspect?: (stat: fs.Stats) => void }): Buffer {
  const { fd, stat } = openBoundedFile(file, options);
  try {
    options.inspect?.(stat);
    // Read up to one byte past the cap: a file that grew since fstat is caught, not read forever.
    let buffer = Buffer.allocUnsafe(Math.min(options.maxBytes, Math.max(stat.size, 64 * 1024)) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(options.maxBytes + 1, buffer.length * 2));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      let read: number;
      try {
        read = fs.readSync(fd, buffer, length, buffer.length - length, null);
      } catch (cause) {
        const errno = (cause as NodeJS.ErrnoException).code ?? null;
        throw new SwarmError('FILE_NOT_FOUND', `cannot read ${options.what} ${file}${errno ? ` (${errno})` : ''}`, {
          details: { path: file, errno },
          cause,
        });
      }
      if (read === 0) break;
      length += read;
      if (length > options.maxBytes) throw tooLarge(file, options, length);
    }
    return buffer.subarray(0, length);
  } finally {
    fs.closeSync(fd);
  }
}

function tooLarge(file: string, options: BoundedFileOptions, size: number): SwarmError {
  return new SwarmError('FILE_TOO_LARGE', `${options.what} ${file} is larger than ${options.maxBytes} bytes`, {
    details: { path: file, size, limit: options.maxBytes },
  });
}

/** True for the error `openBoundedFile` throws when the file does not exist (callers that treat a missing file as empty). */
export function isMissingFileError(error: unknown): boolean {
  return error instanceof SwarmError && error.code === 'FILE_NOT_FOUND' && (error.details as { errno?: unknown } | null)?.errno === 'ENOENT';
}
