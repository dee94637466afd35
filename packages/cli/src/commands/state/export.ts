import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class StateExportCommand extends BaseCommand {
  static override paths = [['state', 'export']];

  static override usage = Command.Usage({
    category: 'State',
    description: "Restore a node's workspace and state DB into a directory",
    examples: [['Export a branch', '$0 state export --node branch:experiment --out ./experiment']],
  });

  node = Option.String('--node', { required: true, description: 'A node id, root, run:<run_id> or branch:<label>' });
  out = Option.String('--out', { required: true, description: 'Target directory (must not exist or be empty)' });

  async run(): Promise<number> {
    const { exportNode } = await import('@swarm/state');
    const r = await exportNode({ cwd: this.cwd, env: this.env, node: this.node, out: this.out });
    this.output.ok(`exported ${r.node_id} to ${r.out}`, r, `exported ${r.node_id}: ${r.workspace}, ${r.state_db}`);
    return 0;
  }
}
