/**
 * A resumed run inherits its parent run's egress: the allowlist and route mode recorded in the
 * nearest ancestor run's policy.json (through forks and seeds). Resume means resume: the next
 * step of an agent needs the hosts the previous one had.
 */
import path from 'node:path';
import { readBoundedFile, type RouteMode } from '@swarm/core';
import type { NodeRow } from '../store/catalog.js';
import { runDir } from '../store/paths.js';
import type { Store } from '../store/store.js';

export interface InheritedEgress {
  allowlist: string[];
  route_mode: RouteMode | null;
  /** The run whose policy it came from; null when no ancestor ran a step. */
  from_run: string | null;
}

const MAX_POLICY_BYTES = 1024 * 1024;

export function inheritedEgress(store: Store, from: NodeRow): InheritedEgress {
  for (let node: NodeRow | undefined = from; node; node = node.parent_node_id ? store.catalog.getNode(node.parent_node_id) : undefined) {
    if (node.kind !== 'run' || !node.run_id) continue;
    // The policy this store wrote when the run committed; its digest is in the run's certificate.
    const bytes = readBoundedFile(path.join(runDir(store.paths, node.run_id), 'policy.json'), { what: 'policy of the parent run', maxBytes: MAX_POLICY_BYTES });
    const policy = JSON.parse(bytes.toString('utf8')) as { egress?: { allowlist?: string[] }; route_mode?: RouteMode };
    return { allowlist: policy.egress?.allowlist ?? [], route_mode: policy.route_mode ?? null, from_run: node.run_id };
  }
  return { allowlist: [], route_mode: null, from_run: null };
}
