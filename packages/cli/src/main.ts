import { disableCoreDumpsSoon } from '@swarm/core';
import { Builtins, type Cli } from 'clipanion';
import { BaseCommand, type SwarmContext } from './base-command.js';
import { commands } from './commands/index.js';
import { SwarmCli } from './help.js';
import { Output } from './output.js';
import { usageError } from './usage-error.js';
import { SWARM_VERSION } from './version.js';

export { GLOBAL_FLAGS } from './help.js';
export { deferExtraCaCerts } from '@swarm/core';

/**
 * The commands clipanion must know to parse this command line. Building clipanion's parser costs
 * time per registered command (its state machine is simplified as a whole: 14 ms for the run
 * group), so a command line that starts with a command's words only needs that command, one that
 * starts with a group's word only that group's commands, and `--version` none. Anything else
 * (help, typos) gets them all. A line the narrow set cannot parse is parsed again with its group,
 * so a usage error reads as it always did.
 */
export function commandsFor(argv: readonly string[]): typeof commands {
  const group = groupFor(argv);
  if (group === commands) return group;
  const exact = group.filter((command) => command.paths?.some((p) => p.length === 2 && p[1] === argv[1]));
  return exact.length > 0 ? exact : group;
}

/** What the code cache (bin/code-cache.js) keeps this line's bytecode under: its command's words, or "top". */
export function codeCacheKey(argv: readonly string[]): string {
  const group = groupFor(argv);
  if (group === commands || group.length === 0) return 'top';
  return group.some((command) => command.paths?.some((p) => p.length === 2 && p[1] === argv[1])) ? `${argv[0]}-${argv[1]}` : argv[0]!;
}

/** The commands of the line's first word (the parse that reports a usage error). */
function groupFor(argv: readonly string[]): typeof commands {
  const first = argv[0];
  if (first === '--version' && argv.length === 1) return [];
  if (first === undefined || first.startsWith('-') || first === 'help') return commands;
  const group = commands.filter((command) => command.paths?.some((p) => p[0] === first));
  return group.length > 0 ? group : commands;
}

export function createCli(enableColors = false, selected: typeof commands = commands): Cli<SwarmContext> {
  const cli = new SwarmCli({
    binaryLabel: 'swarm',
    binaryName: 'swarm',
    binaryVersion: SWARM_VERSION,
    enableCapture: false,
    enableColors,
  });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of selected) cli.register(command);
  return cli;
}

/** First words of commands that never open the installation's keys. */
const KEYLESS: ReadonlySet<string> = new Set(['', '--version', '-v', '--help', '-h', 'help', 'version', 'schema', 'config', 'doctor']);

/** Runs one command line and returns its exit code (DESIGN section 7). */

export async function main(argv: string[], context: Partial<SwarmContext> = {}): Promise<number> {
  const full: SwarmContext = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    colorDepth: 1,
    argv,
    ...context,
  };
  // A command that opens keys finds the core limit already 0 (see core-dumps.ts).
  if (!KEYLESS.has(argv[0] ?? '')) disableCoreDumpsSoon();
  const stdout = full.stdout as NodeJS.WriteStream;
  const colors = Boolean(stdout.isTTY) && !full.env.NO_COLOR && !argv.includes('--no-color') && !argv.includes('--json');
  const selected = commandsFor(argv);
  let cli = createCli(colors, selected);
  if (argv.length === 0) {
    full.stdout.write(cli.usage(null));
    return 0;
  }
  let command;
  try {
    command = cli.process(argv, full);
  } catch (narrowError) {
    let error = narrowError;
    const group = groupFor(argv);
    if (group !== selected) {
      try {
        cli = createCli(colors, group);
        command = cli.process(argv, full);
      } catch (groupError) {
        error = groupError;
      }
    }
    if (command === undefined) {
      // clipanion would print its parse error to stdout and exit 1; swarm reports it as bad input (2).
      const json = argv.includes('--json');
      const output = new Output({
        json,
        quiet: false,
        verbose: false,
        color: false,
        stdout: full.stdout,
        stderr: full.stderr,
        interactive: false,
      });
      output.error(usageError(argv, error, commands));
      return 2;
    }
  }
  const code = await cli.run(command, full);
  if (command instanceof BaseCommand && command.failure) return command.failure.exitCode;
  return code;
}
