/** Read-only views of the store: runs, logs, the DAG, node inspection, certificate chains. */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, clockFromEnv, fsError, type ChainLink, type Clock } from '@swarm/core';
import { cacheUsage, dropOrphanTrees } from '../chunks/cache.js';
import { collectChunks, storageStats, type ChunkGcResult, type StorageStats } from '../chunks/gc.js';
import { exportNodeBundle, nodeObjectDigest, restoreNodeInto, type ExportedBundle } from '../chunks/node-content.js';
import { makeDirs } from '../bundle/paths.js';
import '../engine-errors.js';
import { describeStateDb, readRunHistory } from '../state-db.js';
import type { NodeRow, RunRow } from '../store/catalog.js';
import { runDir } from '../store/paths.js';
import { Store } from '../store/store.js';
import { liveOwner } from './owner.js';
import { runStateOf, signalRun } from './supervision.js';
import { removeTree } from './remove-tree.js';

export interface StoreCall {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
}

export async function withStore<T>(options: StoreCall, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const env = options.env ?? process.env;
  const store = Store.open(options.cwd, { create: false, home: options.home, env, clock: options.clock ?? clockFromEnv(env) });
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

export interface RunStatus {
  run_id: string;
  state: 'running' | 'committed' | 'abandoned';
  status: string;
  node_id: string | null;
  parent_node_id: string | null;
  exit_code: number | null;
  signal: string | null;
  restore_mode: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  artifact_hash: string | null;
  /** Where the step ran: local, or github for a collected remote run (null for a row-less leftover). */
  backend: string | null;
  run_dir: string;
  files: string[];
}

export async function runStatus(options: StoreCall & { runId: string }): Promise<RunStatus> {
  return withStore(options, (store) => {
    const row = store.catalog.getRun(options.runId);
    const dir = runDir(store.paths, options.runId);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort() : [];
    if (!row) {
      if (files.length === 0) throw new SwarmError('RUN_NOT_FOUND', `no run ${options.runId} in this store`);
      // Files but no catalog row: a run of an older version, or one that failed before its row (gc removes those).
      const live = isLive(dir);
      return {
        run_id: options.runId,
        state: live ? 'running' : 'abandoned',
        status: live ? 'running' : 'abandoned',
        node_id: null,
        parent_node_id: null,
        exit_code: null,
        signal: null,
        restore_mode: null,
        started_at: null,
        finished_at: null,
        duration_ms: null,
        artifact_hash: null,
        backend: null,
        run_dir: dir,
        files,
      };
    }
    return { ...rowStatus(store, row), run_dir: dir, files };
  });
}

/** A row's state: committed once it has a node; a running row whose owner is gone is abandoned. */
function runState(store: Store, row: RunRow): RunStatus['state'] {
  return runStateOf(store.paths, row);
}

function rowStatus(store: Store, row: RunRow): Omit<RunStatus, 'run_dir' | 'files'> {
  const state = runState(store, row);
  return {
    run_id: row.run_id,
    state,
    status: state === 'abandoned' ? 'abandoned' : row.status,
    node_id: row.node_id,
    parent_node_id: row.parent_node_id,
    exit_code: row.exit_code,
    signal: row.signal,
    restore_mode: row.restore_mode,
    started_at: row.started_at,
    finished_at: row.finished_at,
    duration_ms: row.duration_ms,
    artifact_hash: row.artifact_hash,
    backend: row.backend,
  };
}

/** A run directory is live while the process that owns it is. */
function isLive(dir: string): boolean {
  return liveOwner(dir) !== undefined;
}

export async function listRuns(options: StoreCall): Promise<Array<Omit<RunStatus, 'run_dir' | 'files'>>> {
  return withStore(options, (store) => store.catalog.listRuns().map((row) => rowStatus(store, row)));
}

export async function runLogPath(options: StoreCall & { runId: string }): Promise<{ file: string; committed: boolean; dir: string }> {
  return withStore(options, (store) => {
    const dir = runDir(store.paths, options.runId);
    const file = path.join(dir, 'step.log');
    const committed = Boolean(store.catalog.getRun(options.runId)?.node_id);
    // A live run may still be restoring; its log appears when the step starts.
    if (!fs.existsSync(file) && !(fs.existsSync(dir) && isLive(dir))) throw new SwarmError('RUN_NOT_FOUND', `no log for run ${options.runId}`);
    return { file, committed, dir };
  });
}

/** Whether a run has finished (committed, or its directory is gone / abandoned). */
export async function runFinished(options: StoreCall & { runId: string }): Promise<boolean> {
  return withStore(options, (store) => {
    const row = store.catalog.getRun(options.runId);
    if (row) return runState(store, row) !== 'running';
    const dir = runDir(store.paths, options.runId);
    return !fs.existsSync(dir) || !isLive(dir);
  });
}

export interface GraphNode {
  node_id: string;
  parent_node_id: string | null;
  kind: string;
  status: string;
  state_id: string;
  ratchet_step: number;
  run_id: string | null;
  label: string | null;
  bundle_sha256: string;
  created_at: string;
}

export interface Graph {
  nodes: GraphNode[];
  branches: Array<{ name: string; node_id: string }>;
}

export async function loadGraph(options: StoreCall): Promise<Graph> {
  return withStore(options, async (store) => {
    await store.ensureRoot();
    const nodes = store.catalog.listNodes().map((n) => ({
      node_id: n.node_id,
      parent_node_id: n.parent_node_id,
      kind: n.kind,
      status: n.status,
      state_id: n.state_id,
      ratchet_step: n.ratchet_step,
      run_id: n.run_id,
      label: n.label,
      bundle_sha256: n.bundle_sha256,
      created_at: n.created_at,
    }));
    const branches = store.catalog.listAliases().map((a) => ({ name: a.name, node_id: a.node_id }));
    return { nodes, branches };
  });
}

export function renderGraph(graph: Graph, format: 'mermaid' | 'dot' | 'json'): string {
  if (format === 'json') return JSON.stringify(graph, null, 2);
  const label = (n: GraphNode) => {
    const what =
      n.kind === 'root' ? 'root' : n.kind === 'fork' ? `fork ${n.label}` : n.run_id ? `${n.run_id} (${n.status})` : `${n.kind} ${n.node_id} (${n.status})`;
    return `${what}\\nstep ${n.ratchet_step}`;
  };
  const id = (nodeId: string) => nodeId.replace(/[^A-Za-z0-9_]/g, '_');
  if (format === 'dot') {
    const lines = ['digraph swarm {', '  rankdir=LR;', '  node [shape=box];'];
    for (const n of graph.nodes) {
      const color = n.status === 'failed' ? ', color=red' : n.kind === 'fork' ? ', style=dashed' : '';
      lines.push(`  ${id(n.node_id)} [label="${label(n)}"${color}];`);
    }
    for (const n of graph.nodes) if (n.parent_node_id) lines.push(`  ${id(n.parent_node_id)} -> ${id(n.node_id)};`);
    lines.push('}');
    return lines.join('\n');
  }
  const lines = ['graph LR'];
  for (const n of graph.nodes) lines.push(`  ${id(n.node_id)}["${label(n).replace('\\n', '<br/>')}"]`);
  for (const n of graph.nodes) if (n.parent_node_id) lines.push(`  ${id(n.parent_node_id)} --> ${id(n.node_id)}`);
  for (const n of graph.nodes.filter((x) => x.status === 'failed')) lines.push(`  style ${id(n.node_id)} stroke:#c00`);
  return lines.join('\n');
}

export interface NodeInspection {
  node: Record<string, unknown>;
  kind: string;
  status: string;
  capabilities: { state_cap: string; net_cap: string };
  manifest: { entries: number; files: number; bytes: number; manifest_sha256: string };
  state_db: { tables: Array<{ table: string; rows: number }>; run_history: unknown[] };
  certificate_ref: string | null;
}

/** Opens a node's bundle into a temporary directory and describes it. */
export async function inspectNode(options: StoreCall & { node: string; reveal?: boolean }): Promise<NodeInspection> {
  return withStore(options, async (store) => {
    const node = await store.resolve(options.node);
    const tmp = store.objects.tempDir('inspect');
    try {
      const keys = store.keys.chainKeys(node);
      const opened = await restoreNodeInto(store, node, store.keys.dataKey(node, keys.state), tmp, { records: false });
      const files = opened.manifest.entries.filter((e) => e.type === 'file' && e.path.startsWith('workspace/'));
      const certificate = node.run_id ? path.join(runDir(store.paths, node.run_id), 'certificate.json') : null;
      return {
        node: JSON.parse(node.node_json) as Record<string, unknown>,
        kind: node.kind,
        status: node.status,
        capabilities: options.reveal
          ? { state_cap: store.keys.revealCapability(node, 'state_cap'), net_cap: store.keys.revealCapability(node, 'net_cap') }
          : { state_cap: node.state_cap_sealed, net_cap: node.net_cap_sealed },
        manifest: {
          entries: opened.manifest.entries.length,
          files: files.length,
          bytes: files.reduce((sum, e) => sum + e.size, 0),
          manifest_sha256: node.manifest_sha256,
        },
        state_db: { tables: describeStateDb(opened.stateDbPath), run_history: readRunHistory(opened.stateDbPath) },
        certificate_ref: certificate && fs.existsSync(certificate) ? certificate : null,
      };
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/** Restores a node's workspace and state DB into `out` (which must not exist or be empty). */
export async function exportNode(options: StoreCall & { node: string; out: string }): Promise<{ node_id: string; out: string; workspace: string; home: string; state_db: string; entries: number }> {
  return withStore(options, async (store) => {
    const node = await store.resolve(options.node);
    const out = path.resolve(options.cwd, options.out);
    if (fs.existsSync(out) && (!fs.statSync(out).isDirectory() || fs.readdirSync(out).length > 0)) {
      throw new SwarmError('EXPORT_TARGET_EXISTS', `${options.out} exists and is not an empty directory`);
    }
    try {
      makeDirs(out);
    } catch (cause) {
      throw fsError('EXPORT_TARGET_EXISTS', options.out, cause);
    }
    const keys = store.keys.chainKeys(node);
    const opened = await restoreNodeInto(store, node, store.keys.dataKey(node, keys.state), out, { records: false });
    return { node_id: node.node_id, out, workspace: opened.workspaceDir, home: opened.homeDir, state_db: opened.stateDbPath, entries: opened.manifest.entries.length };
  });
}

/**
 * Writes a node's deterministic sealed tar bundle (`swarm state bundle`): the transport and export
 * form of a node, openable with its state capability alone.
 */
export async function bundleNode(
  options: StoreCall & { node: string; out: string; onProgress?: (bytes: number, total: number) => void },
): Promise<ExportedBundle & { node_id: string; out: string }> {
  return withStore(options, async (store) => {
    const node = await store.resolve(options.node);
    const out = path.resolve(options.cwd, options.out);
    if (fs.existsSync(out)) throw new SwarmError('BUNDLE_TARGET_EXISTS', `${options.out} already exists`, { details: { path: options.out } });
    const keys = store.keys.chainKeys(node);
    const exported = await exportNodeBundle(store, node, store.keys.dataKey(node, keys.state), out, options.onProgress);
    return { node_id: node.node_id, out, ...exported };
  });
}

export type { ChainLink };

/** The node and its ancestors, leaf → root, with each run's exact certificate bytes. */
export async function loadCertificateChain(options: StoreCall & { ref: string }): Promise<ChainLink[]> {
  return withStore(options, async (store) => {
    let node: NodeRow | undefined = await store.resolve(options.ref);
    const links: ChainLink[] = [];
    const seen = new Set<string>();
    while (node) {
      if (seen.has(node.node_id)) throw new SwarmError('STORE_CORRUPT', `cycle in the node graph at ${node.node_id}`);
      seen.add(node.node_id);
      const dir = node.run_id ? runDir(store.paths, node.run_id) : null;
      const read = (name: string) => (dir && fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name)) : null);
      links.push({
        nodeId: node.node_id,
        parentNodeId: node.parent_node_id,
        state: { state_id: node.state_id, bundle_sha256: node.bundle_sha256, ratchet_step: node.ratchet_step },
        certificate: node.kind === 'run' ? read('certificate.json') : null,
        signature: node.kind === 'run' ? read('certificate.dsse.json') : null,
        policy: node.kind === 'run' ? read('policy.json') : null,
        kind: node.kind,
        status: node.status,
        recordedArtifactHash: node.run_id ? (store.catalog.getRun(node.run_id)?.artifact_hash ?? null) : null,
        // A worker's parent is kept as the tar it was sent (object_sha256), not as its own object.
        bundleObject: node.object_sha256 ? null : store.objects.file(node.bundle_sha256),
      });
      node = node.parent_node_id ? store.catalog.getNode(node.parent_node_id) : undefined;
    }
    return links;
  });
}

export interface GcResult {
  removed_objects: string[];
  removed_runs: string[];
  removed_tmp: number;
  kept_objects: number;
  bytes_freed: number;
  chunks: ChunkGcResult | null;
  /** With `stats`: logical against stored bytes. */
  stats: StorageStats | null;
}

/** Removes objects no node references, run directories no run committed, and stale temp files. */
export async function collectGarbage(options: StoreCall & { dryRun?: boolean; stats?: boolean }): Promise<GcResult> {
  return withStore(options, async (store) => {
    // List objects before reading what references them: an object adopted after this listing is
    // not a candidate, and one listed here whose run commits meanwhile shows up as referenced.
    const objectsRoot = path.join(store.paths.objects, 'sha256');
    const candidates: Array<{ digest: string; file: string }> = [];
    for (const prefix of readdirOrEmpty(objectsRoot)) {
      for (const rest of readdirOrEmpty(path.join(objectsRoot, prefix))) {
        candidates.push({ digest: `sha256:${prefix}${rest}`, file: path.join(objectsRoot, prefix, rest) });
      }
    }
    const referenced = pendingObjects(store);
    for (const digest of store.catalog.referencedObjects()) referenced.add(digest);
    const result: GcResult = { removed_objects: [], removed_runs: [], removed_tmp: 0, kept_objects: 0, bytes_freed: 0, chunks: null, stats: null };
    for (const { digest, file } of candidates) {
      if (referenced.has(digest)) {
        result.kept_objects += 1;
        continue;
      }
      try {
        result.bytes_freed += fs.statSync(file).size;
        if (!options.dryRun) fs.rmSync(file, { force: true });
        result.removed_objects.push(digest);
      } catch {
        // removed concurrently
      }
    }
    for (const runId of fs.existsSync(store.paths.runs) ? fs.readdirSync(store.paths.runs) : []) {
      const dir = path.join(store.paths.runs, runId);
      const row = store.catalog.getRun(runId);
      if ((row && runState(store, row) !== 'abandoned') || (!row && isLive(dir))) continue;
      // The owner crashed: stop the step group it left behind before removing its directory.
      if (!options.dryRun) killOrphanStep(dir);
      result.bytes_freed += dirSize(dir);
      result.removed_runs.push(runId);
      if (!options.dryRun) {
        removeTree(dir);
        if (row) store.catalog.forgetRun(runId);
      }
    }
    for (const entry of fs.existsSync(store.paths.tmp) ? fs.readdirSync(store.paths.tmp) : []) {
      const p = path.join(store.paths.tmp, entry);
      const owner = /-(\d+)-/.exec(entry);
      if (owner && pidAlive(Number(owner[1]))) continue;
      result.removed_tmp += 1;
      result.bytes_freed += entrySize(p);
      if (!options.dryRun) fs.rmSync(p, { recursive: true, force: true });
    }
    // Chunks: swept only while no run is live (a run's commit checks its chunks again if one was).
    const liveRuns = readdirOrEmpty(store.paths.runs).filter((id) => isLive(path.join(store.paths.runs, id))).length;
    result.chunks = await collectChunks(store, { dryRun: options.dryRun ?? false, liveRuns, pending: () => pendingObjects(store) });
    result.bytes_freed += result.chunks.bytes_freed;
    // Cached trees of nodes that are gone (removed runs), and staging a killed process left.
    result.bytes_freed += dropOrphanTrees(store.paths, () => store.catalog.referencedObjects(), pidAlive, options.dryRun);
    if (options.stats) result.stats = await storageStats(store, cacheUsage(store.paths));
    return result;
  });
}

function killOrphanStep(dir: string): void {
  try {
    const pgid = Number(fs.readFileSync(path.join(dir, '.step.pgid'), 'utf8').trim());
    // Only a plausible group id, and only if that group's leader still has the run's workspace as cwd.
    if (!Number.isSafeInteger(pgid) || pgid <= 1) return;
    const cwd = fs.readlinkSync(`/proc/${pgid}/cwd`);
    // Inside this run's directory itself: `runs/v` is not a prefix of `runs/v2/workspace`.
    if (!isInside(cwd, fs.realpathSync(dir))) return;
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // no step recorded, or it is gone already
  }
}

function isInside(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Objects that live runs (and a root being created) are about to commit. */
function pendingObjects(store: Store): Set<string> {
  const pending = new Set<string>();
  const scan = (dir: string) => {
    if (!isLive(dir)) return;
    try {
      // One digest per line: a seeded run has its seed's bundle pending too.
      for (const digest of fs.readFileSync(path.join(dir, '.pending-object'), 'utf8').split('\n')) if (digest.trim()) pending.add(digest.trim());
    } catch {
      // nothing pending there
    }
  };
  for (const runId of readdirOrEmpty(store.paths.runs)) scan(path.join(store.paths.runs, runId));
  for (const entry of readdirOrEmpty(store.paths.tmp)) scan(path.join(store.paths.tmp, entry));
  return pending;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Bytes under `dir`, as far as it can be read (a step can leave trees deeper than PATH_MAX). */
function entrySize(p: string): number {
  try {
    const st = fs.lstatSync(p);
    return st.isDirectory() ? dirSize(p) : st.size;
  } catch {
    return 0;
  }
}

function dirSize(dir: string): number {
  let total = 0;
  const pending = [dir];
  while (pending.length > 0) {
    const at = pending.pop()!;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const p = path.join(at, entry.name);
      if (entry.isDirectory()) pending.push(p);
      else if (entry.isFile()) {
        try {
          total += fs.lstatSync(p).size;
        } catch {
          // gone, or a path too long to name
        }
      }
    }
  }
  return total;
}

/** Asks the process that owns a live run to stop it (it records a failed node). */
export async function cancelRun(options: StoreCall & { runId: string }): Promise<{ run_id: string; pid: number; signal: string }> {
  return signalRun({ ...options, how: 'stop' });
}

