import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class KeysUntrustCommand extends BaseCommand {
  static override paths = [['keys', 'untrust']];

  static override usage = Command.Usage({
    category: 'Keys',
    description: 'Stop trusting a key (by public key, key id or name)',
    details: `
      Removes one entry from the trust store, chosen by its public key, its key id or its name
      (matched in that order). An unknown key exits 2 with TRUST_KEY_UNKNOWN.
    `,
    examples: [
      ['By name', '$0 keys untrust ci-runner'],
      ['By key id', '$0 keys untrust 1f2e3d4c5b6a7988'],
    ],
  });

  selector = Option.String({ name: 'pubkey|keyid|name', required: true });

  async run(): Promise<number> {
    const { untrustKey } = await import('@swarm/verify');
    const result = untrustKey(this.selector, { env: this.env });
    const label = result.removed.name ? `${result.removed.key_id} (${result.removed.name})` : result.removed.key_id;
    this.output.ok(`no longer trusting key ${label}`, result);
    return 0;
  }
}
