/**
 * Removing committed runs and branch labels from the project store. The catalog change is one
 * IMMEDIATE transaction, so no run can commit between the checks and the delete; run directories
 * are removed after it commits, and objects are left for `swarm gc`, which reclaims whatever no
 * node references any more.
 */
import fs from 'node:fs';
import { SwarmError, clockFromEnv, isValidName, type Clock } from '@swarm/core';
import '../engine-errors.js';
import { liveOwner } from '../run/owner.js';
import { removeTree } from '../run/remove-tree.js';
import { runDir } from './paths.js';
import { dropOrphanTrees } from '../chunks/cache.js';
import { Store } from './store.js';

interface StoreCall {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
}

export interface RemoveRunsOptions extends StoreCall {
  runIds: string[];
  /** Also remove every node (run or fork) and branch label that descends from the runs. */
  force?: boolean;
}

export interface RemovedNode {
  node_id: string;
  kind: string;
  run_id: string | null;
  label: string | null;
}

export interface RemoveRunsResult {
  removed_runs: string[];
  removed_nodes: RemovedNode[];
  removed_branches: string[];
  /** Run directories that could not be removed now; `swarm gc` removes them later. */
  left_for_gc: string[];
}

export interface RemoveBranchOptions extends StoreCall {
  label: string;
}

export interface RemoveBranchResult {
  branch: string;
  node_id: string;
  /** Whether the fork node made for this label went too (only when nothing else uses it). */
  removed_node: boolean;
}

interface NodeLink extends RemovedNode {
  parent_node_id: string | null;
  ratchet_step: number;
}

function openStore(options: StoreCall): Store {
  const env = options.env ?? process.env;
  return Store.open(options.cwd, { create: false, home: options.home, env, clock: options.clock ?? clockFromEnv(env) });
}

/**
 * Removes committed runs: their nodes, catalog rows and run directories, with the runs started
 * from them that never committed. Refuses when another node or a branch label descends from them
 * (unless `force`), and while a run in progress may build on them (one whose parent is not
 * recorded yet counts), since its commit would name a node that is gone.
 */
