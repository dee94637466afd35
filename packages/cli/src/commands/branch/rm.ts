import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class BranchRmCommand extends BaseCommand {
  static override paths = [['branch', 'rm']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Remove a branch label',
    details: `
      Removes \`branch:<label>\` (made by \`swarm run fork\`). The fork node made for the label goes
      too when no run was resumed from it; otherwise it stays, reachable by its node id, for the
      runs built on it. The runs themselves are removed with \`swarm run rm\`.
    `,
    examples: [['Remove a branch', '$0 branch rm experiment']],
  });

  label = Option.String({ name: 'label' });

  async run(): Promise<number> {
    const { removeBranch } = await import('@swarm/state');
    const result = await removeBranch({ cwd: this.cwd, env: this.env, label: this.label });
    const human = result.removed_node ? `removed ${result.branch} and its fork node ${result.node_id}` : `removed ${result.branch}; node ${result.node_id} stays for the runs built on it`;
    this.output.ok(`removed ${result.branch}`, result, human);
    return 0;
  }
}
