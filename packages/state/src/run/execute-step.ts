/**
 * Runs a step (in its sandbox, when it has one) as its own process group, streams its output
 * through the redactor into step.log (and to a live sink), and stops it on timeout or abort. It
 * returns only once no process of the step is left, so nothing can touch the workspace while it
 * is packed.
 *
 * node:child_process rather than execa here: importing execa costs about 100 ms on a small
 * machine, twice swarm's whole engine budget for a run, and a step needs only spawn + signals.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { SwarmError, createDigester, signalGroup, waitForLeader, type Digest, type SandboxControl, type SandboxedCommand } from '@swarm/core';
import '../engine-errors.js';
import { Redactor } from './redact.js';

export interface StepSpec {
  /** The command, wrapped in its sandbox (or not: `controlPipes` 0 and no `attach`). */
  command: SandboxedCommand;
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
  /** The step reads the caller's terminal (an interactive agent); by default it gets no input. */
  stdin?: 'inherit' | 'ignore';
}

/** What a sandbox prints before the step starts is its own set-up failure, kept for the error. */
const SETUP_OUTPUT_LIMIT = 8192;

export interface StepOutcome {
  /** sha256 of exactly the (redacted) bytes written to the log. */
  outputSha256: Digest;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  interrupted: boolean;
  durationMs: number;
}

export async function executeStep(spec: StepSpec): Promise<StepOutcome> {
  const started = performance.now();
  const log = fs.createWriteStream(spec.logFile, { flags: 'wx', mode: 0o600 });
  let logError: Error | undefined;
  log.on('error', (error) => {
    logError ??= error;
  });
  const digester = createDigester();
  const redactor = new Redactor(spec.secrets);
  redactor.on('data', (chunk: Buffer) => {
    digester.update(chunk);
    log.write(chunk);
    spec.onOutput?.(chunk);
  });
  const [file, ...args] = spec.command.argv;
  if (spec.command.ipcFd !== undefined && spec.command.ipcFd < 3 + spec.command.controlPipes) {
    throw new SwarmError('INTERNAL', `the sandbox's IPC descriptor ${spec.command.ipcFd} overlaps its control pipes`);
  }
  if (!file) throw new SwarmError('STEP_MISSING', 'the step command is empty');
  if (spec.signal?.aborted) {
    throw new SwarmError('STEP_INTERRUPTED', 'the run was interrupted before the step started; nothing ran');
  }
  const child = spawn(file, args, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true, // its own process group, so a timeout kills everything it started
    stdio: [
      spec.stdin ?? 'ignore',
      'pipe',
      'pipe',
      ...Array<'pipe'>(spec.command.controlPipes).fill('pipe'),
      // Published connections: a Node IPC channel at the descriptor the sandbox reads them on.
      ...(spec.command.ipcFd !== undefined ? [...Array<'pipe'>(spec.command.ipcFd - 3 - spec.command.controlPipes).fill('pipe'), 'ipc' as const] : []),
    ],
  });
  if (spec.command.ipcFd !== undefined) spec.command.onSpawn?.(child);
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    if (head.length < SETUP_OUTPUT_LIMIT) head = Buffer.concat([head, chunk.subarray(0, SETUP_OUTPUT_LIMIT - head.length)]);
    redactor.write(chunk);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const control: SandboxControl | undefined =
    child.pid && spec.command.attach ? spec.command.attach(child.stdio.slice(3, 3 + spec.command.controlPipes) as NodeJS.ReadableStream[], child.pid) : undefined;
  // Lets gc stop a step group orphaned by a crash of this process.
  if (child.pid && spec.pidFile) fs.writeFileSync(spec.pidFile, String(child.pid));
  // If swarm itself exits (uncaught error), do not leave the step group running.
  const onExit = () => {
    control?.kill();
    signalGroup(child.pid, 'SIGKILL');
  };
  process.once('exit', onExit);

  let timedOut = false;
  let interrupted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGroup = (why: 'timeout' | 'abort') => {
    if (why === 'timeout') timedOut = true;
    else interrupted = true;
    // A sandbox gets SIGTERM through its first process (killing bwrap would end it at once).
    if (control) control.signal('SIGTERM');
    else signalGroup(child.pid, 'SIGTERM');
    // `swarm run kill --seal` aborts with reason 'kill': no grace for the step.
    const grace = why === 'abort' && spec.signal?.reason === 'kill' ? 0 : (spec.killGraceMs ?? 2000);
    killTimer ??= setTimeout(() => {
      if (!control) return signalGroup(child.pid, 'SIGKILL');
      // Killing the first process ends the PID namespace; bwrap then exits by itself.
      control.kill();
      killTimer = setTimeout(() => signalGroup(child.pid, 'SIGKILL'), grace);
    }, grace);
  };
  const timer = spec.timeoutMs ? setTimeout(() => stopGroup('timeout'), spec.timeoutMs) : undefined;
  const onAbort = () => stopGroup('abort');
  if (spec.signal?.aborted) onAbort();
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  // The leader gone, the rest of its group is killed; its last output is awaited briefly.
  const result = await waitForLeader(child);
  if (timer) clearTimeout(timer);
  spec.signal?.removeEventListener('abort', onAbort);
  process.off('exit', onExit);
  // The leader is gone; make sure nothing it spawned outlives the run.
  signalGroup(child.pid, 'SIGKILL');
  if (killTimer) clearTimeout(killTimer);
  const stepStarted = control ? await control.started : true;
  const ended = control ? await control.ended(result.exitCode) : null;
  if (control) await control.gone();
  if (spec.pidFile) fs.rmSync(spec.pidFile, { force: true });

  // 'end' on the readable side: every redacted byte, including what the flush held back, has been logged.
  redactor.end();
  await once(redactor, 'end');
  await new Promise<void>((resolve) => log.end(() => resolve()));
  if (logError) throw new SwarmError('IO_WRITE_FAILED', `cannot write the step log: ${logError.message}`, { cause: logError });
  const fd = fs.openSync(spec.logFile, 'r');
  fs.fsyncSync(fd);
  fs.closeSync(fd);

  if (result.spawnError) {
    throw new SwarmError('STEP_START_FAILED', `the step could not be started: ${result.spawnError.message}`, {
      details: { argv0: file },
    });
  }
  if (control && !stepStarted) throw control.setupError(head.toString('utf8'));
  return {
    outputSha256: digester.digest(),
    // The sandbox's first process saw how the step itself ended (bwrap reports only a number).
    exitCode: ended ? ended.exitCode : result.exitCode,
    signal: ended ? ended.signal : result.signal,
    timedOut,
    interrupted,
    durationMs: Math.round(performance.now() - started),
  };
}

