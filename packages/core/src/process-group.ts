/**
 * A child that leads its own process group (spawned `detached`): signalling the whole group, and
 * waiting for the leader's end. When the leader exits, the rest of its group is killed (which
 * also closes the pipes they hold); its output is awaited briefly, then stragglers that escaped
 * the group are given up on, so a caller never hangs on a pipe someone else keeps open.
 */
import type { ChildProcess } from 'node:child_process';

export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

export interface LeaderEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  spawnError?: NodeJS.ErrnoException;
}

export function waitForLeader(child: ChildProcess, drainMs = 2000): Promise<LeaderEnd> {
  return new Promise((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Spawn failures come with no 'exit'; a later error (a kill that failed) changes nothing.
      if (!child.pid) resolve({ exitCode: null, signal: null, spawnError: error });
    });
    child.once('exit', (exitCode, signal) => {
      signalGroup(child.pid, 'SIGKILL');
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        resolve({ exitCode, signal });
      };
      child.once('close', done);
      setTimeout(() => {
        for (const stream of child.stdio) stream?.destroy();
        done();
      }, drainMs).unref();
    });
  });
}
