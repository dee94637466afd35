import { Command, Option } from 'clipanion';
import { StepCommand } from './step-command.js';

export class RunResumeCommand extends StepCommand {
  static override paths = [['run', 'resume']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Run the next step from an existing node',
    details: `
      A launch from a non-root node: the step sees exactly that node's workspace and state DB, and
      its outcome becomes a child node. \`--node\` is required. The run inherits its parent run's
      egress allowlist and route mode (\`--allow-host\` adds to them, \`--no-inherit-egress\` starts
      empty). Takes the same options as \`run launch\`.
    `,
    examples: [
      ['Continue from a run', '$0 run resume --node run:first --step "./agent.sh"'],
      ['Continue a branch', '$0 run resume --node branch:experiment --step "./agent.sh" --timeout 600'],
    ],
  });

  // Resume means resume: no silent start from root when --node is forgotten.
  override node = Option.String('--node', { required: true, description: 'Node to continue from: a node id, run:<run_id> or branch:<label>' });

  async run(): Promise<number> {
    return this.launch('resume');
  }
}
