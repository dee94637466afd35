/** Opens the two nodes a diff or apply compares, each into a temporary directory of the store. */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, clockFromEnv, type Clock } from '@swarm/core';
import { restoreNodeInto } from '../chunks/node-content.js';
import '../engine-errors.js';
import type { NodeRow } from '../store/catalog.js';
import { Store } from '../store/store.js';
import { SEEDED_STATUS } from '../run/seed.js';
import { treeFromManifest, type Tree } from './tree.js';

export interface StoreCall {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  clock?: Clock;
}

/** Which node a change is measured from when no `--base` is given. */
export type DefaultBase = 'parent' | 'seed';

export interface OpenedPair {
  store: Store;
  node: NodeRow;
  base: NodeRow;
  nodeTree: Tree;
  baseTree: Tree;
}

/**
 * The workspace a chain was seeded from: the nearest ancestor whose status is `seeded` (a launch
 * with `--workspace` records the seed as such a node), or undefined when there is none (use root).
 */
export function seededAncestor(node: NodeRow, getNode: (nodeId: string) => NodeRow | undefined): NodeRow | undefined {
  const seen = new Set<string>([node.node_id]);
  for (let at = node.parent_node_id ? getNode(node.parent_node_id) : undefined; at; at = at.parent_node_id ? getNode(at.parent_node_id) : undefined) {
    if (seen.has(at.node_id)) throw new SwarmError('STORE_CORRUPT', `cycle in the node graph at ${at.node_id}`);
    seen.add(at.node_id);
    if (at.status === SEEDED_STATUS) return at;
  }
  return undefined;
}

async function resolveBase(store: Store, node: NodeRow, base: string | undefined, fallback: DefaultBase): Promise<NodeRow> {
  if (base !== undefined) return store.resolve(base);
  if (fallback === 'seed') return seededAncestor(node, (id) => store.catalog.getNode(id)) ?? store.ensureRoot();
  if (!node.parent_node_id) return node;
  const parent = store.catalog.getNode(node.parent_node_id);
  if (!parent) throw new SwarmError('STORE_CORRUPT', `node ${node.node_id} names a parent ${node.parent_node_id} the catalog does not hold`);
  return parent;
}

async function openTree(store: Store, node: NodeRow, dir: string): Promise<Tree> {
  const keys = store.keys.chainKeys(node);
  const opened = await restoreNodeInto(store, node, store.keys.dataKey(node, keys.state), dir, { records: false });
  return treeFromManifest(opened.manifest, opened.workspaceDir);
}

/** Resolves node and base, opens both, and hands their trees to `fn`; the temporary copies are removed after. */
export async function withNodePair<T>(
  options: StoreCall & { node: string; base?: string; defaultBase: DefaultBase },
  fn: (pair: OpenedPair) => Promise<T> | T,
): Promise<T> {
  const env = options.env ?? process.env;
  const store = Store.open(options.cwd, { create: false, home: options.home, env, clock: options.clock ?? clockFromEnv(env) });
  let tmp: string | undefined;
  try {
    const node = await store.resolve(options.node);
    const base = await resolveBase(store, node, options.base, options.defaultBase);
    tmp = store.objects.tempDir('diff');
    const nodeTree = await openTree(store, node, path.join(tmp, 'node'));
    const baseTree = base.bundle_sha256 === node.bundle_sha256 ? nodeTree : await openTree(store, base, path.join(tmp, 'base'));
    return await fn({ store, node, base, nodeTree, baseTree });
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    store.close();
  }
}
