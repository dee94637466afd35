import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class SessionsSearchCommand extends BaseCommand {
  static override paths = [['sessions', 'search']];

  static override usage = Command.Usage({
    category: 'Sessions',
    description: "Find text in the agents' conversations",
    details: `
      Case-insensitive search of the text of every archived event (prompts, replies, tool calls
      and results) of the store's sessions, or of those reachable from \`--node\`.
    `,
    examples: [
      ['Where was the flaky test discussed?', '$0 sessions search "flaky test"'],
      ['Within one branch', '$0 sessions search migration --node branch:experiment'],
    ],
  });

  text = Option.String({ required: true, name: 'text' });
  node = Option.String('--node', { description: 'Search only the sessions reachable from this node' });
  limit = Option.String('--limit', '100', { description: 'At most this many hits' });

  async run(): Promise<number> {
    const { SwarmError } = await import('@swarm/core');
    const { searchSessions } = await import('@swarm/state');
    const limit = Number(this.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new SwarmError('INVALID_ARGUMENT', '--limit must be a positive integer');
    const hits = await searchSessions({ cwd: this.cwd, env: this.env, text: this.text, node: this.node, limit });
    const human = hits.length === 0 ? 'no match\n' : `${hits.map((h) => `${h.session_id} #${h.event_id} ${h.role ?? h.type}: ${h.snippet}`).join('\n')}\n`;
    this.output.ok(`${hits.length} hit${hits.length === 1 ? '' : 's'}`, { hits }, human);
    return 0;
  }
}
