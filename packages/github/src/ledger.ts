/**
 * The dispatch ledger: one entry per request, written before anything goes out and advanced as
 * the remote run is learnt, so that a crash or a lost answer never makes swarm dispatch twice or
 * forget a run. `pending` (sent, outcome unknown) → `dispatched` (GitHub has it) → `running` →
 * `completed` → `collected`; `failed` and `cancelled` end it from any state before `collected`.
 */
import { SwarmError } from '@swarm/core';
import type { InputLocator } from './envelope.js';
import './errors.js';

export type LedgerStatus = 'pending' | 'dispatched' | 'running' | 'completed' | 'collected' | 'failed' | 'cancelled';

export interface LedgerEntry {
  schema_version: 'swarm-ledger-v1';
  request_id: string;
  /** The swarm run id the remote step runs as. */
  run_id: string;
  backend: 'github';
  repo: string;
  workflow_ref: string;
  /** The node collected from it, once collected. */
  node_id?: string;
  parent_node_id: string;
  remote_run_id: number | null;
  status: LedgerStatus;
  /** Dispatch POSTs sent. */
  attempts: number;
  created_at: string;
  updated_at: string;
  errors: Array<{ at: string; code: string; message: string }>;
  dispatch: {
    ref: string;
    pin: string;
    workflow: string;
    correlation: 'response' | 'run-name' | null;
    posts: Array<{ at: string; outcome: string; http_status: number | null; github_request_id: string | null }>;
  };
  remote?: { run_attempt: number; html_url: string; head_sha: string; status: string; conclusion: string | null; updated_at: string };
  input: { transport: InputLocator['transport']; sha256: string; size: number };
  artifact?: { id: number; name: string; digest: string | null; size: number };
  /** Whether the parent was sealed with a cold start allowed (the restore policy collect enforces). */
  allow_cold_start: boolean;
  operation: 'launch' | 'resume';
  step: unknown;
  /** GH_HOST when it was dispatched (null: github.com); collect talks to the same host. */
  host?: string | null;
  /** Whether collect requires the job's OIDC token with the certificate (absent: required). */
  oidc?: boolean;
}

const NEXT: Record<LedgerStatus, LedgerStatus[]> = {
  pending: ['pending', 'dispatched', 'running', 'completed', 'failed', 'cancelled'],
  dispatched: ['dispatched', 'running', 'completed', 'failed', 'cancelled'],
  running: ['running', 'completed', 'failed', 'cancelled'],
  completed: ['completed', 'collected', 'failed', 'cancelled'],
  collected: ['collected'],
  failed: ['failed'],
  cancelled: ['cancelled'],
};

export function isTerminal(status: LedgerStatus): boolean {
  return status === 'collected' || status === 'failed' || status === 'cancelled';
}

/** The entry in its next state; a move the state machine does not allow is refused. */
export function advance(entry: LedgerEntry, status: LedgerStatus, at: string, patch: Partial<LedgerEntry> = {}): LedgerEntry {
  if (!NEXT[entry.status].includes(status)) {
    throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is ${entry.status}; it cannot become ${status}`, {
      details: { request_id: entry.request_id, status: entry.status, wanted: status },
    });
  }
  return { ...entry, ...patch, status, updated_at: at };
}

export function withError(entry: LedgerEntry, at: string, error: unknown): LedgerEntry {
  const code = error instanceof SwarmError ? error.code : 'INTERNAL';
  const message = error instanceof Error ? error.message.slice(0, 500) : String(error);
  return { ...entry, errors: [...entry.errors, { at, code, message }], updated_at: at };
}
