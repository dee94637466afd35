/** The contract files a run leaves beside its certificate: result.json and next_tokens.json. */
import { assertValidDocument, canonicalBytes, type EgressSummary, type SandboxKind } from '@swarm/core';
import type { TranscriptSummary } from '../agents/ingest.js';
import type { NodeRow } from '../store/catalog.js';
import { GENERATOR } from '../store/node-row.js';
import type { RunFacts } from './record.js';

export interface ResultInput {
  facts: RunFacts;
  stateId: string;
  restoreReason: string | null;
  bundleSha256: string;
  artifactHash: string;
  durationMs: number;
  egress: EgressSummary;
  sandbox: SandboxKind;
  timedOut: boolean;
  interrupted: boolean;
  skipped: Array<{ path: string; reason: string }>;
  /** An agent run: which agent, the session it continued, its transcripts' counts (no text). */
  agent?: { name: string; resumed_session: string | null; transcripts: TranscriptSummary } | null;
}

export function resultDocument(input: ResultInput): Buffer {
  const { facts } = input;
  const doc = {
    run_id: facts.run_id,
    status: facts.status,
    operation: facts.operation,
    node_id: facts.node_id,
    parent_node_id: facts.parent_node_id,
    state_id: input.stateId,
    restore_mode: facts.restore_mode,
    ...(input.restoreReason ? { restore_reason: input.restoreReason } : {}),
    bundle_ref: `swarm-object://sha256/${input.bundleSha256.slice(7)}`,
    bundle_sha256: input.bundleSha256,
    certificate_ref: 'certificate.json',
    artifact_hash: input.artifactHash,
    exit_code: facts.exit_code,
    signal: facts.signal,
    duration_ms: input.durationMs,
    egress: input.egress,
    ...(input.agent ? { agent: { name: input.agent.name, resumed_session: input.agent.resumed_session, ...input.agent.transcripts } } : {}),
    swarm: { generator: GENERATOR, sandbox: input.sandbox, timed_out: input.timedOut, interrupted: input.interrupted, skipped_entries: input.skipped },
  };
  assertValidDocument('result', doc, 'result.json');
  return canonicalBytes(doc);
}

/** The next capabilities, sealed for this store: raw tokens never sit in a file by default. */
export function nextTokensDocument(row: NodeRow): Buffer {
  const doc = {
    state_cap_next: row.state_cap_sealed,
    net_cap_next: row.net_cap_sealed,
    state_id_next: row.state_id,
    ratchet_step: row.ratchet_step,
    swarm: { generator: GENERATOR, sealed: true },
  };
  assertValidDocument('next_tokens', doc, 'next_tokens.json');
  assertValidDocument('node', JSON.parse(row.node_json), 'node');
  return canonicalBytes(doc);
}
