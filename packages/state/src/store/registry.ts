/**
 * The project stores this operator has run steps from, listed in `$SWARM_HOME/stores` (one
 * absolute path per line), so that a step's sandbox can cover every one of them: a step in one
 * repository must not read another repository's live run either.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isMissingFileError, readBoundedFile, writeFileAtomic } from '@swarm/core';

export const STORE_REGISTRY_FILE = 'stores';
const MAX_REGISTRY_BYTES = 1024 * 1024;
const MAX_DEAD_ENTRIES = 200;

/** Records `storeRoot` (a `.swarm` directory) once and returns every known store that still exists. */
export function registerStore(home: string, storeRoot: string): string[] {
  const file = path.join(home, STORE_REGISTRY_FILE);
  let known: string[] = [];
  try {
    known = readBoundedFile(file, { what: 'store registry', maxBytes: MAX_REGISTRY_BYTES })
      .toString('utf8')
      .split('\n')
      .filter((line) => path.isAbsolute(line) && path.normalize(line) === line);
  } catch (error) {
    if (!isMissingFileError(error)) throw error;
  }
  const live = [...new Set(known)].filter((dir) => fs.existsSync(dir));
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  if (!live.includes(storeRoot)) {
    // One short O_APPEND write: concurrent runs of new stores never lose each other's line.
    fs.appendFileSync(file, `${storeRoot}\n`, { mode: 0o600 });
    live.push(storeRoot);
  }
  if (known.length - live.length > MAX_DEAD_ENTRIES) {
    // Rarely, drop stores that are gone (temporary ones pile up); a line another process appends
    // meanwhile may be lost, and comes back with that store's next run.
    writeFileAtomic(file, live.map((dir) => `${dir}\n`).join(''), { mode: 0o600 });
  }
  return live;
}
