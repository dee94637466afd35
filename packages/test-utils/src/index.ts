/**
 * Fixture builders for tests: valid contract documents built in code, plus helpers to derive
 * invalid variants from them. Every builder returns a fresh object, so tests may mutate it.
 *
 * Two flavours per contract where it matters:
 * - `swarm*` builders return documents as swarm writes them: a `swarm` block and strict
 *   `sha256:<64 lowercase hex>` digests;
 * - `*V1` builders return documents as other agent_swarm implementations write them: the v1 fields
 *   only, no `swarm` block.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canonicalize, encodeCapability, isSwarmError, sha256Digest, sha256Hex, type Capability, type Digest } from '@swarm/core';

/** The fixed clock every fixture uses (2023-11-14T22:13:20Z), like SOURCE_DATE_EPOCH in a run. */
export const FIXTURE_EPOCH = 1_700_000_000;
export const FIXTURE_TIME = new Date(FIXTURE_EPOCH * 1000).toISOString();
export const FIXTURE_GENERATOR = 'swarm/0.1.0';
export const FIXTURE_COMMIT = sha256Hex('fixture-commit').slice(0, 40);
export const FIXTURE_WORKFLOW_REF = `acme/agents/.github/workflows/swarm-worker.yml@${FIXTURE_COMMIT}`;
export const FIXTURE_RUN_ID = 'run-20231114-0001';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** A stable, realistic digest of a label (so fixtures differ where they should). */
export function digestOf(label: string): Digest {
  return sha256Digest(`fixture:${label}`);
}

/** A 64-hex chain key derived from a label (never a real key). */
export function chainKeyOf(label: string): string {
  return sha256Hex(`fixture-chain-key:${label}`);
}

export function swarmBlock(): JsonObject {
  return { generator: FIXTURE_GENERATOR };
}

function at(offsetSeconds: number): string {
  return new Date((FIXTURE_EPOCH + offsetSeconds) * 1000).toISOString();
}

// ---------------------------------------------------------------------------------------------
// policy

export function swarmPolicy(): JsonObject {
  return {
    schema_version: 'agent_swarm-policy-v1',
    route_mode: 'direct',
    backend: 'local',
    egress: { allowlist: ['api.anthropic.com', '*.githubusercontent.com:443'], sandbox: 'netns' },
    step: { command_sha256: digestOf('step-command'), prompt_sha256: digestOf('prompt') },
    limits: { timeout_s: 600 },
    restore: { allow_cold_start: false },
    workflow_ref: 'local',
    generated_at: FIXTURE_TIME,
    swarm: swarmBlock(),
  };
}

