import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class WorkerRunCommand extends BaseCommand {
  static override paths = [['worker', 'run']];

  static override usage = Command.Usage({
    category: 'GitHub',
    description: 'Run one dispatched step inside a GitHub Actions job (the worker action calls this)',
    details: `
      Reads SWARM_REQUEST_ID, SWARM_ENVELOPE and SWARM_RUNNER_KEY, checks the envelope (operator
      signature, request id, repository, pin = GITHUB_SHA = GITHUB_WORKFLOW_SHA, time window),
      masks every capability it opens, fetches the parent's bundle, runs the step in swarm's
      sandbox with none of the job's tokens, and writes the run's artifact into \`--out\`: sealed
      bundle, contract files, redacted step log, next tokens sealed to the operator and a
      manifest — or \`error.json\` naming the stage that failed.
    `,
    examples: [['In the worker action', '$0 worker run --out "$RUNNER_TEMP/swarm-out"']],
  });

  out = Option.String('--out', { required: true, description: 'Directory for the artifact (created; must be empty)' });

  async run(): Promise<number> {
    const { runWorker } = await import('../../github/worker.js');
    return runWorker({ out: this.out, env: this.env, log: (line) => this.context.stdout.write(`${line}\n`) });
  }
}
