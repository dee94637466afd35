import { Command, Option } from 'clipanion';
import { SwarmError, swarmHome } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../render/table.js';

export class AuditListCommand extends BaseCommand {
  static override paths = [['audit', 'list']];

  static override usage = Command.Usage({
    category: 'Secrets',
    description: 'Show the audit log of secrets (set, remove, grant)',
    details: `
      Prints the entries of \`$SWARM_HOME/audit.log\`, oldest first: when each secret was set or
      removed, and which run was granted it. Entries name secrets, never values. A log that does
      not verify is refused (AUDIT_CHAIN_BROKEN, exit 3); \`swarm audit verify\` names the bad line.
    `,
    examples: [
      ['The whole log', '$0 audit list'],
      ['The last 20 entries about one secret', '$0 audit list --name OPENAI_API_KEY --limit 20'],
    ],
  });

  name = Option.String('--name', { description: 'Only entries about this secret' });
  limit = Option.String('--limit', { description: 'Only the last N entries' });

  async run(): Promise<number> {
    const { listAudit } = await import('@swarm/state');
    let limit: number | undefined;
    if (this.limit !== undefined) {
      if (!/^[0-9]+$/.test(this.limit)) throw new SwarmError('INVALID_ARGUMENT', `--limit must be a positive integer, got ${JSON.stringify(this.limit)}`);
      limit = Number(this.limit);
    }
    const entries = listAudit(swarmHome(this.env), { name: this.name, limit });
    const human =
      entries.length === 0
        ? 'no audit entries'
        : renderTable(
            ['SEQ', 'AT', 'ACTION', 'NAME', 'RUN'],
            entries.map((e) => [String(e.seq), e.at, e.action, e.name, e.run_id ?? '-']),
          );
    this.output.ok(`${entries.length} audit entr${entries.length === 1 ? 'y' : 'ies'}`, { entries }, human);
    return 0;
  }
}
