import { Command } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class KeysShowCommand extends BaseCommand {
  static override paths = [['keys', 'show']];

  static override usage = Command.Usage({
    category: 'Keys',
    description: 'Show the signing public key and the trusted keys',
    details: `
      Prints this installation's signing public key and key id (never the private key), and every
      entry of the trust store (\`$SWARM_HOME/keys/trusted-keys.json\`) with its name. Without
      \`--trusted-key\`, \`swarm verify\` accepts signatures by these keys and by the own key.
    `,
    examples: [
      ['Show keys', '$0 keys show'],
      ['Machine-readable', '$0 keys show --json'],
    ],
  });

  async run(): Promise<number> {
    const { showKeys } = await import('@swarm/verify');
    const keys = showKeys({ env: this.env });
    const lines = [
      keys.signing_key
        ? `signing key ${keys.signing_key.key_id} (trusted by swarm verify on this installation)\npublic key: ${keys.signing_key.public_key}`
        : 'no signing key yet (run `swarm keys generate`)',
      `trust store: ${keys.trust_store}`,
      ...(keys.trusted.length === 0
        ? ['  (no trusted keys)']
        : keys.trusted.map((k) => `  ${k.key_id}  ${k.public_key}${k.name ? `  ${k.name}` : ''}`)),
    ];
    this.output.ok(`${keys.trusted.length} trusted key${keys.trusted.length === 1 ? '' : 's'}`, keys, `${lines.join('\n')}\n`);
    return 0;
  }
}
