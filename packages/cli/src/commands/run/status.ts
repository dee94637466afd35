import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class RunStatusCommand extends BaseCommand {
  static override paths = [['run', 'status']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Show the status of a run',
    details: 'Shows whether the run is running, committed or abandoned (left by a crash; `swarm gc` removes it), with its node and exit status.',
    examples: [['Status of a run', '$0 run status --run-id first']],
  });

  runId = Option.String('--run-id', { required: true, description: 'The run id' });

  async run(): Promise<number> {
    const { runStatus } = await import('@swarm/state');
    const s = await runStatus({ cwd: this.cwd, runId: this.runId, env: this.env });
    const human = [
      `run ${s.run_id}: ${s.status} (${s.state})`,
      s.node_id ? `node ${s.node_id} ← ${s.parent_node_id}, restore ${s.restore_mode}, exit ${s.exit_code ?? s.signal}` : '',
      s.artifact_hash ? `certificate ${s.artifact_hash}` : '',
    ].filter(Boolean);
    this.output.ok(`run ${s.run_id} ${s.status}`, s, human.join('\n'));
    return 0;
  }
}
