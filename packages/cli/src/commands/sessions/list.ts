import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class SessionsListCommand extends BaseCommand {
  static override paths = [['sessions', 'list']];

  static override usage = Command.Usage({
    category: 'Sessions',
    description: "List the agents' conversations this store holds",
    details: `
      Every agent session (Claude Code, Codex, Gemini CLI) whose transcript a run archived: its id,
      agent, model, turns, tokens and the node it is read from. With \`--node\`, the sessions
      reachable from that node (its own run's and its ancestors'), read from its state DB; without,
      every session of the store, each from the latest node that holds it.
    `,
    examples: [
      ['Every session of the store', '$0 sessions list'],
      ['The sessions a branch carries', '$0 sessions list --node branch:experiment'],
    ],
  });

  node = Option.String('--node', { description: 'Only the sessions reachable from this node (id, run:<id>, branch:<label>)' });

  async run(): Promise<number> {
    const { listSessions } = await import('@swarm/state');
    const sessions = await listSessions({ cwd: this.cwd, env: this.env, node: this.node });
    const lines = sessions.map(
      (s) => `${s.session_id}  ${s.agent.padEnd(6)}  ${(s.model ?? '-').padEnd(22)}  ${String(s.turns).padStart(3)} turns  ${s.tokens_in}/${s.tokens_out} tokens  ${s.node_id}`,
    );
    const human = sessions.length === 0 ? 'no agent sessions archived yet\n' : `${lines.join('\n')}\n`;
    this.output.ok(`${sessions.length} session${sessions.length === 1 ? '' : 's'}`, { sessions }, human);
    return 0;
  }
}
