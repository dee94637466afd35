import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunCancelCommand extends BaseCommand {
  static override paths = [['run', 'cancel']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Stop a running local run',
    details: 'Signals the swarm process that owns the run; it stops the step (its whole process group) and records a failed node.',
    examples: [['Stop a run', '$0 run cancel --run-id first']],
  });

  runId = Option.String('--run-id', { required: true, description: 'The run id' });

  async run(): Promise<number> {
    const { cancelRun } = await import('../../run/logs.js');
    const result = await cancelRun({ cwd: this.cwd, env: this.env, runId: this.runId });
    this.output.ok(`cancel requested for run ${this.runId}`, result);
    return 0;
  }
}
