import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';

export class GcCommand extends BaseCommand {
  static override paths = [['gc']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Remove orphaned objects and run directories',
    details: 'Removes sealed objects no node references, run directories of runs that never committed (crashes), stale temporary files, and broker socket directories left in the temp dir by swarm processes that were killed. Live runs are left alone.',
    examples: [
      ['Clean up', '$0 gc'],
      ['See what would be removed', '$0 gc --dry-run'],
    ],
  });

  dryRun = Option.Boolean('--dry-run', false, { description: 'Only report what would be removed' });

  async run(): Promise<number> {
    const { collectGarbage } = await import('@swarm/state');
    const { removeStaleSocketDirs } = await import('@swarm/proxy');
    const store = await collectGarbage({ cwd: this.cwd, env: this.env, dryRun: this.dryRun });
    const sockets = removeStaleSocketDirs({ dryRun: this.dryRun });
    const r = { ...store, removed_socket_dirs: sockets.removed };
    const verb = this.dryRun ? 'would remove' : 'removed';
    this.output.ok(
      `${verb} ${r.removed_objects.length} object(s), ${r.removed_runs.length} run dir(s)`,
      r,
      `${verb} ${r.removed_objects.length} object(s), ${r.removed_runs.length} run dir(s), ${r.removed_tmp} temp entr(ies), ${r.removed_socket_dirs.length} socket dir(s); ${r.bytes_freed} bytes`,
    );
    return 0;
  }
}
