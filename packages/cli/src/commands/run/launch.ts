import { Command, Option } from 'clipanion';
import { StepCommand } from './step-command.js';

export class RunLaunchCommand extends StepCommand {
  static override paths = [['run', 'launch']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Run a step from a node and seal the outcome as a new node',
    details: `
      Restores the node's workspace and state DB into a fresh run directory, runs the step there
      (cwd = workspace) with egress only through the net_cap proxy, streams its output to
      \`.swarm/runs/<run_id>/step.log\` and the terminal, then snapshots, seals and certifies a child
      node. A failed step still produces a node with status \`failed\` (exit 7). An unrestorable node
      fails with exit 5 unless \`--allow-cold-start\`; no network sandbox fails with exit 6 unless
      \`--unsandboxed-egress\`.
    `,
    examples: [
      ['Run a script from the empty root', '$0 run launch --node root --step "./agent.sh" --run-id first'],
      ['Seed the workspace from a directory', '$0 run launch --workspace ./repo --step "claude -p \\"fix the tests\\"" --allow-host api.anthropic.com'],
    ],
  });

  workspace = Option.String('--workspace', { description: 'Seed the workspace from this directory (launch from root only)' });

  async run(): Promise<number> {
    return this.launch('launch', { workspace: this.workspace });
  }
}
