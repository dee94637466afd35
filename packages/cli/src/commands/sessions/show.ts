import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class SessionsShowCommand extends BaseCommand {
  static override paths = [['sessions', 'show']];

  static override usage = Command.Usage({
    category: 'Sessions',
    description: "Show one agent session as a readable timeline",
    details: `
      The session's prompts, replies, tool calls and results in order, with times and tokens, from
      the latest node that holds it (or \`--node\`). A prefix of the id is enough when it is unique.
      \`--json\` gives every event with its raw line.
    `,
    examples: [
      ['Show a session', '$0 sessions show 6f1c2a'],
      ['As a given node has it', '$0 sessions show 6f1c2a --node run:first'],
    ],
  });

  id = Option.String({ required: true, name: 'session-id' });
  node = Option.String('--node', { description: 'Read the session from this node' });

  async run(): Promise<number> {
    const { showSession } = await import('@swarm/state');
    const { renderTimeline } = await import('../../render/sessions.js');
    const detail = await showSession({ cwd: this.cwd, env: this.env, id: this.id, node: this.node });
    this.output.ok(`session ${detail.session.session_id}: ${detail.events.length} events`, detail, renderTimeline(detail));
    return 0;
  }
}
