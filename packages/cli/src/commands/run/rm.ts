import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunRmCommand extends BaseCommand {
  static override paths = [['run', 'rm']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Remove committed runs: their nodes and run directories',
    details: `
      Removes each run's node from the catalog and its directory under \`.swarm/runs/\`. A run that
      later runs resumed from, or that a branch was forked from, is kept with a
      \`RUN_HAS_DESCENDANTS\` error listing them, unless \`--force\` removes the whole subtree with its
      branch labels. Nothing is removed while any run is in progress. The sealed objects are left
      for \`swarm gc\`, which reclaims those no node references any more.
    `,
    examples: [
      ['Remove a run', '$0 run rm first'],
      ['Remove a run and everything built on it', '$0 run rm first --force'],
    ],
  });

  force = Option.Boolean('--force', false, { description: 'Also remove every run, fork and branch label that descends from these runs' });
  runIds = Option.Rest({ required: 1, name: 'run_id' });

  async run(): Promise<number> {
    const { removeRuns } = await import('@swarm/state');
    const result = await removeRuns({ cwd: this.cwd, env: this.env, runIds: this.runIds, force: this.force });
    const lines = [`removed ${result.removed_nodes.length} node(s): ${result.removed_nodes.map((n) => n.run_id ?? n.label ?? n.node_id).join(', ')}`];
    if (result.removed_branches.length > 0) lines.push(`removed ${result.removed_branches.join(', ')}`);
    if (result.left_for_gc.length > 0) lines.push(`could not remove the directories of ${result.left_for_gc.join(', ')} now; \`swarm gc\` will`);
    lines.push('run `swarm gc` to reclaim the space of objects no node uses any more');
    this.output.ok(`removed ${result.removed_runs.length} run(s)`, result, lines.join('\n'));
    return 0;
  }
}
