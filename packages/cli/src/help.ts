/**
 * swarm's help text: clipanion's, plus the global flags (listed once, in the overview, since every
 * command takes them) and each option's default.
 */
import { Cli, type CommandClass } from 'clipanion';
import type { SwarmContext } from './base-command.js';
import { showingDefaults } from './option-specs.js';

/** The global flags every command accepts (documented once, hidden from per-command usage lines). */
export const GLOBAL_FLAGS: Array<[string, string]> = [
  ['--json', 'Print exactly one JSON object on stdout: {status, message, data} or {status, message, error}'],
  ['--quiet, -q', 'Print nothing on success (errors still go to stderr)'],
  ['--verbose, -v', 'Print diagnostics to stderr'],
  ['--no-color', 'Disable colours (also honoured: the NO_COLOR environment variable)'],
  ['--profile <name>', 'Use this profile of $SWARM_HOME/config.json'],
];

export const GLOBAL_OPTION_NAMES = ['--json', '--quiet', '-q', '--verbose', '-v', '--no-color', '--profile'];

type UsageOptions = { colored?: boolean; detailed?: boolean; prefix?: string };

export class SwarmCli extends Cli<SwarmContext> {
  override register(commandClass: CommandClass<SwarmContext>): void {
    super.register(showingDefaults(commandClass));
  }

  override usage(command: Parameters<Cli<SwarmContext>['usage']>[0] = null, options: UsageOptions = {}): string {
    const text = super.usage(command, options);
    if (command === null) return `${text}\n${this.globalFlagsSection(options.colored)}`;
    if (options.detailed) return `${text}\nGlobal flags (see \`swarm help\`): --json, --quiet, --verbose, --no-color, --profile <name>\n`;
    return text;
  }

  private globalFlagsSection(colored: boolean | undefined): string {
    const width = Math.max(...GLOBAL_FLAGS.map(([flag]) => flag.length));
    const lines = [this.format(colored).header('Global flags'), '', '  Every command accepts these:', ''];
    for (const [flag, meaning] of GLOBAL_FLAGS) lines.push(`  ${this.format(colored).bold(flag.padEnd(width))}    ${meaning}`);
    lines.push('', "Run `swarm help <command>` (or `swarm <command> --help`) for a command's options and defaults.", '');
    return lines.join('\n');
  }
}
