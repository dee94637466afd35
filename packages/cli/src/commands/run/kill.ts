import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunKillCommand extends BaseCommand {
  static override paths = [['run', 'kill']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Kill a running run at once',
    details: `
      Without --seal: SIGKILL to the run's process and to its step's process group. No node is
      recorded; the run is left abandoned (\`swarm gc\` cleans it up). With --seal: the step is killed
      at once (no grace) and its node sealed as a failed one.
    `,
    examples: [
      ['Kill a run, no node', '$0 run kill first'],
      ['Kill the step, keep its node', '$0 run kill first --seal'],
    ],
  });

  runId = Option.String({ name: 'run-id', required: true });
  seal = Option.Boolean('--seal', false, { description: 'Kill only the step, and seal its node as a failed one' });

  async run(): Promise<number> {
    const { signalRun } = await import('@swarm/state/supervision');
    const result = await signalRun({ cwd: this.cwd, env: this.env, runId: this.runId, how: this.seal ? 'kill-seal' : 'kill' });
    this.output.ok(`run ${this.runId} killed${this.seal ? ' (its node is being sealed)' : ''}`, result);
    return 0;
  }
}
