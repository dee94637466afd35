/**
 * Small helpers for the github backend's fault tests: read the ledger and the DAG straight from
 * the project's catalog (read-only), count what the emulator really received and created for one
 * request, time requests to the millisecond, and find processes a swarm command left behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { GithubEmulator, RecordedRequest } from '../../../test-utils/src/github/emulator.js';
import type { EmulatedRun } from '../../../test-utils/src/github/types.js';
import { REPO, type Harness, type Swarm } from './harness.js';

function withCatalog<T>(h: Harness, fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(h.project, '.swarm', 'catalog.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The ledger entry of a swarm run id (entry_json parsed), or undefined. */
export function ledgerOf(h: Harness, runId: string): any {
  const row = withCatalog(h, (db) => db.prepare('SELECT entry_json, status FROM ledger WHERE run_id = ?').all(runId) as Array<{ entry_json: string; status: string }>);
  if (row.length > 1) throw new Error(`more than one ledger entry for run ${runId}`);
  if (row.length === 0) return undefined;
  const entry = JSON.parse(row[0]!.entry_json);
  // The row's status column and the entry must agree.
  if (entry.status !== row[0]!.status) throw new Error(`ledger row of ${runId} says ${row[0]!.status}, its entry ${entry.status}`);
  return entry;
}

/** Every node id in the DAG, sorted. */
export function nodeIds(h: Harness): string[] {
  return withCatalog(h, (db) => (db.prepare('SELECT node_id FROM nodes ORDER BY node_id').all() as Array<{ node_id: string }>).map((r) => r.node_id));
}

/** The runs the emulator created for a request (by their run name). */
export function runsOf(h: Harness, requestId: string): EmulatedRun[] {
  return h.emulator.runs(REPO).filter((r) => r.display_title === `swarm ${requestId}`);
}

/** Dispatch POSTs the emulator received for a request (from `from` on). */
export function dispatchPosts(h: Harness, requestId: string, from = 0): RecordedRequest[] {
  return h.emulator.requests.slice(from).filter((r) => {
    if (r.method !== 'POST' || !/\/dispatches$/.test(r.path)) return false;
    try {
      return JSON.parse(r.body.toString('utf8'))?.inputs?.request_id === requestId;
    } catch {
      return false;
    }
  });
}

/** The error of a --json envelope (and that the command failed with one). */
export function errorOf(result: Swarm): { code: string; category: string; retryable: boolean; message: string; details: any } {
  if (!result.envelope || result.envelope.status !== 'error') throw new Error(`no error envelope (exit ${result.code}): ${result.stdout.slice(-500)} ${result.stderr.slice(-500)}`);
  return result.envelope.error;
}

/**
 * Stamps every request the emulator records with the local time in ms (its own `time` has
 * second precision). Returns the lookup.
 */
export function stampRequests(emulator: GithubEmulator): (r: RecordedRequest) => number {
  const stamps = new WeakMap<RecordedRequest, number>();
  const requests = emulator.requests;
  const push = requests.push.bind(requests);
  requests.push = (...items: RecordedRequest[]) => {
    const now = Date.now();
    for (const item of items) stamps.set(item, now);
    return push(...items);
  };
  return (r) => {
    const t = stamps.get(r);
    if (t === undefined) throw new Error(`request ${r.method} ${r.path} was not stamped`);
    return t;
  };
}

/** Polls until `fn` returns a truthy value, or fails after `timeoutMs`. */
export async function until<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Whether a process runs (a zombie, dead and waiting to be reaped, does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * Live processes whose environment mentions `marker` (say the harness's tmp dir, which is in
 * every swarm and gh process's HOME) and whose command line matches `cmd`.
 */
export function processesWith(marker: string, cmd: RegExp): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const environ = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (!environ.includes(marker)) continue;
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
      if (cmd.test(cmdline) && alive(pid)) out.push({ pid, cmdline });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}
