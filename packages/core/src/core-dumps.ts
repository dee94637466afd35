/**
 * A process that holds the operator's keys must not leave them in a core file. Node has no
 * setrlimit, so util-linux `prlimit` sets this process's RLIMIT_CORE to 0 (soft and hard: a
 * process can lower its own hard limit but not raise it back). Steps started afterwards inherit
 * the limit, which is fine: their memory holds the run's ticket.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

let done: boolean | undefined;

/** Sets this process's core-size limit to 0 once; returns whether the limit is now 0. */
export function disableCoreDumps(): boolean {
  if (done !== undefined) return done;
  if (coreLimitIsZero()) return (done = true);
  spawnSync('prlimit', ['--pid', String(process.pid), '--core=0:0'], { stdio: 'ignore', timeout: 5000 });
  return (done = coreLimitIsZero());
}

/** Reads this process's own RLIMIT_CORE from /proc (Linux); false when it cannot be read. */
function coreLimitIsZero(): boolean {
  try {
    const line = fs.readFileSync(`/proc/self/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max core file size'));
    const fields = line?.trim().split(/\s{2,}/) ?? [];
    return fields[1] === '0' && fields[2] === '0';
  } catch {
    return false;
  }
}
