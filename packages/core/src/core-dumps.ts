/**
 * A process that holds the operator's keys must not leave them in a core file. Node has no
 * setrlimit, so util-linux `prlimit` sets this process's RLIMIT_CORE to 0 (soft and hard: a
 * process can lower its own hard limit but not raise it back). Steps started afterwards inherit
 * the limit, which is fine: their memory holds the run's ticket.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';

let done: boolean | undefined;
let started = false;

/**
 * Starts prlimit without waiting for it, so a process that will hold keys finds the limit already
 * 0 when it gets there (disableCoreDumps then reads it and spawns nothing). The wait is 4–5 ms of
 * process start-up a command otherwise spends blocked.
 */
export function disableCoreDumpsSoon(): void {
  if (done !== undefined || started) return;
  started = true;
  try {
    const child = spawn('prlimit', ['--pid', String(process.pid), '--core=0:0'], { stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // disableCoreDumps tries again, and reports
  }
}

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
