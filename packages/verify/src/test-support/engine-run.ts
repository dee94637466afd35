/**
 * Test fixtures: certificates, policies and DSSE envelopes built exactly the way the run engine
 * writes them (canonical JSON, no trailing newline; the envelope's payload is the certificate bytes).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CERTIFICATE_PAYLOAD_TYPE, canonicalBytes, keyIdOf, sha256Digest, sha256Hex, signDsse, type SigningKey } from '@swarm/core';
import type { ChainLink, ChainState } from '../chain.js';

export const FIXTURE_EPOCH = 1_700_000_000;
export const FIXTURE_COMMIT = sha256Hex('fixture-commit').slice(0, 40);

export function newSigningKey(): SigningKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}

const iso = (unix: number) => new Date(unix * 1000).toISOString();
const digest = (label: string) => sha256Digest(`fixture:${label}`);

export function enginePolicy(now = FIXTURE_EPOCH): Record<string, unknown> {
  return {
    schema_version: 'agent_swarm-policy-v1',
    route_mode: 'direct',
    backend: 'local',
    egress: { allowlist: ['api.anthropic.com'], sandbox: 'netns' },
    step: { command_sha256: digest('command'), prompt_sha256: null },
    limits: { timeout_s: 600 },
    restore: { allow_cold_start: false },
    workflow_ref: `local/swarm-local-run@${FIXTURE_COMMIT}`,
    generated_at: iso(now),
    swarm: { generator: 'swarm/0.1.0' },
  };
}

export interface EngineRunOptions {
  runId?: string;
  /** Run clock (Unix seconds), like SOURCE_DATE_EPOCH. */
  now?: number;
  /** The pin after `@` in runtime.workflow_ref (40 hex, or `unpinned`). */
  pin?: string;
  parent?: ChainState;
  newState?: ChainState;
  key?: SigningKey;
  /** Seconds the replay window stays open after the run. */
  replayTtl?: number;
  nonce?: string;
  /** Changes to the certificate document before it is written. */
  edit?: (certificate: Record<string, any>) => void;
}

export interface EngineRun {
  document: Record<string, any>;
  certificate: Buffer;
  policy: Buffer;
  signature: Buffer;
  key: SigningKey;
  artifactHash: string;
}

export function engineRun(options: EngineRunOptions = {}): EngineRun {
  const runId = options.runId ?? 'r-0001';
  const now = options.now ?? FIXTURE_EPOCH;
  const key = options.key ?? newSigningKey();
  const parent = options.parent ?? { state_id: 'st_root', bundle_sha256: digest('bundle-root'), ratchet_step: 0 };
  const next = options.newState ?? { state_id: `st_${runId}`, bundle_sha256: digest(`bundle-${runId}`), ratchet_step: parent.ratchet_step + 1 };
  const policy = canonicalBytes(enginePolicy(now));
  const document: Record<string, any> = {
    type: 'loom-agent-run-v1',
    job_id: runId,
    request_hash: digest(`request-${runId}`),
    mode: 'prompt-run',
    parent_state: { ...parent },
    result: {
      response_sha256: digest(`response-${runId}`),
      response_locator: 'step.log',
      new_state: { ...next, bundle_manifest_sha256: digest(`manifest-${runId}`) },
    },
    runtime: {
      workflow_ref: `local/swarm-local-run@${options.pin ?? FIXTURE_COMMIT}`,
      runner_class: 'local',
      started_at: iso(now),
      finished_at: iso(now + 2),
    },
    replay: { nonce: options.nonce ?? sha256Hex(`nonce-${runId}-${crypto.randomUUID()}`), expires_at_unix: now + (options.replayTtl ?? 3600) },
    policy: {
      schema_version: 'agent_swarm-policy-v1',
      policy_hash: sha256Digest(policy),
      policy_ref: 'policy.json',
      policy_generated_at: iso(now),
    },
    timestamp: iso(now + 2),
    swarm: {
      generator: 'swarm/0.1.0',
      run_id: runId,
      node_id: `nd_${runId}`,
      parent_node_id: 'nd_root',
      status: 'succeeded',
      exit_code: 0,
      restore_mode: 'checkpoint',
    },
  };
  options.edit?.(document);
  const certificate = canonicalBytes(document);
  const signature = Buffer.from(JSON.stringify(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, key)));
  return { document, certificate, policy, signature, key, artifactHash: sha256Digest(certificate) };
}

