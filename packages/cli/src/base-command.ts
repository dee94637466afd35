import { Command, Option, type BaseContext } from 'clipanion';
import { SwarmError, isSwarmError } from '@swarm/core';
import './errors.js';
import { Output, REPORT_HINT } from './output.js';

export interface SwarmContext extends BaseContext {
  cwd: string;
  /** The command line as given (what `--detach` starts again). */
  argv?: readonly string[];
}

/**
 * Every swarm command extends this. It owns the global flags, turns any thrown error into the
 * output envelope, and returns the exit code from the one table in core; commands only `run()`.
 */
export abstract class BaseCommand extends Command<SwarmContext> {
  json = Option.Boolean('--json', false, { description: 'Print exactly one JSON object on stdout', hidden: true });
  quiet = Option.Boolean('--quiet,-q', false, { description: 'Print nothing on success (errors still go to stderr)', hidden: true });
  verbose = Option.Boolean('--verbose,-v', false, { description: 'Print diagnostics to stderr', hidden: true });
  noColor = Option.Boolean('--no-color', false, { description: 'Disable colours (also NO_COLOR)', hidden: true });
  profile = Option.String('--profile', { description: 'Config profile to use', hidden: true });

  /** Set when execution failed; read by main() because clipanion's catch path returns 0. */
  failure: SwarmError | undefined;

  private cachedOutput: Output | undefined;

  get output(): Output {
    if (!this.cachedOutput) {
      const env = this.context.env ?? process.env;
      const stderr = this.context.stderr as NodeJS.WriteStream;
      const color = !this.noColor && !env.NO_COLOR && !this.json && Boolean(stderr.isTTY);
      this.cachedOutput = new Output({
        json: this.json,
        quiet: this.quiet,
        verbose: this.verbose,
        color,
        stdout: this.context.stdout,
        stderr: this.context.stderr,
        interactive: Boolean(stderr.isTTY),
      });
    }
    return this.cachedOutput;
  }

  get env(): NodeJS.ProcessEnv {
    return this.context.env ?? process.env;
  }

  get cwd(): string {
    return this.context.cwd ?? process.cwd();
  }

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      const code = await this.run();
      return code ?? 0;
    } catch (error) {
      return this.fail(error);
    }
  }

  override async catch(error: unknown): Promise<void> {
    this.fail(error);
  }

  /** Reports an error once and returns its exit code. Non-SwarmErrors are bugs: exit 1. */
  fail(error: unknown): number {
    const swarmError = toSwarmError(error);
    this.failure = swarmError;
    this.output.error(swarmError);
    return swarmError.exitCode;
  }
}

export function toSwarmError(error: unknown): SwarmError {
  if (isSwarmError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SwarmError('INTERNAL', `internal error: ${message}`, {
    cause: error,
    hint: REPORT_HINT,
  });
}
