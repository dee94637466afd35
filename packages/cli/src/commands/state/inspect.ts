import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class StateInspectCommand extends BaseCommand {
  static override paths = [['state', 'inspect']];

  static override usage = Command.Usage({
    category: 'State',
    description: "Describe a node: its contract, bundle manifest and state DB",
    details: 'Opens the node\'s sealed bundle with its capability and summarises it. Capabilities are shown sealed unless `--reveal`.',
    examples: [
      ['Inspect a run\'s node', '$0 state inspect --node run:first'],
      ['Show raw capability tokens', '$0 state inspect --node branch:experiment --reveal'],
    ],
  });

  node = Option.String('--node', { required: true, description: 'A node id, root, run:<run_id> or branch:<label>' });
  reveal = Option.Boolean('--reveal', false, { description: 'Print the raw capability tokens (secret!)' });

  async run(): Promise<number> {
    const { inspectNode } = await import('@swarm/state');
    const r = await inspectNode({ cwd: this.cwd, env: this.env, node: this.node, reveal: this.reveal });
    const node = r.node as { node_id: string; parent_node_id: string | null; state_db: { state_id: string; ratchet_step: number } };
    const human = [
      `node ${node.node_id} (${r.kind}, ${r.status}) ← ${node.parent_node_id ?? '-'}`,
      `state ${node.state_db.state_id}, ratchet step ${node.state_db.ratchet_step}`,
      `workspace: ${r.manifest.files} file(s), ${r.manifest.bytes} bytes; manifest ${r.manifest.manifest_sha256}`,
      `state DB: ${r.state_db.tables.map((t) => `${t.table}(${t.rows})`).join(' ')}`,
      `state_cap: ${r.capabilities.state_cap}`,
    ];
    this.output.ok(`node ${node.node_id}`, r, human.join('\n'));
    return 0;
  }
}
