/** Watching a remote run until it completes, and cancelling it, with the ledger following. */
import { SwarmError, isoTime, type Clock } from '@swarm/core';
import { advance, cancelRun, findRun, getRun, remoteOf, type LedgerEntry, type RemoteRun } from '@swarm/github';
import { Store } from '@swarm/state';
import { githubContext, sleep } from './context.js';
import { ledgerEntry, saveLedger } from './ledger-store.js';

export interface WatchOptions {
  cwd: string;
  id: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  ghBin?: string;
  timeoutMs: number;
  onProgress?: (line: string) => void;
}

/** Polls the remote run until it completes or the deadline passes; the ledger follows it. */
export async function watchRemote(options: WatchOptions): Promise<{ entry: LedgerEntry; run: RemoteRun }> {
  const store = Store.open(options.cwd, { create: false, env: options.env, clock: options.clock });
  try {
    let entry = ledgerEntry(store, options.id);
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    const now = () => isoTime(options.clock);
    const deadline = Date.now() + options.timeoutMs;
    let wait = ctx.timing.pollMs;
    const started = Date.now();
    for (;;) {
      const run = entry.remote_run_id !== null ? await getRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs) : await findRun({ ...ctx, workflowFile: entry.dispatch.workflow, tag: entry.dispatch.ref, requestId: entry.request_id }, entry.created_at);
      if (run) {
        const status = run.status === 'completed' ? 'completed' : run.status === 'in_progress' ? 'running' : 'dispatched';
        if (entry.status !== 'completed' && !['collected', 'failed', 'cancelled'].includes(entry.status)) {
          entry = advance(entry, status === 'dispatched' && entry.status === 'running' ? 'running' : status, now(), { remote_run_id: run.id, remote: remoteOf(run) });
          saveLedger(store, entry);
        }
        options.onProgress?.(`swarm: ${entry.request_id} ${run.status}${run.conclusion ? ` (${run.conclusion})` : ''} · ${Math.round((Date.now() - started) / 1000)} s`);
        if (run.status === 'completed') return { entry, run };
      }
      if (Date.now() + wait > deadline) {
        throw new SwarmError('GH_WATCH_TIMEOUT', `run of ${entry.request_id} did not complete in time; the ledger says ${entry.status}`, {
          hint: `watch again with \`swarm backend github watch --run-id ${entry.run_id}\``,
          details: { request_id: entry.request_id, status: entry.status },
        });
      }
      await sleep(wait);
      wait = Math.min(wait * 2, ctx.timing.maxPollMs);
    }
  } finally {
    store.close();
  }
}

export interface CancelResult {
  request_id: string;
  remote_run_id: number | null;
  accepted: boolean;
  status: string;
  conclusion: string | null;
}

export async function cancelRemote(options: { cwd: string; id: string; env: NodeJS.ProcessEnv; clock: Clock; ghBin?: string }): Promise<CancelResult> {
  const store = Store.open(options.cwd, { create: false, env: options.env, clock: options.clock });
  try {
    let entry = ledgerEntry(store, options.id);
    const now = () => isoTime(options.clock);
    if (entry.status === 'collected' || entry.status === 'failed' || entry.status === 'cancelled') {
      throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is already ${entry.status}; there is nothing to cancel`, { details: { status: entry.status } });
    }
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    let accepted = false;
    let conclusion: string | null = null;
    if (entry.remote_run_id === null) {
      // The answer to the dispatch was lost: find the run by its name before declaring it cancelled.
      const found = await findRun({ ...ctx, workflowFile: entry.dispatch.workflow, tag: entry.dispatch.ref, requestId: entry.request_id }, entry.created_at);
      if (found) entry = { ...entry, remote_run_id: found.id };
    }
    if (entry.remote_run_id !== null) {
      accepted = await cancelRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs);
      const run = await getRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs);
      conclusion = run.conclusion;
      if (!accepted && run.status === 'completed') {
        // Too late: the run finished; the ledger shows its real outcome.
        entry = advance(entry, 'completed', now(), { remote: remoteOf(run) });
        saveLedger(store, entry);
        return { request_id: entry.request_id, remote_run_id: run.id, accepted, status: entry.status, conclusion };
      }
      entry = { ...entry, remote: remoteOf(run) };
    }
    if (entry.status !== 'cancelled' && entry.status !== 'failed') entry = advance(entry, 'cancelled', now());
    saveLedger(store, entry);
    return { request_id: entry.request_id, remote_run_id: entry.remote_run_id, accepted, status: entry.status, conclusion };
  } finally {
    store.close();
  }
}
