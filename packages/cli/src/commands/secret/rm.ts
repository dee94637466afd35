import { Command, Option } from 'clipanion';
import { swarmHome } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';

export class SecretRmCommand extends BaseCommand {
  static override paths = [['secret', 'rm']];

  static override usage = Command.Usage({
    category: 'Secrets',
    description: 'Remove a stored secret',
    details: `
      Deletes the secret NAME from \`$SWARM_HOME/secrets/\` and records the removal in the audit
      log. An unknown name exits 2 with SECRET_NOT_FOUND. A run in progress keeps the value it was
      given.
    `,
    examples: [['Remove a key', '$0 secret rm OPENAI_API_KEY']],
  });

  name = Option.String({ name: 'NAME', required: true });

  async run(): Promise<number> {
    const { removeSecret } = await import('@swarm/state');
    const result = removeSecret(swarmHome(this.env), this.name);
    this.output.ok(`removed secret ${result.name}`, result);
    return 0;
  }
}
