import { Command } from 'clipanion';
import { StepCommand } from './step-command.js';

export class RunResumeCommand extends StepCommand {
  static override paths = [['run', 'resume']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Run the next step from an existing node',
    details: `
      A launch from a non-root node: the step sees exactly that node's workspace and state DB, and
      its outcome becomes a child node. Takes the same options as \`run launch\`.
    `,
    examples: [
      ['Continue from a run', '$0 run resume --node run:first --step "./agent.sh"'],
      ['Continue a branch', '$0 run resume --node branch:experiment --step "./agent.sh" --timeout 600'],
    ],
  });

  async run(): Promise<number> {
    return this.launch('resume');
  }
}
