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

export function attachBwrapControl(pipes: NodeJS.ReadableStream[]): SandboxControl {
  const [infoPipe, reportPipe] = pipes;
  if (!infoPipe || !reportPipe) throw new SwarmError('INTERNAL', 'the sandbox control pipes are missing');
  let initPid: number | null = null;
  let info = '';
  infoPipe.setEncoding('utf8');
  infoPipe.on('data', (chunk: string) => {
    info += chunk;
    const match = /"child-pid"\s*:\s*(\d+)/.exec(info);
    if (match && initPid === null) initPid = Number(match[1]);
  });
  infoPipe.on('error', () => {});

  let report = '';
  let resolveStarted!: (started: boolean) => void;
  const started = new Promise<boolean>((resolve) => (resolveStarted = resolve));
  const ended = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null } | null>((resolve) => {
    reportPipe.setEncoding('utf8');
    reportPipe.on('data', (chunk: string) => {
      report += chunk;
      if (/^ready$/m.test(report)) resolveStarted(true);
    });
    reportPipe.on('error', () => {});
    reportPipe.on('close', () => {
      resolveStarted(false);
      const exit = /^exit (\d+)$/m.exec(report);
      const signal = /^signal (\d+)$/m.exec(report);
      if (exit) resolve({ exitCode: Number(exit[1]), signal: null });
      else if (signal) resolve({ exitCode: null, signal: signalName(Number(signal[1])) });
      else resolve(null);
    });
  });

  let finished = false;
  void ended.then(() => (finished = true));
  const send = (signal: NodeJS.Signals): void => {
    if (initPid === null || finished) return;
    try {
      process.kill(initPid, signal);
    } catch {
      // already gone
    }
  };
  return {
    started,
    ended,
    signal: send,
    kill: () => send('SIGKILL'),
    async gone(): Promise<void> {
      // bwrap reaps swarm-init only after the kernel has reaped every process of its namespace;
      // when bwrap itself was killed, wait for that to happen.
      if (initPid === null) return;
      const deadline = Date.now() + GONE_LIMIT_MS;
      while (alive(initPid)) {
        if (Date.now() > deadline) {
          throw new SwarmError('SANDBOX_TEARDOWN_FAILED', `the step's sandbox (pid ${initPid}) is still running after it should have ended`);
        }
        await new Promise((resolve) => setTimeout(resolve, GONE_POLL_MS));
      }
    },
    setupError: (output: string) => explainSandboxFailure(output),
  };
}

/** A zombie counts as gone: the kernel tears a PID namespace down before its init turns zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function signalName(n: number): NodeJS.Signals {
  const entry = Object.entries(os.constants.signals).find(([, value]) => value === n);
  return (entry?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}
