import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunStopCommand extends BaseCommand {
  static override paths = [['run', 'stop']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Stop a running run gracefully and seal its node',
    details: `
      Sends SIGTERM to the process that owns the run (its supervisor, for a detached run): the step
      gets SIGTERM, SIGKILL after a grace of 2 s, and a failed node is sealed as for Ctrl-C. A
      restart policy restarts nothing after a stop; a chain waiting between attempts just ends.
    `,
    examples: [['Stop a detached run', '$0 run stop first']],
  });

  runId = Option.String({ name: 'run-id', required: true });

  async run(): Promise<number> {
    const { signalRun } = await import('@swarm/state/supervision');
    const result = await signalRun({ cwd: this.cwd, env: this.env, runId: this.runId, how: 'stop' });
    this.output.ok(`stop requested for run ${this.runId}`, result);
    return 0;
  }
}
