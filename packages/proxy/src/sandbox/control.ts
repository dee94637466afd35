/**
 * Watching and stopping a step inside its bubblewrap sandbox. bwrap writes the host pid of the
 * sandbox's first process (swarm-init) on its --info-fd; swarm-init writes "ready" and then how
 * the step ended on its --report-fd. Signals go to swarm-init, which passes them to the step;
 * killing swarm-init ends the PID namespace, so the kernel kills everything else in it.
 */
import fs from 'node:fs';
import os from 'node:os';
import { SwarmError, type SandboxControl } from '@swarm/core';
import { explainSandboxFailure } from './probe.js';

const GONE_POLL_MS = 5;
const GONE_LIMIT_MS = 5_000;

/** bwrap's info and swarm-init's report are a few lines; anything more is not theirs. */
const MAX_REPORT_CHARS = 4096;

export function attachBwrapControl(pipes: NodeJS.ReadableStream[]): SandboxControl {
  const [infoPipe, reportPipe] = pipes;
  if (!infoPipe || !reportPipe) throw new SwarmError('INTERNAL', 'the sandbox control pipes are missing');
  // The init's pid and its start time: a pid is only ever signalled while it is still that process.
  let init: { pid: number; start: string } | null = null;
  let info = '';
  infoPipe.setEncoding('utf8');
  infoPipe.on('data', (chunk: string) => {
    if (init !== null || info.length > MAX_REPORT_CHARS) return;
    info += chunk;
    const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
    if (match) {
      const pid = Number(match[1]);
      const start = startTime(pid);
      if (start !== null) init = { pid, start };
    }
  });
  infoPipe.on('error', () => {});

  let report = '';
  let resolveStarted!: (started: boolean) => void;
  const started = new Promise<boolean>((resolve) => (resolveStarted = resolve));
  const reported = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null } | null>((resolve) => {
    reportPipe.setEncoding('utf8');
    reportPipe.on('data', (chunk: string) => {
      if (report.length <= MAX_REPORT_CHARS) report += chunk;
      if (/^ready$/m.test(report)) resolveStarted(true);
    });
    reportPipe.on('error', () => {});
    reportPipe.on('close', () => {
      resolveStarted(false);
      // The last word counts; the engine still checks it against bwrap's own exit status.
      const last = report.trim().split('\n').pop() ?? '';
      const exit = /^exit (\d+)$/.exec(last);
      const signal = /^signal (\d+)$/.exec(last);
      if (exit) resolve({ exitCode: Number(exit[1]), signal: null });
      else if (signal) resolve({ exitCode: null, signal: signalName(Number(signal[1])) });
      else resolve(null);
    });
  });

  let finished = false;
  void reported.then(() => (finished = true));
  const send = (sig: NodeJS.Signals): void => {
    if (init === null || finished || startTime(init.pid) !== init.start) return;
    try {
      process.kill(init.pid, sig);
    } catch {
      // already gone
    }
  };
  return {
    started,
    // A step can write to the report pipe only if it got hold of it; bwrap's status it cannot touch.
    ended: async (wrapperExitCode) => reconcileEnd(await reported, wrapperExitCode),
    signal: send,
    kill: () => send('SIGKILL'),
    async gone(): Promise<void> {
      // bwrap reaps swarm-init only after the kernel has reaped every process of its namespace;
      // when bwrap itself was killed, wait for that to happen.
      if (init === null) return;
      const deadline = Date.now() + GONE_LIMIT_MS;
      while (alive(init.pid, init.start)) {
        if (Date.now() > deadline) {
          throw new SwarmError('SANDBOX_TEARDOWN_FAILED', `the step's sandbox (pid ${init.pid}) is still running after it should have ended`);
        }
        await new Promise((resolve) => setTimeout(resolve, GONE_POLL_MS));
      }
    },
    setupError: (output: string) => explainSandboxFailure(output),
  };
}

/** How a step ended, from swarm-init's report, only where it agrees with bwrap's exit status. */
function reconcileEnd(
  reported: { exitCode: number | null; signal: NodeJS.Signals | null } | null,
  bwrapExit: number | null,
): { exitCode: number | null; signal: NodeJS.Signals | null } | null {
  if (reported === null || bwrapExit === null) return null;
  if (reported.signal !== null) return bwrapExit === 128 + (os.constants.signals[reported.signal] ?? -1000) ? reported : null;
  return reported.exitCode === bwrapExit ? reported : null;
}

function startTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** A zombie counts as gone: the kernel tears a PID namespace down before its init turns zombie. */
function alive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const after = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
    // Another process now, or a zombie: either way the sandbox's init is gone.
    return after[19] === start && after[0] !== 'Z';
  } catch {
    return false;
  }
}

function signalName(n: number): NodeJS.Signals {
  const entry = Object.entries(os.constants.signals).find(([, value]) => value === n);
  return (entry?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}
