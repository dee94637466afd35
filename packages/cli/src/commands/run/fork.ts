import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunForkCommand extends BaseCommand {
  static override paths = [['run', 'fork']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Branch a node: a new node sharing its sealed state under a forked capability',
    details: `
      Creates a node that shares the sealed bundle of \`--node\` (nothing is re-encrypted; only the
      bundle key is re-wrapped under a capability forked for this branch) and points
      \`branch:<label>\` at it. Fork time does not depend on the workspace size.
    `,
    examples: [['Branch off a run', '$0 run fork --node run:first --label experiment']],
  });

  node = Option.String('--node', { required: true, description: 'Node to fork: a node id, root, run:<run_id> or branch:<label>' });
  label = Option.String('--label', { required: true, description: 'Branch label (letters, digits, . _ -)' });

  async run(): Promise<number> {
    const { forkNode } = await import('@swarm/state');
    const result = await forkNode({ cwd: this.cwd, node: this.node, label: this.label, env: this.env });
    this.output.ok(`forked ${result.parent_node_id} as ${result.branch}`, result, `${result.branch} → ${result.node_id} (from ${result.parent_node_id})`);
    return 0;
  }
}
