import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';
import { transferMeter } from '../../run/signals.js';

export class StateBundleCommand extends BaseCommand {
  static override paths = [['state', 'bundle']];

  static override usage = Command.Usage({
    category: 'State',
    description: "Write a node's sealed bundle: the deterministic tar of its tree and state DB, encrypted under its data key",
    details:
      "The export and transport form of a node, produced from the store's chunks: the same node gives the same bytes in any store of this installation. Its manifest digest is the certificate's `bundle_manifest_sha256`; it opens with the node's state capability alone (the GitHub backend ships it to runners).",
    examples: [['Write the bundle of a run', '$0 state bundle --node run:r-1 --out r-1.swarm']],
  });

  node = Option.String('--node', { required: true, description: 'A node id, root, run:<run_id> or branch:<label>' });
  out = Option.String('--out', { required: true, description: 'The file to write (must not exist)' });

  async run(): Promise<number> {
    const { bundleNode } = await import('@swarm/state');
    const meter = transferMeter();
    const r = await bundleNode({
      cwd: this.cwd,
      env: this.env,
      node: this.node,
      out: this.out,
      onProgress: (done, total) => {
        const line = meter.line('bundling', done, total);
        if (line) this.output.progress(line);
      },
    });
    this.output.progressDone();
    this.output.ok(`wrote the bundle of ${r.node_id} to ${r.out}`, r, `wrote ${r.out}: ${r.size} bytes, ${r.sha256} (manifest ${r.manifest_sha256})`);
    return 0;
  }
}
