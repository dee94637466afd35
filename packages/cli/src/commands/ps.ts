import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { renderTable } from '../render/table.js';

export class PsCommand extends BaseCommand {
  static override paths = [['ps']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Show the running and recently finished runs of this store',
    details: `
      One line per run: its id, node (or the node it runs from), branch, agent or step, state,
      uptime (its duration once finished), egress decisions so far (allowed/denied) and restarts
      (the attempt of its restart chain). Running runs first, then the ten most recent finished ones
      (\`--all\` for every run). \`--watch\` redraws every second on a terminal until Ctrl-C.
    `,
    examples: [
      ['What is running', '$0 ps'],
      ['Every run, as JSON', '$0 ps --all --json'],
      ['Keep watching', '$0 ps --watch'],
    ],
  });

  all = Option.Boolean('--all,-a', false, { description: 'Every run of the store, not only the recent ones' });
  watch = Option.Boolean('--watch,-w', false, { description: 'Redraw every second (on a terminal) until interrupted' });

  async run(): Promise<number> {
    const { psRuns } = await import('@swarm/state/supervision');
    const { SwarmError } = await import('@swarm/core');
    const stdout = this.context.stdout as NodeJS.WriteStream;
    if (this.watch && (this.json || !stdout.isTTY)) throw new SwarmError('INVALID_ARGUMENT', '--watch draws on a terminal; without one, run `swarm ps --json` when you need it');
    const once = async () => {
      const runs = await psRuns({ cwd: this.cwd, env: this.env, all: this.all });
      return { runs, human: runs.length === 0 ? 'no runs' : renderTable(['RUN', 'NODE', 'BRANCH', 'STEP', 'STATE', 'UPTIME', 'EGRESS', 'RESTARTS'], runs.map(row)) };
    };
    if (!this.watch) {
      const { runs, human } = await once();
      this.output.ok(`${runs.length} run(s)`, { runs }, human);
      return 0;
    }
    let stopped = false;
    const stop = () => (stopped = true);
    process.once('SIGINT', stop);
    try {
      while (!stopped) {
        const { human } = await once();
        stdout.write(`\x1b[H\x1b[2J${human}\n\n${new Date().toISOString()}  (Ctrl-C to stop)\n`);
        for (let i = 0; i < 10 && !stopped; i += 1) await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      process.off('SIGINT', stop);
    }
    return 0;
  }
}

type PsRow = import('@swarm/state/supervision').PsRow;

function row(r: PsRow): string[] {
  return [
    r.run_id,
    r.node_id ?? `(from ${r.parent_node_id ?? '?'})`,
    r.branches.join(',') || '-',
    r.step.length > 40 ? `${r.step.slice(0, 39)}…` : r.step,
    r.status,
    r.uptime_ms === null ? '-' : duration(r.uptime_ms),
    `${r.egress.allowed}/${r.egress.denied}`,
    r.attempt === null ? '-' : `${r.attempt} (${r.restart_policy})`,
  ];
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
