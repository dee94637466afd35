import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';

export class QuickstartCommand extends BaseCommand {
  static override paths = [['quickstart']];

  static override usage = Command.Usage({
    category: 'Setup',
    description: 'Demonstrate launch → resume → fork → resume-from-fork → verify in a temporary store',
    details: `
      Creates a temporary project store, runs a sample agent step (a Node.js script that edits a
      file in its workspace and remembers a counter in the state DB) through the whole engine:
      launch from root, resume, fork the first node, resume from the fork, then verifies the
      certificate chain of both branches and prints the DAG. Uses your swarm home for keys.
    `,
    examples: [
      ['Run the demo', '$0 quickstart'],
      ['Keep the temporary store to explore it', '$0 quickstart --keep'],
    ],
  });

  keep = Option.Boolean('--keep', false, { description: 'Keep the temporary store and print its path' });

  async run(): Promise<number> {
    const { runQuickstart } = await import('../quickstart/quickstart.js');
    const result = await runQuickstart({ env: this.env, keep: this.keep, log: (line) => this.output.info(line), warn: (line) => this.output.warn(line) });
    this.output.ok('quickstart finished', result, result.summary);
    return 0;
  }
}
