import { Command, Option } from 'clipanion';
import { swarmHome } from '@swarm/core';
import { BaseCommand } from '../../base-command.js';
import { readSecretValue } from './read-value.js';

export class SecretSetCommand extends BaseCommand {
  static override paths = [['secret', 'set']];

  static override usage = Command.Usage({
    category: 'Secrets',
    description: 'Store a secret, read from standard input or a hidden prompt',
    details: `
      Stores a value under NAME in \`$SWARM_HOME/secrets/\`, sealed with a key derived from this
      installation's root secret, replacing any secret of that name. The value comes from standard
      input when it is not a terminal (one trailing newline is dropped), else from a prompt that
      does not echo and asks twice. It is never taken from the command line, where other users and
      the shell history would see it. A run gets a secret only when granted it by name
      (\`--secret NAME\`); the value is redacted from the run's log.

      NAME is a letter or \`_\` followed by up to 127 letters, digits or \`_\`. The value is text of
      4 characters to 64 KiB without NUL (shorter values could not be redacted reliably). Each set
      is recorded by name in the audit log (\`swarm audit list\`); the value never is.
    `,
    examples: [
      ['From a file', '$0 secret set OPENAI_API_KEY < openai.key'],
      ['From a password manager', 'pass show openai | $0 secret set OPENAI_API_KEY'],
      ['Typed at a hidden prompt', '$0 secret set OPENAI_API_KEY'],
    ],
  });

  name = Option.String({ name: 'NAME', required: true });

  async run(): Promise<number> {
    const { assertSecretName, setSecret, MAX_SECRET_VALUE_BYTES } = await import('@swarm/state');
    // Before the prompt: nobody should type a secret for a name that is then refused.
    const checkName: (name: string) => void = assertSecretName;
    checkName(this.name);
    const value = await readSecretValue(this.name, { stdin: this.context.stdin, stderr: this.context.stderr }, MAX_SECRET_VALUE_BYTES);
    const result = setSecret(swarmHome(this.env), this.name, value);
    this.output.ok(result.created ? `created secret ${result.name}` : `replaced secret ${result.name}`, result);
    return 0;
  }
}
