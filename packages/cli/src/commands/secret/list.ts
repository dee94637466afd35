import { Command } from 'clipanion';
import { swarmHome } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';
import { renderTable } from '../../render/table.js';

export class SecretListCommand extends BaseCommand {
  static override paths = [['secret', 'list']];

  static override usage = Command.Usage({
    category: 'Secrets',
    description: 'List stored secrets by name (never their values)',
    details: `
      Prints the name, creation and last update time of every secret in \`$SWARM_HOME/secrets/\`.
      Values are not shown and not even decrypted.
    `,
    examples: [
      ['All secrets', '$0 secret list'],
      ['Machine-readable', '$0 secret list --json'],
    ],
  });

  async run(): Promise<number> {
    const { listSecrets } = await import('@swarm/state');
    const secrets = listSecrets(swarmHome(this.env));
    const human =
      secrets.length === 0
        ? 'no secrets yet (add one with `swarm secret set NAME`)'
        : renderTable(['NAME', 'CREATED', 'UPDATED'], secrets.map((s) => [s.name, s.created_at, s.updated_at]));
    this.output.ok(`${secrets.length} secret${secrets.length === 1 ? '' : 's'}`, { secrets }, human);
    return 0;
  }
}