/** The exact bytes swarm writes for a policy: canonical JSON. */
export function policyBytes(policy: JsonObject = swarmPolicy()): Buffer {
  return Buffer.from(canonicalize(policy), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// certificate

/** A certificate as another agent_swarm implementation writes it (no `swarm` block). */
export function certificateV1(): JsonObject {
  return {
    type: 'loom-agent-run-v1',
    job_id: 'job-7f3a',
    request_hash: digestOf('request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'state-root', bundle_sha256: digestOf('bundle-0'), ratchet_step: 0 },
    result: {
      response_sha256: digestOf('response'),
      response_locator: 'artifacts/response.txt',
      new_state: { state_id: 'state-7f3a', bundle_sha256: digestOf('bundle-1'), bundle_manifest_sha256: digestOf('manifest-1') },
    },
    runtime: {
      workflow_ref: FIXTURE_WORKFLOW_REF,
      runner_class: 'github-hosted/ubuntu-24.04',
      started_at: at(0),
      finished_at: at(42),
    },
    timestamp: at(42),
  };
}

/** A certificate as swarm writes it: replay block, policy binding, `swarm` block. */
export function swarmCertificate(policy: JsonObject = swarmPolicy()): JsonObject {
  return {
    type: 'loom-agent-run-v1',
    job_id: FIXTURE_RUN_ID,
    request_hash: digestOf('request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'st_root', bundle_sha256: digestOf('bundle-0'), ratchet_step: 0 },
    result: {
      response_sha256: digestOf('response'),
      response_locator: `runs/${FIXTURE_RUN_ID}/step.log`,
      new_state: {
        state_id: 'st_0001',
        bundle_sha256: digestOf('bundle-1'),
        bundle_manifest_sha256: digestOf('manifest-1'),
        ratchet_step: 1,
      },
    },
    runtime: { workflow_ref: 'local', runner_class: 'local/linux-x64', started_at: at(0), finished_at: at(3) },
    replay: { nonce: sha256Hex('fixture-nonce').slice(0, 32), expires_at_unix: FIXTURE_EPOCH + 3600 },
    policy: {
      schema_version: 'agent_swarm-policy-v1',
      policy_hash: sha256Digest(policyBytes(policy)),
      policy_ref: `runs/${FIXTURE_RUN_ID}/policy.json`,
      policy_generated_at: String(policy.generated_at ?? FIXTURE_TIME),
    },
    timestamp: at(3),
    swarm: swarmBlock(),
  };
}

/** The exact bytes swarm writes for a certificate: canonical JSON; artifact_hash is their digest. */
export function certificateBytes(certificate: JsonObject = swarmCertificate()): Buffer {
  return Buffer.from(canonicalize(certificate), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// node

export function nodeV1(): JsonObject {
  return {
    schema_version: 'agent_swarm-node-v1',
    node_id: 'node-7f3a',
    parent_node_id: null,
    workspace: { mode: 'snapshot', artifact_hash: digestOf('workspace-1'), artifact_ref: 'artifacts/workspace.tar' },
    state_db: {
      state_id: 'state-7f3a',
      snapshot_hash: digestOf('state-db-1'),
      snapshot_ref: 'artifacts/state.db',
      ratchet_step: 1,
      engine: { kind: 'sqlite-serialized', schema_version: 'loom-state-v1' },
    },
    network: { route_mode: 'client_exit', token: { token_ref: 'secrets/net_cap', ratchet_step: 1, expires_at: null } },
    attestation: { commit_sha_required: FIXTURE_COMMIT, artifact_hash: digestOf('certificate-1'), proof_ref: null },
  };
}

export function swarmNode(): JsonObject {
  return {
    schema_version: 'agent_swarm-node-v1',
    node_id: 'nd_0001',
    parent_node_id: 'nd_root',
    created_at: at(3),
    workspace: { mode: 'snapshot', artifact_hash: digestOf('bundle-1'), artifact_ref: `objects/${digestOf('bundle-1').slice(7)}` },
    state_db: {
      state_id: 'st_0001',
      snapshot_hash: digestOf('state-db-1'),
      snapshot_ref: `objects/${digestOf('bundle-1').slice(7)}#state.db`,
      ratchet_step: 1,
      engine: { kind: 'sqlite-serialized', schema_version: 'loom-state-v1' },
    },
    runtime: { checkpoint_supported: true, restore_compat: { substrate: 'linux-x64' } },
    network: { route_mode: 'direct', token: { token_ref: 'nc_ref_0001', ratchet_step: 1, expires_at: at(3600) } },
    attestation: { commit_sha_required: null, artifact_hash: digestOf('certificate-1'), proof_ref: null },
    tags: ['branch:main'],
    swarm: swarmBlock(),
  };
}

// ---------------------------------------------------------------------------------------------
// result

export function resultV1(): JsonObject {
  return {
    run_id: 'job-7f3a',
    status: 'succeeded',
    operation: 'prompt-run',
    node_id: 'node-7f3a',
    parent_node_id: null,
    state_id: 'state-7f3a',
    restore_mode: 'cold_start',
    bundle_ref: 'artifacts/bundle.tar.enc',
    bundle_sha256: digestOf('bundle-1'),
    certificate_ref: 'artifacts/certificate.json',
    artifact_hash: digestOf('certificate-1'),
  };
}

export function swarmResult(): JsonObject {
  return {
    run_id: FIXTURE_RUN_ID,
    status: 'succeeded',
    operation: 'launch',
    node_id: 'nd_0001',
    parent_node_id: 'nd_root',
    state_id: 'st_0001',
    restore_mode: 'checkpoint',
    bundle_ref: `objects/${digestOf('bundle-1').slice(7)}`,
    bundle_sha256: digestOf('bundle-1'),
    certificate_ref: `runs/${FIXTURE_RUN_ID}/certificate.json`,
    artifact_hash: digestOf('certificate-1'),
    exit_code: 0,
    signal: null,
    duration_ms: 1834,
    egress: { requests: 3, allowed: 2, denied: 1, bytes_in: 5120, bytes_out: 734, hosts: ['api.anthropic.com'] },
    swarm: swarmBlock(),
  };
}

// ---------------------------------------------------------------------------------------------
// next_tokens

export function nextTokensV1(): JsonObject {
  return {
    state_cap_next: capabilityToken(capabilityV1('state_cap', 2)),
    net_cap_next: capabilityToken(capabilityV1('net_cap', 2)),
    state_id_next: 'state-7f3b',
    ratchet_step: 2,
  };
}

/** swarm writes sealed references to the next tokens, never raw tokens. */
export function swarmNextTokens(): JsonObject {
  return {
    state_cap_next: 'sealed:sc_0002',
    net_cap_next: 'sealed:nc_0002',
    state_id_next: 'st_0002',
    ratchet_step: 2,
    swarm: swarmBlock(),
  };
}

// ---------------------------------------------------------------------------------------------
// capability

export function capabilityV1(kind: 'state_cap' | 'net_cap' = 'state_cap', ratchetStep = 1): Capability & JsonObject {
  return { version: 1, kind, state_id: 'st_0001', ratchet_step: ratchetStep, chain_key: chainKeyOf(`${kind}:${ratchetStep}`) };
}

export function capabilityV2(kind: 'state_cap' | 'net_cap' = 'net_cap', ratchetStep = 1): Capability & JsonObject {
  return {
    version: 2,
    kind,
    state_id: 'st_0001',
    ratchet_step: ratchetStep,
    chain_key: chainKeyOf(`${kind}:${ratchetStep}`),
    audience: `run:${FIXTURE_RUN_ID}`,
    expires_at_unix: FIXTURE_EPOCH + 3600,
    issuer: sha256Hex('fixture-issuer').slice(0, 16),
    // Shape only: tests that need a real signature sign capabilitySigningBytes() themselves.
    signature: Buffer.alloc(64, 7).toString('base64url'),
  };
}

export function capabilityToken(payload: JsonObject): string {
  return encodeCapability(payload as unknown as Capability);
}

// ---------------------------------------------------------------------------------------------
// ticket, ledger, output envelope

export function ticket(): JsonObject {
  return {
    schema_version: 'swarm-ticket-v1',
    session_id: 'ses_4k9Qm2xT',
    secret: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ',
    run_id: FIXTURE_RUN_ID,
    allowlist: ['api.anthropic.com', '*.githubusercontent.com:443'],
    route_mode: 'direct',
    issued_at_unix: FIXTURE_EPOCH,
    expires_at_unix: FIXTURE_EPOCH + 900,
    key_id: 'tk_0001',
    mac: Buffer.from(sha256Hex('fixture-ticket-mac'), 'hex').toString('base64url'),
  };
}

export function ledgerEntry(): JsonObject {
  return {
    schema_version: 'swarm-ledger-v1',
    request_id: 'req_8d1c2b7e',
    run_id: FIXTURE_RUN_ID,
    backend: 'github',
    repo: 'acme/agents',
    workflow_ref: FIXTURE_WORKFLOW_REF,
    node_id: 'nd_root',
    remote_run_id: 9_876_543_210,
    status: 'dispatched',
    attempts: 1,
    created_at: at(0),
    updated_at: at(5),
    errors: [{ at: at(2), code: 'BACKEND_HTTP_5XX', message: 'HTTP 502 from api.github.com; retried' }],
  };
}

export function okEnvelope(): JsonObject {
  return { status: 'ok', message: 'swarm is initialised', data: { home: '/home/op/.swarm', created: true } };
}

export function errorEnvelope(): JsonObject {
  return {
    status: 'error',
    message: 'certificate.json is invalid: /mode must be one of "prompt-run", "state-license"',
    error: {
      code: 'SCHEMA_INVALID',
      category: 'input',
      retryable: false,
      message: 'certificate.json is invalid: /mode must be one of "prompt-run", "state-license"',
      details: { schema: 'certificate', errors: [{ path: '/mode', keyword: 'enum', message: 'must be one of "prompt-run", "state-license"' }] },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// deriving invalid variants

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * A copy of `document` with fields changed, addressed by JSON Pointer; `undefined` removes the
 * field. Missing intermediate objects are created.
 */
export function patch<T extends object>(document: T, changes: Record<string, unknown>): T {
  const copy = clone(document);
  for (const [pointer, value] of Object.entries(changes)) {
    const keys = parsePointer(pointer);
    if (keys.length === 0) throw new Error('patch cannot replace the whole document');
    let parent: Record<string, unknown> = copy as Record<string, unknown>;
    for (const key of keys.slice(0, -1)) {
      const next = parent[key];
      if (typeof next !== 'object' || next === null) parent[key] = {};
      parent = parent[key] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1]!;
    if (value === undefined) {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      parent[last] = value;
    }
  }
  return copy;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`not a JSON Pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

// ---------------------------------------------------------------------------------------------
// temporary directories

/** A fresh temporary directory; call the returned `cleanup` in afterEach/afterAll. */
export function makeTempDir(prefix = 'swarm-test-'): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Environment for a process that must not touch the real ~/.swarm. */
export function isolatedEnv(dir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', HOME: path.join(dir, 'home'), SWARM_HOME: path.join(dir, 'swarm-home') };
  if (process.env.SYSTEMROOT) env.SYSTEMROOT = process.env.SYSTEMROOT;
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// errors

/**
 * The code of the SwarmError `fn` throws: `'(no error)'` when it returns, `'(not a SwarmError)'`
 * when it throws something else. Tests compare codes, never messages.
 */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return isSwarmError(error) ? error.code : '(not a SwarmError)';
  }
  return '(no error)';
}

export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (error) {
    return isSwarmError(error) ? error.code : '(not a SwarmError)';
  }
  return '(no error)';
}

/** The error `fn` throws (fails loudly when it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the function to throw');
}
export { testPki, type TestPki } from './github/pki.js';
