/**
 * Supervision over the catalog alone: what `swarm ps` shows, restart chains, and signalling a
 * live run or its supervisor. Kept apart from the rest of the state package (no keys, chunks or
 * engine), so `swarm ps` and `run stop` load only the catalog.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, clockFromEnv, isValidName, isoTime, type Clock } from '@swarm/core';
import '../engine-errors.js';
import { Catalog, type RunRow } from '../store/catalog.js';
import { findProjectRoot, runDir, storePaths, type StorePaths } from '../store/paths.js';
import { OWNER_FILE, liveOwner, writeOwnerFile } from './owner.js';

interface CatalogCall {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
}

export type RunState = 'running' | 'committed' | 'abandoned';

function withCatalog<T>(options: CatalogCall, fn: (at: { paths: StorePaths; catalog: Catalog; clock: Clock }) => Promise<T> | T): Promise<T> {
  const root = findProjectRoot(options.cwd);
  if (!root) return Promise.reject(new SwarmError('STORE_NOT_FOUND', `no .swarm store in ${options.cwd} or its parents`, { hint: 'run `swarm init` or launch a run here' }));
  const paths = storePaths(root);
  const catalog = new Catalog(paths.catalog);
  const clock = options.clock ?? clockFromEnv(options.env ?? process.env);
  return (async () => {
    try {
      return await fn({ paths, catalog, clock });
    } finally {
      catalog.close();
    }
  })();
}

/** A row's state: committed once it has a node; a running row whose owner is gone is abandoned. */
export function runStateOf(paths: StorePaths, row: RunRow): RunState {
  if (row.node_id !== null) return 'committed';
  if (row.status === 'running' && liveOwner(runDir(paths, row.run_id)) !== undefined) return 'running';
  return 'abandoned';
}

export interface PsRow {
  run_id: string;
  state: RunState;
  status: string;
  node_id: string | null;
  parent_node_id: string | null;
  /** Branch labels on the run's node, else on its parent (the branch the run continues). */
  branches: string[];
  /** The agent's name, or the step as it was attested (its command, or a script's digest). */
  step: string;
  started_at: string | null;
  finished_at: string | null;
  /** Running: time since it started; finished: its duration. */
  uptime_ms: number | null;
  /** Egress decisions so far (from the run's egress.log while it runs). */
  egress: { allowed: number; denied: number };
  /** Its restart chain: the first run and which attempt this is (0 for the first). */
  first_run_id: string | null;
  attempt: number | null;
  restart_policy: string | null;
}

/**
 * What `swarm ps` shows: every running run, and the most recent finished ones (`recent`, default
 * 10; `all` for every run), newest first.
 */
export async function psRuns(options: CatalogCall & { all?: boolean; recent?: number }): Promise<PsRow[]> {
  return withCatalog(options, ({ paths, catalog, clock }) => {
    const now = clock.now();
    const attempts = new Map(catalog.listAttempts().map((a) => [a.run_id, a]));
    const labels = new Map<string, string[]>();
    for (const alias of catalog.listAliases()) {
      if (alias.name.startsWith('branch:')) labels.set(alias.node_id, [...(labels.get(alias.node_id) ?? []), alias.name.slice('branch:'.length)]);
    }
    const rows = catalog.listRuns().map((row) => ({ row, state: runStateOf(paths, row) }));
    const newest = (a: { row: RunRow }, b: { row: RunRow }) => (b.row.started_at < a.row.started_at ? -1 : b.row.started_at > a.row.started_at ? 1 : b.row.run_id < a.row.run_id ? -1 : 1);
    const running = rows.filter((r) => r.state === 'running').sort(newest);
    const finished = rows.filter((r) => r.state !== 'running').sort(newest);
    const shown = [...running, ...(options.all ? finished : finished.slice(0, options.recent ?? 10))];
    return shown.map(({ row, state }) => {
      const attempt = attempts.get(row.run_id);
      const started = Date.parse(row.started_at);
      return {
        run_id: row.run_id,
        state,
        status: state === 'abandoned' ? 'abandoned' : row.status,
        node_id: row.node_id,
        parent_node_id: row.parent_node_id,
        branches: (row.node_id ? labels.get(row.node_id) : undefined) ?? labels.get(row.parent_node_id) ?? [],
        step: stepLabel(row.step_json),
        started_at: row.started_at,
        finished_at: row.finished_at,
        uptime_ms: state === 'running' ? (Number.isFinite(started) ? Math.max(0, now - started) : null) : row.duration_ms,
        egress: egressCounts(path.join(runDir(paths, row.run_id), 'egress.log')),
        first_run_id: attempt?.first_run_id ?? null,
        attempt: attempt?.attempt ?? null,
        restart_policy: attempt?.policy ?? null,
      };
    });
  });
}

