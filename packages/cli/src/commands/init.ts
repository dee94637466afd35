import { Command } from 'clipanion';
import { BaseCommand } from '../base-command.js';

export class InitCommand extends BaseCommand {
  static override paths = [['init']];

  static override usage = Command.Usage({
    category: 'Setup',
    description: 'Create swarm home (config, keys) and a project store here',
    details: `
      Creates \`$SWARM_HOME\` (default \`~/.swarm\`) with an empty config, the installation root
      secret and the operator's Ed25519 signing key (files 0600), and a \`.swarm/\` project store in
      the current directory. Existing files are kept; running it twice is harmless.
    `,
    examples: [['Set up swarm for this project', '$0 init']],
  });

  async run(): Promise<number> {
    const { initSwarm } = await import('../setup/init.js');
    const result = await initSwarm({ env: this.env, cwd: this.cwd });
    const lines = [
      `swarm home: ${result.home}${result.createdConfig ? ' (created)' : ''}`,
      `signing key: ${result.keyId}${result.createdSigningKey ? ' (created)' : ''}`,
    ];
    if (result.store) lines.push(`project store: ${result.store}${result.createdStore ? ' (created)' : ''}`);
    if (result.gitExclude) lines.push(`kept out of git by ${result.gitExclude}`);
    this.output.ok('swarm is initialised', result, lines.join('\n'));
    return 0;
  }
}
