/**
 * Runs a step as its own process group, streams its output through the redactor into step.log
 * (and to a live sink), and stops the whole group on timeout or abort.
 */
import fs from 'node:fs';
import { execa } from 'execa';
import { SwarmError } from '@swarm/core';
import '../engine-errors.js';
import { Redactor } from './redact.js';

export interface StepSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  secrets: string[];
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Receives redacted output as it arrives (the terminal). */
  onOutput?: (chunk: Buffer) => void;
  /** Where to record the step's process group id while it runs. */
  pidFile?: string;
  /** Grace period between SIGTERM and SIGKILL. */
  killGraceMs?: number;
}

export interface StepOutcome {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  interrupted: boolean;
  durationMs: number;
}

export async function executeStep(spec: StepSpec): Promise<StepOutcome> {
  const started = performance.now();
  const log = fs.createWriteStream(spec.logFile, { flags: 'w', mode: 0o600 });
  const redactor = new Redactor(spec.secrets);
  redactor.on('data', (chunk: Buffer) => {
    log.write(chunk);
    spec.onOutput?.(chunk);
  });
  const [file, ...args] = spec.argv;
  if (!file) throw new SwarmError('STEP_MISSING', 'the step command is empty');
  const child = execa(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: false,
    detached: true, // its own process group, so a timeout kills everything it started
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    cleanup: true,
  });
  child.all?.on('data', (chunk: Buffer) => redactor.write(chunk));
  // Lets gc stop a step group orphaned by a crash of this process.
  if (child.pid && spec.pidFile) fs.writeFileSync(spec.pidFile, String(child.pid));

  let timedOut = false;
  let interrupted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGroup = (why: 'timeout' | 'abort') => {
    if (why === 'timeout') timedOut = true;
    else interrupted = true;
    signalGroup(child.pid, 'SIGTERM');
    killTimer ??= setTimeout(() => signalGroup(child.pid, 'SIGKILL'), spec.killGraceMs ?? 2000);
  };
  const timer = spec.timeoutMs ? setTimeout(() => stopGroup('timeout'), spec.timeoutMs) : undefined;
  const onAbort = () => stopGroup('abort');
  if (spec.signal?.aborted) onAbort();
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  const result = await child;
  if (timer) clearTimeout(timer);
  spec.signal?.removeEventListener('abort', onAbort);
  // The leader is gone; make sure nothing it spawned outlives the run.
  signalGroup(child.pid, 'SIGKILL');
  if (killTimer) clearTimeout(killTimer);
  if (spec.pidFile) fs.rmSync(spec.pidFile, { force: true });

  await new Promise<void>((resolve) => redactor.end(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve, reject) => {
    log.end((error?: Error | null) => (error ? reject(error) : resolve()));
  });
  const fd = fs.openSync(spec.logFile, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);

  const failedToStart = result.failed && result.exitCode === undefined && !result.signal && !timedOut && !interrupted;
  if (failedToStart) {
    throw new SwarmError('STEP_START_FAILED', `the step could not be started: ${result.shortMessage ?? result.message}`, {
      details: { argv0: file },
    });
  }
  return {
    exitCode: result.exitCode ?? null,
    signal: result.signal ?? null,
    timedOut,
    interrupted,
    durationMs: Math.round(performance.now() - started),
  };
}

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
