/**
 * The project store `.swarm/`: catalog, content-addressed objects and run directories, plus the
 * operator's keys from `$SWARM_HOME`. Nodes are resolved here, and capabilities are unsealed here
 * only, when a run needs them.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  SwarmError,
  canonicalize,
  chainKeyRef,
  decodeCapability,
  encodeCapability,
  capabilitySigningBytes,
  loadOrCreateRootSecret,
  loadOrCreateSigningKey,
  parseNodeRef,
  swarmHome,
  fsyncDir,
  systemClock,
  type Capability,
  type CapabilityKind,
  type Clock,
  type SigningKey,
} from '@swarm/core';
import crypto from 'node:crypto';
import { createSealedBundle } from '../bundle/index.js';
import { bundleWrapKey, deriveDataKey, openSecret, rootChainKeys, sealSecret, unwrapDataKey, wrapDataKey } from '../crypto/index.js';
import '../engine-errors.js';
import { createStateDb } from '../state-db.js';
import { writeOwnerFile } from '../run/owner.js';
import { Catalog, type NodeRow } from './catalog.js';
import { findProjectRoot, objectPath, storePaths, type StorePaths } from './paths.js';

export const GENERATOR = 'swarm/0.1.0';
export const ROOT_NODE_ID = 'root';
export const ROOT_STATE_ID = 'state-root';

export interface StoreOptions {
  /** Create `.swarm/` in cwd when none is found upwards (default true). */
  create?: boolean;
  home?: string;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
}

export interface ChainKeys {
  state: Buffer;
  net: Buffer;
}

export class Store {
  readonly paths: StorePaths;
  readonly catalog: Catalog;
  readonly home: string;
  readonly clock: Clock;
  private secret: Buffer | undefined;
  private signer: SigningKey | undefined;

