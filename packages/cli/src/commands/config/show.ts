import { Command } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class ConfigShowCommand extends BaseCommand {
  static override paths = [['config', 'show']];

  static override usage = Command.Usage({
    category: 'Setup',
    description: 'Show the configuration of a profile',
    details: `
      Prints the settings of the selected profile (\`--profile\`, else the file's default profile)
      from \`$SWARM_HOME/config.json\`, and the keys swarm knows. A malformed config file is an
      error (exit 2) and is left untouched.
    `,
    examples: [
      ['Show the default profile', '$0 config show'],
      ['Show a named profile as JSON', '$0 config show --profile ci --json'],
    ],
  });

  async run(): Promise<number> {
    const { CONFIG_KEYS, configPath, displayConfigValue, loadConfig, resolveProfile } = await import('@swarm/core');
    const file = configPath(this.env);
    const config = loadConfig(file);
    const resolved = resolveProfile(config, this.profile);
    const name = resolved.name;
    const settings = Object.fromEntries(Object.entries(resolved.settings).map(([key, value]) => [key, displayConfigValue(key, value)]));
    const keys = Object.fromEntries(Object.entries(CONFIG_KEYS).map(([k, spec]) => [k, spec.description]));
    const lines = [`# ${file} (profile ${name})`];
    for (const [key, value] of Object.entries(settings)) lines.push(`${key} = ${Array.isArray(value) ? value.join(',') : String(value)}`);
    if (Object.keys(settings).length === 0) lines.push('(no settings; defaults apply)');
    this.output.ok(`profile ${name}`, { file, profile: name, profiles: Object.keys(config.profiles), settings, keys }, lines.join('\n'));
    return 0;
  }
}
