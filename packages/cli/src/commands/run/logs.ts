import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunLogsCommand extends BaseCommand {
  static override paths = [['run', 'logs']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: "Print a run's step output (redacted), optionally following it",
    details: 'Prints `.swarm/runs/<run_id>/step.log`. With `--follow`, keeps printing new output until the run finishes.',
    examples: [
      ['Print a log', '$0 run logs --run-id first'],
      ['Follow a running step', '$0 run logs --run-id first --follow'],
    ],
  });

  runId = Option.String('--run-id', { required: true, description: 'The run id' });
  follow = Option.Boolean('--follow,-f', false, { description: 'Keep printing until the run finishes' });

  async run(): Promise<number> {
    const { followRunLog } = await import('../../run/logs.js');
    const printed = await followRunLog({
      cwd: this.cwd,
      env: this.env,
      runId: this.runId,
      follow: this.follow,
      write: this.json ? undefined : (chunk) => this.context.stdout.write(chunk),
    });
    if (this.json) this.output.ok(`log of run ${this.runId}`, printed);
    return 0;
  }
}
