import { Command, Option } from 'clipanion';
import { SwarmError } from '@swarm/core';
import { BaseCommand } from '../base-command.js';

export class ApplyCommand extends BaseCommand {
  static override paths = [['apply']];

  static override usage = Command.Usage({
    category: 'State',
    description: "Write a node's changes into a directory, or commit them to a new git branch",
    details: `
      Takes the changes between the base and the node and writes them into \`--to <dir>\`: files
      with their mode, symlinks as links, deleted files removed. The default base is the workspace
      the chain was seeded from (\`run launch --workspace\`), else root. Where the directory differs
      from the base in a path the change touches, nothing is written (APPLY_CONFLICT, exit 2)
      unless \`--force\`. Nothing is written outside the directory or through a symlink in it.

      With \`--branch <name>\`, the git repository at \`--to\` (default: here) gets a new branch whose
      commit is HEAD's tree with the changes applied; the working tree, the index and HEAD are not
      touched. The message names the run and its certificate's artifact hash.
    `,
    examples: [
      ['Bring a run\'s result back into the seed repository', '$0 apply --node run:fix-tests --to ./repo'],
      ['Commit it to a new branch instead', '$0 apply --node run:fix-tests --to ./repo --branch swarm/fix-tests'],
    ],
  });

  node = Option.String('--node', { required: true, description: 'A node id, root, run:<run_id> or branch:<label>' });
  to = Option.String('--to', { description: 'The directory to write into (with --branch: inside the git repository; default .)' });
  base = Option.String('--base', { description: 'The node the changes are measured from (default: the seeded workspace, else root)' });
  force = Option.Boolean('--force', false, { description: 'Overwrite paths that differ from the base' });
  branch = Option.String('--branch', { description: 'Commit to this new git branch instead of writing files' });

  async run(): Promise<number> {
    const state = await import('@swarm/state');
    const common = { cwd: this.cwd, env: this.env, node: this.node, base: this.base, force: this.force };
    if (this.branch !== undefined) {
      const r = await state.applyNodeToBranch({ ...common, to: this.to, branch: this.branch });
      this.output.ok(`created branch ${r.branch} at ${r.commit.slice(0, 12)}`, r, `branch ${r.branch} → ${r.commit} (${r.written.length} written, ${r.deleted.length} deleted)`);
      return 0;
    }
    if (this.to === undefined) throw new SwarmError('INVALID_ARGUMENT', 'apply needs --to <dir> (or --branch <name>)');
    const r = await state.applyNode({ ...common, to: this.to });
    const human = `applied ${r.node_id} to ${r.to}: ${r.written.length} written, ${r.deleted.length} deleted, ${r.unchanged.length} already up to date`;
    this.output.ok(human, r, human);
    return 0;
  }
}
