import { Command } from 'clipanion';
import { SwarmError, swarmHome } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';

export class AuditVerifyCommand extends BaseCommand {
  static override paths = [['audit', 'verify']];

  static override usage = Command.Usage({
    category: 'Secrets',
    description: 'Check that the audit log is whole: no line edited, reordered, removed or cut short',
    details: `
      Checks every line of \`$SWARM_HOME/audit.log\` in order: its form, its hash, its sequence
      number, and that it names the digest of the line before it; then that the log ends where
      \`audit.head\` says it does. Exits 0 when it holds, and 3 (AUDIT_CHAIN_BROKEN) with the first
      bad line and the reason when it does not.

      This detects changes made with ordinary tools and by mistake. It cannot detect someone who can
      write \`$SWARM_HOME\` rewriting the whole log and its head consistently (docs/security.md).
    `,
    examples: [
      ['Check the log', '$0 audit verify'],
      ['In a script', '$0 audit verify --json'],
    ],
  });

  async run(): Promise<number> {
    const { verifyAudit } = await import('@swarm/state');
    const result = verifyAudit(swarmHome(this.env));
    if (!result.ok) {
      throw new SwarmError('AUDIT_CHAIN_BROKEN', `audit log broken at line ${result.line} (${result.reason}): ${result.message}`, {
        details: { log: result.log, line: result.line, reason: result.reason },
        hint: 'compare the log with a backup; to start a new log, move audit.log and audit.head aside',
      });
    }
    const behind = result.head_behind ? ' (audit.head was one line behind, as after an interrupted write; the next entry brings it level)' : '';
    this.output.ok(`audit log intact: ${result.entries} entr${result.entries === 1 ? 'y' : 'ies'}${behind}`, result);
    return 0;
  }
}
