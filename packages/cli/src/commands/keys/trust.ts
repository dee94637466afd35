import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class KeysTrustCommand extends BaseCommand {
  static override paths = [['keys', 'trust']];

  static override usage = Command.Usage({
    category: 'Keys',
    description: 'Trust certificates signed by a public key',
    details: `
      Adds an Ed25519 public key (32 bytes, base64url, as \`swarm keys show\` prints it) to the
      trust store, optionally with a name. Trusting a key again is a no-op, or renames it when
      \`--name\` differs. The store is validated first and never overwritten when malformed. A key
      that starts with \`-\` (base64url allows it) goes after \`--\`, with every option before it.
    `,
    examples: [
      ['Trust the CI runner key', '$0 keys trust <public key from `swarm keys show` on the runner> --name ci-runner'],
      ['A key that starts with -', '$0 keys trust --name ci-runner -- -Xk2…'],
    ],
  });

  publicKey = Option.String({ name: 'pubkey', required: true });
  name = Option.String('--name', { description: 'A name for the key (letters, digits, . _ -)' });

  async run(): Promise<number> {
    const { trustKey } = await import('@swarm/verify');
    const result = trustKey(this.publicKey, { name: this.name, env: this.env });
    const label = result.entry.name ? `${result.entry.key_id} (${result.entry.name})` : result.entry.key_id;
    this.output.ok(result.changed ? `trusted key ${label}` : `key ${label} was already trusted`, result);
    return 0;
  }
}
