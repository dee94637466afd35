/** One node of a certificate chain as a node store hands it to a verifier (leaf first, root last). */
export interface ChainLink {
  nodeId: string;
  parentNodeId: string | null;
  state: { state_id: string; bundle_sha256: string; ratchet_step: number };
  /** Exact certificate bytes; null for the root and for forks. */
  certificate: Buffer | null;
  signature: Buffer | null;
  policy: Buffer | null;
  kind: 'root' | 'run' | 'fork' | 'import';
  /**
   * `seeded` marks an import that is the operator's seed of the chain (a `--workspace` launch):
   * it has no certificate, as the root has none.
   */
  status?: string;
  /**
   * The artifact hash the catalog recorded for the node's run; null when it recorded none.
   * Omitted when the source cannot say (the check is then reported as skipped).
   */
  recordedArtifactHash?: string | null;
  /** Where the store keeps the sealed bundle `state.bundle_sha256`, present or not; omitted or null: no store. */
  bundleObject?: string | null;
}
