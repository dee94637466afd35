/**
 * Supervised runs: restart policies, and detaching a run from the terminal.
 *
 * A restart is a new run from the same parent node, with an id of its own (`<first>-r<n>`) linked
 * to the first in the catalog; a half-written node is never reused. The process that runs the
 * attempts is their supervisor: it owns each attempt's run directory, marks itself live under
 * `.swarm/supervisor/<first>` for `run stop` to find between attempts, and waits 1 s, 2 s, 4 s …
 * (at most 30 s) before each restart. A stop (SIGTERM, Ctrl-C) ends the chain: nothing is restarted
 * after an interrupted attempt.
 *
 * `--detach` starts that same command line again as a process of its own session, its output in
 * `.swarm/supervisor/<first>/supervisor.log`, and returns once the run is in the catalog. A crash of
 * the supervisor leaves its run abandoned, as for any run whose process is gone.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, isSwarmError } from '@swarm/core';

export interface RestartPolicy {
  mode: 'no' | 'on-failure' | 'always';
  /** Restarts allowed (null: no limit). */
  max: number | null;
  text: string;
}

const MAX_RESTARTS = 1000;

export function parseRestartPolicy(text: string | undefined): RestartPolicy {
  const value = (text ?? 'no').trim();
  const match = /^(no|on-failure|always)(?::(\d+))?$/.exec(value);
  if (!match || (match[1] === 'no' && match[2] !== undefined)) {
    throw new SwarmError('INVALID_ARGUMENT', `--restart must be no, on-failure[:N] or always[:N], not ${JSON.stringify(value)}`);
  }
  const max = match[2] === undefined ? null : Number(match[2]);
  if (max !== null && (max < 1 || max > MAX_RESTARTS)) throw new SwarmError('INVALID_ARGUMENT', `--restart allows 1 to ${MAX_RESTARTS} restarts, not ${max}`);
  return { mode: match[1] as RestartPolicy['mode'], max, text: value };
}

/** The id of attempt `n` of a chain (attempt 0 is the first run). */
export function attemptRunId(first: string, attempt: number): string {
  return attempt === 0 ? first : `${first}-r${attempt}`;
}

/** Before restart `n` (1-based): 1 s, 2 s, 4 s … at most 30 s. */
export function backoffMs(restart: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, restart - 1));
}

/** Whether an attempt that ended this way is restarted (the caller checks the count). */
export function restartsAfter(policy: RestartPolicy, outcome: 'succeeded' | 'failed' | 'interrupted' | 'error'): boolean {
  if (policy.mode === 'no' || outcome === 'interrupted' || outcome === 'error') return false;
  return policy.mode === 'always' || outcome === 'failed';
}

/** How an attempt's error reads to the policy: a failed step is a failure; an interruption or any other error ends the chain. */
export function outcomeOf(error: unknown): 'failed' | 'interrupted' | 'error' {
  if (isSwarmError(error) && (error.code === 'STEP_FAILED' || error.code === 'STEP_TIMEOUT')) return 'failed';
  if (isSwarmError(error) && error.code === 'STEP_INTERRUPTED') return 'interrupted';
  return 'error';
}

/**
 * Waits `ms`, or until SIGTERM, SIGINT, SIGHUP or SIGUSR2 arrives (then returns true: stop the chain).
 */
export function backoff(ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    // SIGUSR2 is `run kill --seal`: with no step to kill, it stops the chain too.
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2'];
    const done = (stopped: boolean) => {
      clearTimeout(timer);
      for (const s of signals) process.off(s, onSignal);
      resolve(stopped);
    };
    const onSignal = () => done(true);
    const timer = setTimeout(() => done(false), ms);
    for (const s of signals) process.on(s, onSignal);
  });
}

export interface DetachInput {
  /** The command line to run again, without --detach. */
  argv: string[];
  runId: string;
  /** The store's directory (`.swarm`). */
  storeRoot: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Whether the run is in the catalog (or its directory is live) yet. */
  started: () => Promise<boolean>;
  timeoutMs?: number;
}

/**
 * Starts the command line as a supervisor of its own (new session, no terminal) and returns once
 * its run is under way. A supervisor that ends before that is an error carrying its log's tail.
 */
export async function detach(input: DetachInput): Promise<{ run_id: string; pid: number; log: string }> {
  const bin = process.argv[1];
  if (!bin || !fs.existsSync(bin)) throw new SwarmError('INTERNAL', 'cannot find the swarm executable to detach a run');
  const dir = path.join(input.storeRoot, 'supervisor', input.runId);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const log = path.join(dir, 'supervisor.log');
  const fd = fs.openSync(log, 'a', 0o600);
  let exited: number | null | undefined;
  let child;
  try {
    child = spawn(process.execPath, [...process.execArgv, bin, ...input.argv], {
      cwd: input.cwd,
      env: { ...input.env, NO_COLOR: '1' },
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    fs.closeSync(fd);
  }
  child.on('exit', (code) => (exited = code));
  child.on('error', () => (exited = -1));
  const deadline = Date.now() + (input.timeoutMs ?? 30_000);
  for (;;) {
    if (await input.started()) break;
    if (exited !== undefined || Date.now() > deadline) {
      const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-12).join('\n').trim();
      if (exited === undefined) child.kill('SIGTERM');
      // Not waited for: this process reports and exits whatever the child still does.
      child.unref();
      throw new SwarmError('RUN_DETACH_FAILED', `the detached run ${input.runId} did not start${exited !== undefined ? ` (its supervisor exited with ${exited})` : ''}`, {
        details: { run_id: input.runId, log, tail },
        hint: 'run the same command without --detach to see why',
      });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.unref();
  return { run_id: input.runId, pid: child.pid ?? 0, log };
}

/**
 * The command line a detached supervisor runs: this one without its `--detach`, with the run id
 * it was given (inserted before a `--`, so an agent's own arguments are left as they are).
 */
export function detachedArgv(argv: readonly string[], runId: string | undefined): string[] {
  const end = argv.indexOf('--');
  const head = (end < 0 ? argv : argv.slice(0, end)).filter((a) => a !== '--detach');
  const tail = end < 0 ? [] : argv.slice(end);
  return [...head, ...(runId === undefined ? [] : ['--run-id', runId]), ...tail];
}
