import { Command } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class KeysGenerateCommand extends BaseCommand {
  static override paths = [['keys', 'generate']];

  static override usage = Command.Usage({
    category: 'Keys',
    description: "Create this installation's Ed25519 signing key (idempotent)",
    details: `
      Creates the key that signs every certificate this installation writes, in
      \`$SWARM_HOME/keys/\` (0600), unless it exists already; either way prints its key id and
      public key. Give the public key to whoever verifies your certificates
      (\`swarm keys trust <public key>\` or \`swarm verify cert --trusted-key <public key>\`).
      The private key is never printed.
    `,
    examples: [
      ['Create (or show) the signing key', '$0 keys generate'],
      ['Machine-readable', '$0 keys generate --json'],
    ],
  });

  async run(): Promise<number> {
    const { generateOperatorKey } = await import('@swarm/verify');
    const key = generateOperatorKey({ env: this.env });
    const head = key.created ? `created signing key ${key.key_id}` : `signing key ${key.key_id} already exists`;
    this.output.ok(head, key, `${head}\npublic key: ${key.public_key}\n`);
    return 0;
  }
}
