/**
 * Phase 3, policy: what the run was allowed to do, as `policy.json` (`agent_swarm-policy-v1`).
 * Its digest is bound into the certificate; the file is written only after the step, so the step
 * cannot have replaced it.
 */
import { assertValidDocument, canonicalBytes, sha256Digest, type Digest, type RouteMode, type SandboxKind } from '@swarm/core';
import { GENERATOR } from '../store/node-row.js';

export interface PolicyInput {
  routeMode: RouteMode;
  backend: 'local' | 'github';
  allowlist: string[];
  sandbox: SandboxKind;
  /** The attested form of the step command (see step-command.ts). */
  command: unknown;
  prompt: string | undefined;
  timeoutS: number | null;
  /** Names only: `--env`, `--pass-env`, and `--secret` (the stored secret's name and the variable it became). */
  env: { granted: string[]; passed: string[]; secrets: Array<{ name: string; env: string }> };
  /** Where the step saw its workspace in its sandbox; null unsandboxed (a host path says nothing of the chain). */
  mountPath: string | null;
  allowColdStart: boolean;
  workflowRef: string;
  generatedAt: string;
  /** Ports of the step published to the host's loopback (`--publish`); the host ports are the operator's, not recorded. */
  published?: number[];
}

export interface Policy {
  bytes: Buffer;
  sha256: Digest;
  commandSha256: Digest;
  promptSha256: Digest | null;
}

export function buildPolicy(input: PolicyInput): Policy {
  const commandSha256 = sha256Digest(canonicalBytes(input.command));
  const promptSha256 = input.prompt !== undefined ? sha256Digest(input.prompt) : null;
  const doc = {
    schema_version: 'agent_swarm-policy-v1',
    route_mode: input.routeMode,
    backend: input.backend,
    egress: { allowlist: input.allowlist, sandbox: input.sandbox },
    step: { command_sha256: commandSha256, prompt_sha256: promptSha256 },
    limits: { timeout_s: input.timeoutS },
    env: input.env,
    workspace: { mount_path: input.mountPath },
    restore: { allow_cold_start: input.allowColdStart },
    workflow_ref: input.workflowRef,
    generated_at: input.generatedAt,
    swarm: {
      generator: GENERATOR,
      unsandboxed_egress: input.sandbox === 'unsandboxed' || input.sandbox === 'bwrap-open-network',
      ...(input.published && input.published.length > 0 ? { published_ports: [...input.published].sort((a, b) => a - b) } : {}),
    },
  };
  assertValidDocument('policy', doc, 'policy.json');
  const bytes = canonicalBytes(doc);
  return { bytes, sha256: sha256Digest(bytes), commandSha256, promptSha256 };
}
