import { Writable } from 'node:stream';
import { Command, Option } from 'clipanion';
import { SwarmError } from '@swarm/core';
import { BaseCommand } from '../base-command.js';

export class HelpCommand extends BaseCommand {
  static override paths = [['help']];

  static override usage = Command.Usage({
    category: 'General',
    description: 'Show the list of commands, or the options of one',
    examples: [
      ['All commands and the global flags', '$0 help'],
      ['The options of one command', '$0 help run launch'],
    ],
  });

  words = Option.Rest({ name: 'command' });

  async run(): Promise<number> {
    if (this.words.length === 0) {
      const text = this.cli.usage(null);
      this.output.ok('swarm commands', { command: null, text }, text);
      return 0;
    }
    const known = this.cli.definitions().map((d) => d.path.split(' ').slice(1));
    const match = known.find((path) => path.length === this.words.length && path.every((word, i) => this.words[i] === word));
    if (!match) {
      const { suggestCommands } = await import('../suggest.js');
      const suggestions = suggestCommands(this.words, known).map((path) => `swarm ${path.join(' ')}`);
      throw new SwarmError('USAGE', `no command \`swarm ${this.words.join(' ')}\`${suggestions.length > 0 ? `; did you mean ${suggestions.map((s) => `\`${s}\``).join(', ')}?` : ''}`, {
        hint: 'run `swarm help` for the list of commands',
        details: { input: this.words, suggestions },
      });
    }
    // clipanion renders a command's detailed help for `<command> --help`; catch it for --json.
    let text = '';
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString('utf8');
        done();
      },
    });
    const code = await this.cli.run([...match, '--help'], { stdout });
    if (code !== 0) return code;
    this.output.ok(`swarm ${match.join(' ')}`, { command: `swarm ${match.join(' ')}`, text }, text);
    return 0;
  }
}
