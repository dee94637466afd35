/** Runs a wrapped step command the way the engine does: control pipes attached, output collected. */
import { spawn } from 'node:child_process';
import type { SandboxControl, SandboxedCommand } from '@swarm/core';

export interface SandboxRun {
  /** The exit status of the process swarm started (bwrap, or the step itself when unsandboxed). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** How the step itself ended, as the sandbox's first process reported it. */
  ended: { exitCode: number | null; signal: NodeJS.Signals | null } | null;
  started: boolean;
}

export function runSandboxed(
  command: SandboxedCommand,
  env: Record<string, string>,
  options: { timeoutMs?: number; onStart?: (control: SandboxControl | undefined) => void } = {},
): Promise<SandboxRun> {
  return new Promise((resolve) => {
    const [file, ...args] = command.argv;
    const child = spawn(file!, args, {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(command.controlPipes).fill('pipe')],
    });
    const control = command.attach?.(child.stdio.slice(3) as NodeJS.ReadableStream[], child.pid!);
    options.onStart?.(control);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      control?.kill();
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, options.timeoutMs ?? 20_000);
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      const started = control ? await control.started : true;
      const ended = control ? await control.ended(code) : null;
      if (control) await control.gone();
      resolve({ code, signal, stdout, stderr, ended, started });
    });
  });
}
