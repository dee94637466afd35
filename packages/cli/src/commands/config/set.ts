import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class ConfigSetCommand extends BaseCommand {
  static override paths = [['config', 'set']];

  static override usage = Command.Usage({
    category: 'Setup',
    description: 'Set a configuration key in a profile',
    details: `
      Validates the key and value, then writes \`$SWARM_HOME/config.json\` atomically. Unknown keys
      and invalid values are refused (exit 2) and the file is unchanged. Keys: \`backend\`,
      \`run.timeout_s\`, \`run.allow_cold_start\`, \`proxy.route_mode\`, \`egress.allow\`,
      \`github.repo\`, \`github.workflow\`, \`output.color\`.
    `,
    examples: [
      ['Default timeout of ten minutes', '$0 config set run.timeout_s 600'],
      ['Allow egress to two hosts in the ci profile', '$0 config set egress.allow api.anthropic.com,*.githubusercontent.com --profile ci'],
    ],
  });

  key = Option.String({ name: 'key' });
  value = Option.String({ name: 'value' });

  async run(): Promise<number> {
    const { configPath, displayConfigValue, setConfigValue } = await import('@swarm/core');
    const result = setConfigValue(this.key, this.value, { profile: this.profile, file: configPath(this.env) });
    // What was set, as `config show` prints it: a proxy password is never echoed back.
    this.output.ok(`set ${result.key} in profile ${result.profile}`, { ...result, value: displayConfigValue(result.key, result.value) });
    return 0;
  }
}
