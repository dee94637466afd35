import { Command } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { SWARM_VERSION } from '../version.js';

export class VersionCommand extends BaseCommand {
  static override paths = [['version']];

  static override usage = Command.Usage({
    category: 'General',
    description: 'Print the version of swarm',
    examples: [['The version', '$0 version']],
  });

  async run(): Promise<number> {
    this.output.ok(SWARM_VERSION, { version: SWARM_VERSION });
    return 0;
  }
}
