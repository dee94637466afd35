import { Command, Option } from 'clipanion';
import type { StorageStats } from '@swarm/state';
import { BaseCommand } from '../base-command.js';

export class GcCommand extends BaseCommand {
  static override paths = [['gc']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Remove orphaned objects, chunks and run directories',
    details:
      'Removes sealed objects no node references, chunks no node refers to (packs with nothing left in them are deleted, mostly dead ones rewritten), run directories of runs that never committed (crashes), stale temporary files, and broker socket directories left in the temp dir by swarm processes that were killed. Live runs are left alone; while one is in progress, chunks are not swept. `--stats` reports what the nodes hold against what the store keeps (the deduplication ratio).',
    examples: [
      ['Clean up', '$0 gc'],
      ['See what would be removed', '$0 gc --dry-run'],
      ['Logical against stored bytes', '$0 gc --stats'],
    ],
  });

  dryRun = Option.Boolean('--dry-run', false, { description: 'Only report what would be removed' });
  stats = Option.Boolean('--stats', false, { description: 'Also report logical against stored bytes (dedup ratio) and the tree cache' });

  async run(): Promise<number> {
    const { collectGarbage } = await import('@swarm/state');
    const { removeStaleSocketDirs } = await import('@swarm/proxy');
    const store = await collectGarbage({ cwd: this.cwd, env: this.env, dryRun: this.dryRun, stats: this.stats });
    const sockets = removeStaleSocketDirs({ dryRun: this.dryRun });
    const r = { ...store, removed_socket_dirs: sockets.removed };
    const verb = this.dryRun ? 'would remove' : 'removed';
    this.output.ok(
      `${verb} ${r.removed_objects.length} object(s), ${r.removed_runs.length} run dir(s)`,
      r,
      [
        `${verb} ${r.removed_objects.length} object(s), ${r.removed_runs.length} run dir(s), ${r.removed_tmp} temp entr(ies), ${r.removed_socket_dirs.length} socket dir(s); ${r.bytes_freed} bytes`,
        r.chunks?.swept
          ? `chunks: ${verb} ${r.chunks.removed_chunks} chunk(s), ${r.chunks.removed_packs} pack(s); ${r.chunks.repacked_packs} pack(s) rewritten`
          : `chunks: left alone (${r.chunks?.skipped_reason ?? 'nothing to do'})`,
        ...(r.stats ? statsLines(r.stats) : []),
      ].join('\n'),
    );
    return 0;
  }
}

function statsLines(s: StorageStats): string[] {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  return [
    `nodes: ${s.nodes} (${s.bundle_nodes} stored as tar bundles)`,
    `logical: ${mb(s.logical_bytes)} held by the nodes; unique: ${mb(s.unique_bytes)} in ${s.chunks} chunk(s)`,
    `stored: ${mb(s.stored_bytes)} (${s.packs} pack(s) ${mb(s.pack_bytes)}, objects ${mb(s.object_bytes)}); dedup ratio ${s.dedup_ratio ?? '—'}×`,
    `tree cache: ${s.cache.trees} tree(s), ${mb(s.cache.bytes)} (plaintext; SWARM_TREE_CACHE=off turns it off)`,
  ];
}