  private constructor(paths: StorePaths, catalog: Catalog, home: string, clock: Clock) {
    this.paths = paths;
    this.catalog = catalog;
    this.home = home;
    this.clock = clock;
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

  get rootSecret(): Buffer {
    this.secret ??= loadOrCreateRootSecret(this.home);
    return this.secret;
  }

  get signingKey(): SigningKey {
    this.signer ??= loadOrCreateSigningKey(this.home);
    return this.signer;
  }

  /** A temporary directory inside the store (same file system as objects, so renames are atomic). */
  makeTempDir(prefix: string): string {
    return fs.mkdtempSync(path.join(this.paths.tmp, `${prefix}-${process.pid}-`));
  }

  objectFile(digest: string): string {
    return objectPath(this.paths, digest);
  }

  /** The empty root node every chain starts from; created on first use, deterministically. */
  async ensureRoot(): Promise<NodeRow> {
    const existing = this.catalog.getNode(ROOT_NODE_ID);
    if (existing) return existing;
    const keys = rootChainKeys(this.rootSecret);
    const tmp = this.makeTempDir('root');
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
      this.adoptObject(path.join(tmp, 'bundle'), sealed.bundleSha256);
      const row = this.buildNodeRow({
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

  /** Moves a finished sealed file into objects/ under its digest (idempotent). */
  adoptObject(file: string, digest: string): string {
    const target = this.objectFile(digest);
    const dir = path.dirname(target);
    const created = !fs.existsSync(dir);
    fs.mkdirSync(dir, { recursive: true });
    if (created) fsyncDir(path.dirname(dir));
    if (fs.existsSync(target)) {
      fs.rmSync(file, { force: true });
    } else {
      fs.renameSync(file, target);
      // The rename must be durable before a catalog row may point at the object.
      fsyncDir(dir);
    }
    return target;
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
        nodeId = this.catalog.getRun(parsed.runId)?.node_id;
        if (!nodeId) throw new SwarmError('NODE_NOT_FOUND', `no run ${parsed.runId} in this store`, { details: { ref } });
        break;
      case 'branch':
        nodeId = this.catalog.getAlias(`branch:${parsed.label}`);
        if (!nodeId) throw new SwarmError('NODE_NOT_FOUND', `no branch ${parsed.label} in this store`, { details: { ref } });
        break;
    }
    const node = this.catalog.getNode(nodeId);
    if (!node) throw new SwarmError('NODE_NOT_FOUND', `no node ${nodeId} in this store`, { details: { ref } });
    return node;
  }

  /** Unseals a node's chain keys (state_cap and net_cap). */
  chainKeys(node: NodeRow): ChainKeys {
    return {
      state: Buffer.from(this.openCapability(node.state_cap_sealed, 'state_cap', node.node_id).chain_key, 'hex'),
      net: Buffer.from(this.openCapability(node.net_cap_sealed, 'net_cap', node.node_id).chain_key, 'hex'),
    };
  }

  /** The raw capability token of a node (only for `--reveal`). */
  revealCapability(node: NodeRow, kind: CapabilityKind): string {
    return openSecret(kind === 'state_cap' ? node.state_cap_sealed : node.net_cap_sealed, this.rootSecret, `${kind}:${node.node_id}`);
  }

  private openCapability(sealed: string, kind: CapabilityKind, nodeId: string): Capability {
    const token = openSecret(sealed, this.rootSecret, `${kind}:${nodeId}`);
    return decodeCapability(token, kind);
  }

  /** Unwraps a node's bundle data key with its state chain key. */
  dataKey(node: NodeRow, stateKey: Buffer): Buffer {
    return unwrapDataKey(node.wrapped_key, bundleWrapKey(stateKey), wrapContext(node.bundle_sha256, node.state_id, node.ratchet_step));
  }

  /** A v2 capability token: kind-bound, audience = this installation, signed by the operator key. */
  capabilityToken(kind: CapabilityKind, stateId: string, ratchetStep: number, chainKey: Buffer): string {
    const unsigned = {
      version: 2 as const,
      kind,
      state_id: stateId,
      ratchet_step: ratchetStep,
      chain_key: chainKey.toString('hex'),
      audience: `swarm-store`,
      expires_at_unix: null,
      issuer: this.signingKey.keyId,
    };
    const signature = crypto.sign(null, capabilitySigningBytes(unsigned), this.signingKey.privateKey).toString('base64url');
    return encodeCapability({ ...unsigned, signature });
  }

  buildNodeRow(input: NodeRowInput): NodeRow {
    const stateToken = this.capabilityToken('state_cap', input.stateId, input.ratchetStep, input.keys.state);
    const netToken = this.capabilityToken('net_cap', input.stateId, input.ratchetStep, input.keys.net);
    const wrapped = wrapDataKey(input.dataKey, bundleWrapKey(input.keys.state), wrapContext(input.bundleSha256, input.stateId, input.ratchetStep));
    const objectRef = `swarm-object://sha256/${input.bundleSha256.slice(7)}`;
    const nodeDoc = {
      schema_version: 'agent_swarm-node-v1',
      node_id: input.nodeId,
      parent_node_id: input.parentNodeId,
      created_at: input.createdAt,
      workspace: { mode: 'snapshot', artifact_hash: input.bundleSha256, artifact_ref: objectRef },
      state_db: {
        state_id: input.stateId,
        snapshot_hash: input.bundleSha256,
        snapshot_ref: objectRef,
        ratchet_step: input.ratchetStep,
        engine: { kind: 'sqlite-serialized', schema_version: 'loom-state-v1' },
      },
      runtime: { checkpoint_supported: true, restore_compat: { substrate: 'swarm-local' } },
      network: { route_mode: input.routeMode ?? 'direct', token: { token_ref: chainKeyRef(input.keys.net.toString('hex')), ratchet_step: input.ratchetStep, expires_at: null } },
      attestation: { commit_sha_required: null, artifact_hash: input.artifactHash, proof_ref: null },
      tags: input.label ? [`branch:${input.label}`] : [],
      swarm: {
        generator: GENERATOR,
        kind: input.kind,
        status: input.status,
        manifest_sha256: input.manifestSha256,
        run_id: input.runId,
        label: input.label,
      },
    };
    return {
      node_id: input.nodeId,
      parent_node_id: input.parentNodeId,
      kind: input.kind,
      status: input.status,
      state_id: input.stateId,
      ratchet_step: input.ratchetStep,
      bundle_sha256: input.bundleSha256,
      manifest_sha256: input.manifestSha256,
      wrapped_key: wrapped,
      state_cap_sealed: sealSecret(stateToken, this.rootSecret, `state_cap:${input.nodeId}`),
      net_cap_sealed: sealSecret(netToken, this.rootSecret, `net_cap:${input.nodeId}`),
      run_id: input.runId,
      label: input.label,
      created_at: input.createdAt,
      node_json: canonicalize(nodeDoc),
    };
  }
}

export interface NodeRowInput {
  nodeId: string;
  parentNodeId: string | null;
  kind: NodeRow['kind'];
  status: string;
  stateId: string;
  ratchetStep: number;
  bundleSha256: string;
  manifestSha256: string;
  dataKey: Buffer;
  keys: ChainKeys;
  runId: string | null;
  label: string | null;
  createdAt: string;
  artifactHash: string | null;
  routeMode?: 'direct' | 'client_exit';
}

/** Binds a wrapped data key to the node it belongs to. */
export function wrapContext(bundleSha256: string, stateId: string, ratchetStep: number): string {
  return `swarm-bundle-key:v1:${bundleSha256}:${stateId}:${ratchetStep}`;
}
