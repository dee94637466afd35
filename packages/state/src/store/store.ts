/**
 * The project store `.swarm/`: its catalog, its object store and its run directories, with the
 * operator's key ring from `$SWARM_HOME`. Node references are resolved here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, parseNodeRef, swarmHome, systemClock, type Clock } from '@swarm/core';
import { createSealedBundle } from '../bundle/index.js';
import { deriveDataKey, rootChainKeys } from '../crypto/index.js';
import '../engine-errors.js';
import { createStateDb } from '../state-db.js';
import { writeOwnerFile } from '../run/owner.js';
import { Catalog, type NodeRow } from './catalog.js';
import { KeyRing } from './keyring.js';
import { buildNodeRow } from './node-row.js';
import { ObjectStore } from './objects.js';
import { ChunkStore } from '../chunks/store.js';
import { findProjectRoot, storePaths, type StorePaths } from './paths.js';

export { GENERATOR } from './node-row.js';
export const ROOT_NODE_ID = 'root';
export const ROOT_STATE_ID = 'state-root';

export interface StoreOptions {
  /** Create `.swarm/` in cwd when none is found upwards (default true). */
  create?: boolean;
  home?: string;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

export class Store {
  readonly paths: StorePaths;
  readonly catalog: Catalog;
  readonly keys: KeyRing;
  readonly objects: ObjectStore;
  readonly clock: Clock;

  private constructor(paths: StorePaths, catalog: Catalog, home: string, clock: Clock) {
    this.paths = paths;
    this.catalog = catalog;
    this.keys = new KeyRing(home);
    this.objects = new ObjectStore(paths);
    this.clock = clock;
  }

  #chunks: ChunkStore | undefined;

  /** The chunk store: packs, their catalog rows, and this installation's chunk keys. */
  get chunks(): ChunkStore {
    this.#chunks ??= new ChunkStore(this.catalog, this.keys.rootSecret, this.paths.packs, this.paths.tmp);
    return this.#chunks;
  }

  /** The operator's SWARM_HOME, where the keys live. */
  get home(): string {
    return this.keys.home;
  }

  static open(cwd: string, options: StoreOptions = {}): Store {
    const found = findProjectRoot(cwd);
    if (!found && options.create === false) {
      throw new SwarmError('STORE_NOT_FOUND', `no .swarm store in ${cwd} or its parents`, { hint: 'run `swarm init` or launch a run here' });
    }
    const paths = storePaths(found ?? path.resolve(cwd));
    for (const dir of [paths.root, paths.objects, paths.runs, paths.tmp]) fs.mkdirSync(dir, { recursive: true });
    const catalog = new Catalog(paths.catalog);
    return new Store(paths, catalog, options.home ?? swarmHome(options.env), options.clock ?? systemClock);
  }

  close(): void {
    this.catalog.close();
  }

  /** The empty root node every chain starts from; created on first use, deterministically. */
  async ensureRoot(): Promise<NodeRow> {
    const existing = this.catalog.getNode(ROOT_NODE_ID);
    if (existing) return existing;
    const keys = rootChainKeys(this.keys.rootSecret);
    const tmp = this.objects.tempDir('root');
    try {
      const workspaceDir = path.join(tmp, 'workspace');
      fs.mkdirSync(workspaceDir);
      const stateDbPath = path.join(tmp, 'state.db');
      createStateDb(stateDbPath);
      const dataKey = deriveDataKey(keys.state);
      const sealed = await createSealedBundle({ workspaceDir, stateDbPath, mtimeSec: 0, dataKey, outFile: path.join(tmp, 'bundle') });
      // gc keeps an object a live process is about to commit.
      writeOwnerFile(tmp);
      fs.writeFileSync(path.join(tmp, '.pending-object'), sealed.bundleSha256);
      this.objects.adopt(path.join(tmp, 'bundle'), sealed.bundleSha256);
      const row = buildNodeRow(this.keys, {
        nodeId: ROOT_NODE_ID,
        parentNodeId: null,
        kind: 'root',
        status: 'root',
        stateId: ROOT_STATE_ID,
        ratchetStep: 0,
        bundleSha256: sealed.bundleSha256,
        manifestSha256: sealed.manifestSha256,
        dataKey,
        keys,
        runId: null,
        label: null,
        createdAt: new Date(0).toISOString(),
        artifactHash: null,
      });
      this.catalog.write(() => {
        if (!this.catalog.getNode(ROOT_NODE_ID)) this.catalog.insertNode(row);
      });
      return this.catalog.getNode(ROOT_NODE_ID) as NodeRow;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }

  /** Resolves `root`, a node id, `run:<id>` or `branch:<label>`. */
  async resolve(ref: string): Promise<NodeRow> {
    const parsed = parseNodeRef(ref);
    let nodeId: string | undefined;
    switch (parsed.kind) {
      case 'root':
        return this.ensureRoot();
      case 'node':
        nodeId = parsed.nodeId;
        if (nodeId === ROOT_NODE_ID) return this.ensureRoot();
        break;
      case 'run':
        nodeId = this.catalog.getRun(parsed.runId)?.node_id ?? undefined;
        if (!nodeId) throw new SwarmError('NODE_NOT_FOUND', `no committed run ${parsed.runId} in this store`, { details: { ref } });
        break;
      case 'branch':
        nodeId = this.catalog.getAlias(`branch:${parsed.label}`);
        if (!nodeId) throw new SwarmError('NODE_NOT_FOUND', `no branch ${parsed.label} in this store`, { details: { ref } });
        break;
    }
    const node = this.catalog.getNode(nodeId);
    if (!node) throw new SwarmError('NODE_NOT_FOUND', `no node ${nodeId} in this store`, { details: { ref, suggestions: this.suggestRefs(nodeId) }, hint: this.hintFor(nodeId) });
    return node;
  }

  /** A bare name that is a run id or a branch label here: what the user probably meant. */
  private suggestRefs(name: string): string[] {
    const out: string[] = [];
    if (this.catalog.getRun(name)?.node_id) out.push(`run:${name}`);
    if (this.catalog.getAlias(`branch:${name}`)) out.push(`branch:${name}`);
    if (this.catalog.getNode(`node-${name}`)) out.push(`node-${name}`);
    return out;
  }

  private hintFor(name: string): string {
    const suggestions = this.suggestRefs(name);
    if (suggestions.length > 0) return `did you mean ${suggestions.join(' or ')}?`;
    return 'name a node as root, a node id, run:<run_id> or branch:<label> (`swarm run list`, `swarm graph`)';
  }
}