/** A certificate as another v1 implementation writes it: no swarm block, no replay, no signature. */
export function v1Certificate(options: { pin?: string; policy?: Buffer } = {}): Buffer {
  const document: Record<string, unknown> = {
    type: 'loom-agent-run-v1',
    job_id: 'job-7f3a',
    request_hash: digest('request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'state-root', bundle_sha256: digest('bundle-0'), ratchet_step: 0 },
    result: {
      response_sha256: digest('response'),
      response_locator: 'artifacts/response.txt',
      new_state: { state_id: 'state-7f3a', bundle_sha256: digest('bundle-1'), bundle_manifest_sha256: digest('manifest-1') },
    },
    runtime: {
      workflow_ref: `acme/agents/.github/workflows/agent.yml@${options.pin ?? FIXTURE_COMMIT}`,
      runner_class: 'github-hosted/ubuntu-24.04',
      started_at: iso(FIXTURE_EPOCH),
      finished_at: iso(FIXTURE_EPOCH + 42),
    },
    timestamp: iso(FIXTURE_EPOCH + 42),
  };
  if (options.policy) {
    document.policy = { schema_version: 'agent_swarm-policy-v1', policy_hash: sha256Digest(options.policy), policy_ref: 'policy.json' };
  }
  // Other implementations need not write canonical JSON; pretty-printed bytes are what gets hashed.
  return Buffer.from(`${JSON.stringify(document, null, 2)}\n`);
}

/** The bytes a fixture bundle object holds; `digest(label)` is their sha256, as in a real store. */
export function bundleBytes(label: string): Buffer {
  return Buffer.from(`fixture:${label}`);
}

/**
 * A chain root → run → fork → run, as the node store would hand it over (leaf first), with the
 * artifact hashes the catalog recorded. With `objectsDir`, each bundle object is written there
 * (sha256/<hex>) and the links say where, like the store's objects directory.
 */
export function engineChain(key: SigningKey, options: { objectsDir?: string } = {}): { links: ChainLink[]; runs: EngineRun[] } {
  const root: ChainState = { state_id: 'st_root', bundle_sha256: digest('bundle-root'), ratchet_step: 0 };
  const run1 = engineRun({ runId: 'r-1', key, parent: root });
  const s1 = stateOf(run1);
  const fork: ChainState = { state_id: 'st_fork', bundle_sha256: s1.bundle_sha256, ratchet_step: s1.ratchet_step + 1 };
  const run2 = engineRun({ runId: 'r-2', key, parent: fork });
  const objects = new Map([root, s1, stateOf(run2)].map((s, i) => [s.bundle_sha256, ['bundle-root', 'bundle-r-1', 'bundle-r-2'][i]!]));
  const object = (state: ChainState): string | undefined => {
    if (options.objectsDir === undefined) return undefined;
    const file = path.join(options.objectsDir, 'sha256', state.bundle_sha256.slice('sha256:'.length));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (!fs.existsSync(file)) fs.writeFileSync(file, bundleBytes(objects.get(state.bundle_sha256)!));
    return file;
  };
  const runLink = (nodeId: string, parentNodeId: string, run: EngineRun): ChainLink => ({
    nodeId,
    parentNodeId,
    state: stateOf(run),
    certificate: run.certificate,
    signature: run.signature,
    policy: run.policy,
    kind: 'run',
    recordedArtifactHash: run.artifactHash,
    bundleObject: object(stateOf(run)),
  });
  const links: ChainLink[] = [
    runLink('nd_r2', 'nd_fork', run2),
    { nodeId: 'nd_fork', parentNodeId: 'nd_r1', state: fork, certificate: null, signature: null, policy: null, kind: 'fork', recordedArtifactHash: null, bundleObject: object(fork) },
    runLink('nd_r1', 'nd_root', run1),
    { nodeId: 'nd_root', parentNodeId: null, state: root, certificate: null, signature: null, policy: null, kind: 'root', recordedArtifactHash: null, bundleObject: object(root) },
  ];
  return { links, runs: [run2, run1] };
}

export function stateOf(run: EngineRun): ChainState {
  const s = run.document.result.new_state;
  return { state_id: s.state_id, bundle_sha256: s.bundle_sha256, ratchet_step: s.ratchet_step };
}

/**
 * Flips the lowest bit of one byte. By default it is a decimal digit inside response_sha256, so
 * the result is still a valid certificate that differs only in what the run produced.
 */
export function flipByte(bytes: Buffer, at?: number): Buffer {
  const copy = Buffer.from(bytes);
  let index = at ?? copy.indexOf('"response_sha256":"sha256:') + 26;
  if (at === undefined) while (copy[index]! < 0x30 || copy[index]! > 0x39) index++;
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}