export async function removeRuns(options: RemoveRunsOptions): Promise<RemoveRunsResult> {
  if (options.runIds.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'no run id given');
  for (const runId of options.runIds) {
    if (!isValidName(runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(runId)}`);
  }
  const store = openStore(options);
  try {
    const db = store.catalog.db;
    const result = store.catalog.write((): RemoveRunsResult => {
      const links = db.prepare('SELECT node_id, parent_node_id, kind, run_id, label, ratchet_step FROM nodes').all() as NodeLink[];
      const byId = new Map(links.map((n) => [n.node_id, n]));
      const children = new Map<string, NodeLink[]>();
      for (const n of links) {
        if (n.parent_node_id !== null) children.set(n.parent_node_id, [...(children.get(n.parent_node_id) ?? []), n]);
      }

      const targets = new Set<string>();
      for (const runId of options.runIds) {
        const run = store.catalog.getRun(runId);
        if (!run || run.node_id === null) throw notCommitted(store, runId);
        targets.add(run.node_id);
      }
      if (options.force) {
        const pending = [...targets];
        while (pending.length > 0) {
          for (const child of children.get(pending.pop()!) ?? []) {
            if (!targets.has(child.node_id)) {
              targets.add(child.node_id);
              pending.push(child.node_id);
            }
          }
        }
      }

      const aliases = (db.prepare('SELECT name, node_id FROM aliases').all() as Array<{ name: string; node_id: string }>).filter((a) => targets.has(a.node_id));
      const outside = [...targets].flatMap((id) => children.get(id) ?? []).filter((child) => !targets.has(child.node_id));
      if (outside.length > 0 || (aliases.length > 0 && !options.force)) {
        throw new SwarmError('RUN_HAS_DESCENDANTS', `nothing was removed: ${describe(outside, aliases)} descend${outside.length + aliases.length === 1 ? 's' : ''} from ${options.runIds.join(', ')}`, {
          hint: 'remove those too, or pass --force to remove the whole subtree',
          details: { children: outside.map(publicNode), branches: aliases.map((a) => a.name) },
        });
      }

      const live = liveRuns(store).filter((runId) => mayDescend(store, runId, targets));
      if (live.length > 0) {
        throw new SwarmError('RUN_LIVE', `run(s) ${live.join(', ')} in progress may build on what would be removed; nothing was removed`, {
          hint: 'wait for them to finish, or stop them with `swarm run cancel`',
          details: { live_runs: live },
        });
      }
      // Runs from these nodes that never committed (no node of their own, owner gone) go with them.
      const attempts = (db.prepare('SELECT run_id, parent_node_id FROM runs WHERE node_id IS NULL').all() as Array<{ run_id: string; parent_node_id: string }>)
        .filter((r) => targets.has(r.parent_node_id))
        .map((r) => r.run_id);

      // Children before parents: nodes.parent_node_id references nodes.
      const removed = [...targets].map((id) => byId.get(id)!).sort((a, b) => b.ratchet_step - a.ratchet_step);
      const dropAlias = db.prepare('DELETE FROM aliases WHERE name = ?');
      const dropRun = db.prepare('DELETE FROM runs WHERE node_id = ?');
      const dropNode = db.prepare('DELETE FROM nodes WHERE node_id = ?');
      const dropAttempt = db.prepare('DELETE FROM runs WHERE run_id = ? AND node_id IS NULL');
      for (const alias of aliases) dropAlias.run(alias.name);
      for (const runId of attempts) dropAttempt.run(runId);
      for (const node of removed) dropRun.run(node.node_id);
      for (const node of removed) dropNode.run(node.node_id);
      return {
        removed_runs: [...removed.flatMap((n) => (n.run_id !== null ? [n.run_id] : [])), ...attempts],
        removed_nodes: removed.map(publicNode),
        removed_branches: aliases.map((a) => a.name),
        left_for_gc: [],
      };
    });

    // A removed node's cached tree is plaintext of what was removed: it goes now, not at the next gc.
    try {
      dropOrphanTrees(store.paths, () => store.catalog.referencedObjects(), () => true);
    } catch {
      // gc removes it later
    }
    for (const runId of result.removed_runs) {
      const dir = runDir(store.paths, runId);
      try {
        removeTree(dir);
      } catch {
        // No catalog row names it any more, so gc treats it as an abandoned run directory.
        result.left_for_gc.push(runId);
      }
    }
    return result;
  } finally {
    store.close();
  }
}

/**
 * Removes `branch:<label>`. The fork node made for the label goes with it when nothing descends
 * from it and no other label names it; otherwise the node stays for the runs built on it.
 */
export async function removeBranch(options: RemoveBranchOptions): Promise<RemoveBranchResult> {
  if (!isValidName(options.label)) throw new SwarmError('INVALID_ARGUMENT', `invalid branch label ${JSON.stringify(options.label)}`);
  const branch = `branch:${options.label}`;
  const store = openStore(options);
  try {
    const db = store.catalog.db;
    return store.catalog.write((): RemoveBranchResult => {
      const nodeId = store.catalog.getAlias(branch);
      if (nodeId === undefined) throw new SwarmError('BRANCH_NOT_FOUND', `no ${branch} in this store`, { details: { branch } });
      const node = store.catalog.getNode(nodeId);
      const count = (sql: string) => (db.prepare(sql).get(nodeId) as { n: number }).n;
      const ownFork = node?.kind === 'fork' && node.label === options.label;
      const used = ownFork && (count('SELECT COUNT(*) AS n FROM nodes WHERE parent_node_id = ?') > 0 || count('SELECT COUNT(*) AS n FROM aliases WHERE node_id = ?') > 1);
      const removeNode = ownFork && !used;
      if (removeNode) {
        const live = liveRuns(store).filter((runId) => mayDescend(store, runId, new Set([nodeId])));
        if (live.length > 0) {
          throw new SwarmError('RUN_LIVE', `run(s) ${live.join(', ')} in progress may have started from ${branch}; nothing was removed`, {
            hint: 'wait for them to finish, or stop them with `swarm run cancel`',
            details: { live_runs: live },
          });
        }
      }
      db.prepare('DELETE FROM aliases WHERE name = ?').run(branch);
      if (removeNode) db.prepare('DELETE FROM nodes WHERE node_id = ?').run(nodeId);
      return { branch, node_id: nodeId, removed_node: removeNode };
    });
  } finally {
    store.close();
  }
}

/**
 * Whether a live run could descend from the nodes to remove: it resumed from one of them (or
 * committed one and is still finishing), or its parent is not recorded yet, so it might have.
 */
function mayDescend(store: Store, runId: string, targets: Set<string>): boolean {
  const row = store.catalog.getRun(runId);
  if (!row) return true;
  return targets.has(row.parent_node_id) || (row.node_id !== null && targets.has(row.node_id));
}

/** Run directories whose owning process is alive (the check `swarm run status` makes). */
function liveRuns(store: Store): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(store.paths.runs);
  } catch {
    return [];
  }
  return entries.filter((runId) => liveOwner(runDir(store.paths, runId)) !== undefined).sort();
}

function notCommitted(store: Store, runId: string): SwarmError {
  const dir = runDir(store.paths, runId);
  if (!fs.existsSync(dir)) return new SwarmError('RUN_NOT_FOUND', `no run ${runId} in this store`, { details: { run_id: runId } });
  if (liveOwner(dir) !== undefined) {
    return new SwarmError('RUN_LIVE', `run ${runId} is in progress`, { hint: 'stop it with `swarm run cancel` first', details: { live_runs: [runId] } });
  }
  return new SwarmError('RUN_NOT_FOUND', `run ${runId} never committed`, { hint: '`swarm gc` removes the directories of runs that never committed', details: { run_id: runId } });
}

function publicNode(n: RemovedNode): RemovedNode {
  return { node_id: n.node_id, kind: n.kind, run_id: n.run_id, label: n.label };
}

function describe(children: RemovedNode[], aliases: Array<{ name: string }>): string {
  const names = [...children.map((c) => (c.run_id !== null ? `run ${c.run_id}` : c.label !== null ? `fork ${c.label}` : `node ${c.node_id}`)), ...aliases.map((a) => a.name)];
  return names.join(', ');
}
