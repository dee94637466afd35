/** The content-addressed object store `.swarm/objects/`: sealed bundles by digest. */
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDir } from '@swarm/core';
import { objectPath, type StorePaths } from './paths.js';

export class ObjectStore {
  constructor(private readonly paths: StorePaths) {}

  file(digest: string): string {
    return objectPath(this.paths, digest);
  }

  /** A temporary directory inside the store (same file system as objects, so renames are atomic). */
  tempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(this.paths.tmp, `${prefix}-${process.pid}-`));
  }

  /** Moves a finished sealed file into objects/ under its digest (idempotent). */
  adopt(file: string, digest: string): string {
    const target = this.file(digest);
    const dir = path.dirname(target);
    const created = !fs.existsSync(dir);
    fs.mkdirSync(dir, { recursive: true });
    if (created) fsyncDir(path.dirname(dir));
    if (fs.existsSync(target)) {
      fs.rmSync(file, { force: true });
    } else {
      fs.renameSync(file, target);
      // The rename must be durable before a catalog row may point at the object.
      fsyncDir(dir);
    }
    return target;
  }
}
