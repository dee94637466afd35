import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';

export class DiffCommand extends BaseCommand {
  static override paths = [['diff']];

  static override usage = Command.Usage({
    category: 'State',
    description: "Show a node's workspace changes as a git-style patch",
    details: `
      Compares the node's workspace with its parent node's (or \`--base\`) and prints a unified diff
      in git's format (three lines of context; binary, very large and non-UTF-8 files as \`Binary
      files … differ\`; only the executable bit counts as a mode change). \`git apply\` reads it.
      Paths inside \`.git\` are left out. With \`--json\` the data holds \`files\` and \`patch\`.
    `,
    examples: [
      ['What the last run changed', '$0 diff --node run:fix-tests'],
      ['Everything since the chain started', '$0 diff --node branch:experiment --base root --stat'],
      ['Apply with git', '$0 diff --node run:fix-tests | git apply'],
    ],
  });

  node = Option.String('--node', { required: true, description: 'A node id, root, run:<run_id> or branch:<label>' });
  base = Option.String('--base', { description: "The node to compare with (default: the node's parent)" });
  stat = Option.Boolean('--stat', false, { description: 'Print a per-file summary instead of the patch' });

  async run(): Promise<number> {
    const { diffNodes } = await import('@swarm/state');
    const r = await diffNodes({ cwd: this.cwd, env: this.env, node: this.node, base: this.base });
    const { stat, ...data } = r;
    this.output.ok(`${r.files.length} file(s) changed`, this.stat ? { ...data, stat } : data, this.stat ? stat : r.patch);
    return 0;
  }
}
