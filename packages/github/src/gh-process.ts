/**
 * Runs one `gh` process in its own process group with a deadline: stdin written once, stdout
 * handed to the caller chunk by chunk, stderr kept (its tail only). On the deadline the whole
 * group gets SIGTERM, then SIGKILL; the promise settles only after the process is gone.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { signalGroup, waitForLeader } from '@swarm/core';

export interface GhProcessSpec {
  bin: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed; without it stdin is /dev/null. */
  stdin?: Buffer;
  timeoutMs: number;
  /** Time between SIGTERM and SIGKILL on a timeout. */
  killGraceMs: number;
  /** Receives stdout as it arrives; throwing stops the process and rejects with that error. */
  onStdout: (chunk: Buffer) => void;
  onSpawn?: (pid: number, args: readonly string[]) => void;
}

export interface GhProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last STDERR_TAIL bytes of stderr, as text. */
  stderr: string;
  timedOut: boolean;
  /** Set when the binary could not be started (ENOENT, EACCES, …). */
  spawnError?: NodeJS.ErrnoException;
}

const STDERR_TAIL = 64 * 1024;

// Groups still running, killed if swarm exits first (an uncaught error must not leave gh behind).
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Whether a member of the group still runs; zombies (killed, waiting for init to reap them) do not count. */
function groupRunning(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // "pid (comm) state ppid pgrp …"; comm may hold spaces and parentheses.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pid && state !== 'Z' && state !== 'X') return true;
    }
    return false;
  } catch {
    return true;
  }
}

/**
 * Kills what is left of the group and waits (briefly) until none of it runs, so that when a call
 * returns, nothing it started is still running.
 */
async function endGroup(pid: number): Promise<void> {
  const deadline = Date.now() + 1000;
  while (groupRunning(pid) && Date.now() < deadline) {
    signalGroup(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function trackGroup(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const group of liveGroups) signalGroup(group, 'SIGKILL');
    });
  }
  liveGroups.add(pid);
}

export async function runGhProcess(spec: GhProcessSpec): Promise<GhProcessResult> {
  const child = spawn(spec.bin, [...spec.args], {
    env: spec.env,
    detached: true, // its own process group, so a timeout kills everything it started
    stdio: [spec.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid) {
    trackGroup(pid);
    spec.onSpawn?.(pid, spec.args);
  }

  let stderrTail = Buffer.alloc(0);
  let stopError: unknown;
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;

  child.stdout!.on('data', (chunk: Buffer) => {
    if (stopError !== undefined) return;
    try {
      spec.onStdout(chunk);
    } catch (error) {
      stopError = error;
      signalGroup(pid, 'SIGKILL');
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrTail = Buffer.concat([stderrTail, chunk]);
    if (stderrTail.length > STDERR_TAIL) stderrTail = stderrTail.subarray(stderrTail.length - STDERR_TAIL);
  });
  if (child.stdin) {
    // gh may exit before reading its input (an early error): EPIPE is not our failure.
    child.stdin.on('error', () => {});
    child.stdin.end(spec.stdin);
  }

  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), spec.killGraceMs);
  }, spec.timeoutMs);

  const ended = await waitForLeader(child);
  clearTimeout(timer);
  if (killTimer) clearTimeout(killTimer);
  if (pid) {
    await endGroup(pid);
    liveGroups.delete(pid);
  }
  if (stopError !== undefined) throw stopError;
  return { ...ended, stderr: stderrTail.toString('utf8'), timedOut };
}
