import { Command } from 'clipanion';
import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../render/table.js';

export class RunListCommand extends BaseCommand {
  static override paths = [['run', 'list']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'List the runs of this project store',
    examples: [['All runs', '$0 run list']],
  });

  async run(): Promise<number> {
    const { listRuns } = await import('@swarm/state');
    const runs = await listRuns({ cwd: this.cwd, env: this.env });
    const human =
      runs.length === 0
        ? 'no runs yet'
        : renderTable(
            ['RUN', 'STATUS', 'NODE', 'PARENT'],
            runs.map((r) => [r.run_id, r.status, r.node_id ?? '-', r.parent_node_id ?? '-']),
          );
    this.output.ok(`${runs.length} run(s)`, { runs }, human);
    return 0;
  }
}
