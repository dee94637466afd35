import { Builtins, type Cli } from 'clipanion';
import { BaseCommand, type SwarmContext } from './base-command.js';
import { commands } from './commands/index.js';
import { SwarmCli } from './help.js';
import { Output } from './output.js';
import { usageError } from './usage-error.js';
import { SWARM_VERSION } from './version.js';

export { GLOBAL_FLAGS } from './help.js';

/**
 * The commands clipanion must know to parse this command line. Building clipanion's parser costs
 * time per registered command, so a command line that starts with a command word only needs that
 * word's commands; `--version` needs none. Anything else (help, typos) gets them all.
 */
export function commandsFor(argv: readonly string[]): typeof commands {
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

/** Runs one command line and returns its exit code (DESIGN section 7). */
export async function main(argv: string[], context: Partial<SwarmContext> = {}): Promise<number> {
  const full: SwarmContext = {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    colorDepth: 1,
    ...context,
  };
  const stdout = full.stdout as NodeJS.WriteStream;
  const cli = createCli(
    Boolean(stdout.isTTY) && !full.env.NO_COLOR && !argv.includes('--no-color') && !argv.includes('--json'),
    commandsFor(argv),
  );
  if (argv.length === 0) {
    full.stdout.write(cli.usage(null));
    return 0;
  }
  let command;
  try {
    command = cli.process(argv, full);
  } catch (error) {
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
  const code = await cli.run(command, full);
  if (command instanceof BaseCommand && command.failure) return command.failure.exitCode;
  return code;
}
