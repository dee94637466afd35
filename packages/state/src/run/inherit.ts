/**
 * A resumed run inherits its parent run's egress: the allowlist and route mode recorded in the
 * nearest ancestor run's policy.json (through forks and seeds). Resume means resume: the next
 * step of an agent needs the hosts the previous one had. The policy is believed only if it is the
 * one that run's certificate binds.
 */
import path from 'node:path';
import { SwarmError, parseStrictJson, readBoundedFile, sha256Digest, type RouteMode } from '@swarm/core';
import '../engine-errors.js';
import type { NodeRow } from '../store/catalog.js';
import { runDir } from '../store/paths.js';
import type { Store } from '../store/store.js';

export interface InheritedEgress {
  allowlist: string[];
  route_mode: RouteMode | null;
  /** The run whose policy it came from; null when no ancestor ran a step. */
  from_run: string | null;
  /** Where that run's step saw its workspace (the chain's mount path), when its policy says. */
  mount_path: string | null;
}

const MAX_CONTRACT_BYTES = 1024 * 1024;

export function inheritedEgress(store: Store, from: NodeRow): InheritedEgress {
  for (let node: NodeRow | undefined = from; node; node = node.parent_node_id ? store.catalog.getNode(node.parent_node_id) : undefined) {
    if (node.kind !== 'run' || !node.run_id) continue;
    return policyOf(store, node.run_id);
  }
  return { allowlist: [], route_mode: null, from_run: null, mount_path: null };
}

function policyOf(store: Store, runId: string): InheritedEgress {
  const dir = runDir(store.paths, runId);
  const invalid = (why: string, cause?: unknown) =>
    new SwarmError('PARENT_POLICY_INVALID', `cannot inherit the egress of run ${runId}: ${why}`, {
      details: { run_id: runId },
      hint: 'pass --no-inherit-egress to start from an empty allowlist (and --allow-host for what the step needs)',
      cause,
    });
  const read = (name: string) => {
    try {
      const parsed = parseStrictJson(readBoundedFile(path.join(dir, name), { what: name, maxBytes: MAX_CONTRACT_BYTES }));
      if (!parsed.ok) throw invalid(`its ${name} ${parsed.reason}`);
      return parsed;
    } catch (cause) {
      if (cause instanceof SwarmError && cause.code === 'PARENT_POLICY_INVALID') throw cause;
      throw invalid(`its ${name} cannot be read`, cause);
    }
  };
  const bytes = readBoundedFile(path.join(dir, 'policy.json'), { what: 'policy.json', maxBytes: MAX_CONTRACT_BYTES });
  const certificate = read('certificate.json').value as { policy?: { policy_hash?: string } };
  if (certificate.policy?.policy_hash !== sha256Digest(bytes)) throw invalid('its policy.json is not the policy its certificate binds');
  const policy = read('policy.json').value as { egress?: { allowlist?: unknown; sandbox?: unknown }; route_mode?: unknown; workspace?: { mount_path?: unknown } };
  const allowlist = policy.egress?.allowlist;
  if (!Array.isArray(allowlist) || !allowlist.every((h) => typeof h === 'string')) throw invalid('its policy has no allowlist');
  const routeMode = policy.route_mode === 'direct' || policy.route_mode === 'client_exit' ? policy.route_mode : null;
  // Null for an unsandboxed step, which saw its workspace where it lay on the host.
  const mountPath = typeof policy.workspace?.mount_path === 'string' ? policy.workspace.mount_path : null;
  return { allowlist: allowlist as string[], route_mode: routeMode, from_run: runId, mount_path: mountPath };
}