/** Links a run to its restart chain before it starts. */
export async function recordRunAttempt(options: CatalogCall & { runId: string; firstRunId: string; attempt: number; policy: string }): Promise<void> {
  return withCatalog(options, ({ catalog, clock }) => {
    // A run id that is taken already fails its launch; it is not linked to this chain.
    if (catalog.getRun(options.runId)) return;
    catalog.recordAttempt({ run_id: options.runId, first_run_id: options.firstRunId, attempt: options.attempt, policy: options.policy, created_at: isoTime(clock) });
  });
}

function stepLabel(stepJson: string): string {
  try {
    const step = (JSON.parse(stepJson) as { step?: unknown }).step;
    if (Array.isArray(step)) return step.map(String).join(' ');
    if (step && typeof step === 'object') {
      const s = step as { agent?: unknown; shell?: unknown; script_sha256?: unknown };
      if (typeof s.agent === 'string') return `agent ${s.agent}`;
      if (typeof s.script_sha256 === 'string') return `script ${s.script_sha256.slice(7, 19)}`;
    }
  } catch {
    // an unreadable row shows as unknown
  }
  return '?';
}

function egressCounts(file: string): { allowed: number; denied: number } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { allowed: 0, denied: 0 };
  }
  let allowed = 0;
  let denied = 0;
  for (const line of text.split('\n')) {
    if (line.includes('"decision":"allowed"')) allowed += 1;
    else if (line.includes('"decision":"denied"')) denied += 1;
  }
  return { allowed, denied };
}

/**
 * Stops a live run, or the supervisor of its restart chain:
 * - `stop`: SIGTERM to the process that owns it; the step gets SIGTERM (SIGKILL after a grace) and a
 *   failed node is sealed, as for Ctrl-C; a supervisor restarts nothing after it;
 * - `kill-seal`: SIGUSR2 to the owner: the step is killed at once (no grace), then sealed the same way;
 * - `kill`: SIGKILL to the owner and to the step's process group: no node, the run is abandoned.
 * A chain waiting between attempts has no live run; its supervisor is signalled instead.
 */
