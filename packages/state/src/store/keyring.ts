/**
 * The operator's key material as the engine uses it: the installation root secret (capabilities
 * are sealed under it) and the signing key (capabilities and certificates are signed with it).
 * Loaded from `$SWARM_HOME/keys` on first use; this is the only place capabilities are unsealed.
 */
import crypto from 'node:crypto';
import {
  capabilitySigningBytes,
  decodeCapability,
  encodeCapability,
  loadOrCreateRootSecret,
  loadOrCreateSigningKey,
  type Capability,
  type CapabilityKind,
  type SigningKey,
} from '@swarm/core';
import { bundleWrapKey, openSecret, sealSecret, unwrapDataKey, type ChainKeys } from '../crypto/index.js';
import type { NodeRow } from './catalog.js';

export type { ChainKeys };

export class KeyRing {
  private secret: Buffer | undefined;
  private signer: SigningKey | undefined;

  constructor(readonly home: string) {}

  get rootSecret(): Buffer {
    this.secret ??= loadOrCreateRootSecret(this.home);
    return this.secret;
  }

  get signingKey(): SigningKey {
    this.signer ??= loadOrCreateSigningKey(this.home);
    return this.signer;
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

  /** Unwraps a node's bundle data key with its state chain key. */
  dataKey(node: NodeRow, stateKey: Buffer): Buffer {
    return unwrapNodeDataKey(node, stateKey);
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

  /** A capability token sealed under the root secret for the catalog, bound to its node. */
  sealCapability(kind: CapabilityKind, nodeId: string, token: string): string {
    return sealSecret(token, this.rootSecret, `${kind}:${nodeId}`);
  }

  private openCapability(sealed: string, kind: CapabilityKind, nodeId: string): Capability {
    return decodeCapability(openSecret(sealed, this.rootSecret, `${kind}:${nodeId}`), kind);
  }
}

/** Binds a wrapped data key to the node it belongs to. */
export function wrapContext(bundleSha256: string, stateId: string, ratchetStep: number): string {
  return `swarm-bundle-key:v1:${bundleSha256}:${stateId}:${ratchetStep}`;
}

/** A node's bundle data key from its state chain key alone: what a worker with a capability does. */
export function unwrapNodeDataKey(node: Pick<NodeRow, 'wrapped_key' | 'bundle_sha256' | 'state_id' | 'ratchet_step'>, stateKey: Buffer): Buffer {
  return unwrapDataKey(node.wrapped_key, bundleWrapKey(stateKey), wrapContext(node.bundle_sha256, node.state_id, node.ratchet_step));
}
