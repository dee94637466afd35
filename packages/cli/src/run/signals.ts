/** A run on the terminal: Ctrl-C/SIGTERM wired to an abort, the step's output and progress shown. */
import { StringDecoder } from 'node:string_decoder';
import type { LaunchOptions, LaunchResult } from '@swarm/state';
import type { Output } from '../output.js';

export async function runWithSignals(
  options: LaunchOptions,
  output: Output,
  launch: (options: LaunchOptions) => Promise<LaunchResult>,
  /** Set when a stop signal arrived (a restart policy restarts nothing after one). */
  seen: { stopped: boolean } = { stopped: false },
): Promise<LaunchResult> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    seen.stopped = true;
    output.info(`\nswarm: ${signal} received, stopping the step…`);
    controller.abort();
  };
  // `swarm run kill --seal`: the step is killed at once, and its node sealed as for Ctrl-C.
  const onKill = () => {
    seen.stopped = true;
    output.info('\nswarm: kill requested, killing the step…');
    controller.abort('kill');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.on('SIGUSR2', onKill);
  const sink = output.options.json ? output.options.stderr : output.options.stdout;
  // On a terminal the status line and the step's output share the screen: clear the line before
  // each output, and start the next status line below output that did not end its line.
  let midLine = false;
  const transfer = transferMeter();
  const show = (chunk: Buffer) => {
    output.progressDone();
    sink.write(chunk);
    if (chunk.length > 0) midLine = chunk[chunk.length - 1] !== 0x0a;
  };
  // An agent's streaming output (JSON events) as readable lines; step.log keeps it as it came.
  // An interactive agent draws its own screen.
  const render = options.agent !== undefined && !options.interactive && !output.options.verbose ? await agentRenderer(options.agent) : null;
  try {
    return await launch({
      ...options,
      signal: controller.signal,
      onOutput: output.options.quiet ? undefined : render ? (chunk) => render.push(chunk, show) : show,
      onProgress: (phase, bytes) => {
        const line = bytes ? transfer.line(phase, bytes.done, bytes.total) : `swarm: ${phase}…`;
        if (line === null) return;
        if (midLine) output.progressBreak();
        midLine = false;
        output.progress(line);
      },
      onStart: ({ run_id, workspace, seed, sandbox, published }) => {
        if (seed) {
          const left = seed.excluded.length > 0 ? ` (left out: ${seed.excluded.map((e) => `${e}/`).join(', ')})` : '';
          output.info(`swarm: seeded run ${run_id} from ${seed.source}${left}`);
        }
        output.info(`swarm: run ${run_id}, workspace ${workspace}`);
        for (const p of published) output.info(`swarm: port ${p.port} of the step published on http://127.0.0.1:${p.hostPort}/`);
        // What the step serves runs in the browser that opens it, outside the allowlist.
        if (published.length > 0) output.warn('--publish: a page the step serves runs in your browser, which the egress allowlist does not fence; open it in a separate browser profile');
        // Said before the step runs, not only after it.
        if (sandbox === 'unsandboxed') {
          output.warn("--unsandboxed-egress: no sandbox can be made here, so the step runs with the host's network, files (swarm's keys included) and processes in reach; recorded in the policy and certificate");
        } else if (sandbox === 'bwrap-open-network') {
          output.warn("--unsandboxed-egress: the step has the host's network (it is sandboxed otherwise); recorded in the policy and certificate");
        }
      },
    });
  } finally {
    render?.flush(show);
    output.progressDone();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    process.off('SIGUSR2', onKill);
  }
}

const MIB = 1024 * 1024;
/** Below this a restore or seal is over before a line could be read. */
const PROGRESS_MIN_BYTES = 16 * MIB;
const PROGRESS_EVERY_MS = 100;

/** `swarm: sealing 120.0 / 300.0 MiB (41.2 MiB/s)`, at most ten times a second, for large workspaces only. */
export function transferMeter(now: () => number = () => performance.now()): { line(phase: string, done: number, total: number): string | null } {
  let phase = '';
  let started = 0;
  let last = -Infinity;
  return {
    line(next, done, total) {
      const t = now();
      if (next !== phase) {
        phase = next;
        started = t;
        last = -Infinity;
      }
      if (total < PROGRESS_MIN_BYTES || (t - last < PROGRESS_EVERY_MS && done < total)) return null;
      last = t;
      const amount = `swarm: ${phase} ${(done / MIB).toFixed(1)} / ${(total / MIB).toFixed(1)} MiB`;
      // A rate over the first few milliseconds says nothing.
      if (t - started < PROGRESS_EVERY_MS) return amount;
      return `${amount} (${(done / MIB / ((t - started) / 1000)).toFixed(1)} MiB/s)`;
    },
  };
}

/** Splits output into lines and hands each to the agent's renderer; lines it does not know pass as they are. */
async function agentRenderer(name: string): Promise<{ push(chunk: Buffer, show: (chunk: Buffer) => void): void; flush(show: (chunk: Buffer) => void): void } | null> {
  const { AGENTS, isAgentName } = await import('@swarm/state');
  if (!isAgentName(name)) return null;
  const adapter = AGENTS[name];
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const emit = (line: string, show: (chunk: Buffer) => void) => {
    let rendered: string | null;
    try {
      rendered = adapter.renderLine(line);
    } catch {
      rendered = line;
    }
    if (rendered !== null) show(Buffer.from(`${rendered}\n`));
  };
  return {
    push(chunk, show) {
      pending += decoder.write(chunk);
      let at = pending.indexOf('\n');
      while (at !== -1) {
        emit(pending.slice(0, at), show);
        pending = pending.slice(at + 1);
        at = pending.indexOf('\n');
      }
    },
    flush(show) {
      pending += decoder.end();
      if (pending !== '') emit(pending, show);
      pending = '';
    },
  };
}