export async function signalRun(options: CatalogCall & { runId: string; how: 'stop' | 'kill' | 'kill-seal' }): Promise<{ run_id: string; pid: number; signal: string }> {
  return withCatalog(options, ({ paths, catalog }) => {
    if (!isValidName(options.runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(options.runId)}`, { hint: 'letters, digits, . _ - (max 128)' });
    const signal: NodeJS.Signals = options.how === 'stop' ? 'SIGTERM' : options.how === 'kill' ? 'SIGKILL' : 'SIGUSR2';
    const row = catalog.getRun(options.runId);
    const dir = runDir(paths, options.runId);
    const first = catalog.getAttempt(options.runId)?.first_run_id ?? options.runId;
    const supervisor = liveOwner(supervisorDir(paths, first));
    const live = (row ? runStateOf(paths, row) === 'running' : fs.existsSync(dir)) ? liveOwner(dir) : undefined;
    if (!row && !fs.existsSync(dir) && supervisor === undefined) throw new SwarmError('RUN_NOT_FOUND', `no run ${options.runId} in this store`);
    const pid = live ?? supervisor;
    if (pid === undefined) {
      if (row && runStateOf(paths, row) !== 'running') throw new SwarmError('INVALID_ARGUMENT', `run ${options.runId} has already finished`);
      throw new SwarmError('RUN_NOT_FOUND', `run ${options.runId} is not running (its process is gone; \`swarm gc\` cleans up)`);
    }
    // The step's group first: once its owner is gone nothing would end an unsandboxed step. Named
    // by the first run of a chain, the step is the chain's current attempt's.
    if (options.how === 'kill') {
      const current = live !== undefined ? { dir, owner: live } : currentAttempt(paths, catalog, first);
      if (current) killStepGroup(current.dir, current.owner);
    }
    try {
      process.kill(pid, signal);
    } catch (cause) {
      throw new SwarmError('RUN_NOT_FOUND', `cannot signal the process of run ${options.runId}`, { cause });
    }
    return { run_id: options.runId, pid, signal };
  });
}

/** The live attempt of a restart chain, if one is running. */
function currentAttempt(paths: StorePaths, catalog: Catalog, first: string): { dir: string; owner: number } | undefined {
  const attempts = catalog.listAttempts().filter((a) => a.first_run_id === first).sort((a, b) => b.attempt - a.attempt);
  for (const attempt of attempts) {
    const row = catalog.getRun(attempt.run_id);
    if (!row || runStateOf(paths, row) !== 'running') continue;
    const dir = runDir(paths, attempt.run_id);
    const owner = liveOwner(dir);
    if (owner !== undefined) return { dir, owner };
  }
  return undefined;
}

/** SIGKILL to the step's process group, if the recorded leader is the owner's own child. */
function killStepGroup(dir: string, owner: number): void {
  let leader: number;
  try {
    leader = Number(fs.readFileSync(path.join(dir, '.step.pgid'), 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(leader) || leader <= 1) return;
  try {
    const stat = fs.readFileSync(`/proc/${leader}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (parent !== owner) return;
    process.kill(-leader, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Where the supervisor of a restart chain marks itself live (`.swarm/supervisor/<first run>`). */
export function supervisorDir(paths: StorePaths, firstRunId: string): string {
  return path.join(paths.root, 'supervisor', firstRunId);
}

/** Marks this process as the live supervisor of a restart chain; returns the function that unmarks it. */
export async function markSupervisor(options: CatalogCall & { firstRunId: string }): Promise<{ dir: string; done: () => void }> {
  return withCatalog(options, ({ paths }) => {
    if (!isValidName(options.firstRunId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(options.firstRunId)}`);
    const dir = supervisorDir(paths, options.firstRunId);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // One supervisor per chain: the marker is taken with link(), which fails if it exists, so of
    // two launches with the same run id only one holds it; a dead supervisor's marker is taken over.
    const marker = path.join(dir, OWNER_FILE);
    const own = path.join(dir, `.owner-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    fs.mkdirSync(own, { mode: 0o700 });
    writeOwnerFile(own);
    const mine = fs.readFileSync(path.join(own, OWNER_FILE), 'utf8');
    try {
      for (let tries = 0; ; tries += 1) {
        try {
          fs.linkSync(path.join(own, OWNER_FILE), marker);
          break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw error;
          const other = liveOwner(dir);
          if (other !== undefined) {
            throw new SwarmError('RUN_ID_EXISTS', `run ${options.firstRunId} already has a live supervisor (pid ${other})`, { details: { run_id: options.firstRunId } });
          }
          fs.rmSync(marker, { force: true });
        }
      }
    } finally {
      fs.rmSync(own, { recursive: true, force: true });
    }
    return {
      dir,
      done: () => {
        // Only our own marker goes.
        if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === mine) fs.rmSync(marker, { force: true });
      },
    };
  });
}
