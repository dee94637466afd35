/** The human summary of a finished run. */
import type { LaunchResult } from '@swarm/state';

export function describeLaunch(result: LaunchResult): string {
  const lines = [
    `run ${result.run_id} ${result.status}${result.exit_code !== null ? ` (exit ${result.exit_code})` : ''}`,
    `node ${result.node_id} ← ${result.parent_node_id} (restore: ${result.restore_mode}${result.restore_reason ? `, ${result.restore_reason}` : ''})`,
    `bundle ${result.bundle_sha256}`,
    `certificate ${result.artifact_hash}`,
    `egress: ${result.sandbox}${result.egress ? `, ${result.egress.allowed} allowed / ${result.egress.denied} denied` : ''}`,
    `allowlist: ${result.allowlist.length > 0 ? result.allowlist.join(', ') : '(none)'}${
      result.inherited_egress.from_run ? ` (inherited from run ${result.inherited_egress.from_run}${result.inherited_egress.allowlist.length === 0 ? ': none' : ''})` : ''
    }; route mode ${result.route_mode}`,
    `the step saw its workspace at ${result.workspace.mount_path}`,
    result.workspace.kept
      ? `workspace kept at ${result.workspace.path}`
      : `workspace was ${result.workspace.path} (removed after sealing; \`swarm state export --node ${result.node_id ?? `run:${result.run_id}`}\` brings it back)`,
  ];
  if (result.seed) lines.push(`seeded from ${result.seed.source} as ${result.seed.node_id}`);
  if (result.revealed) {
    lines.push(`state_cap_next: ${result.revealed.state_cap_next}`, `net_cap_next: ${result.revealed.net_cap_next}`);
  }
  return lines.join('\n');
}
