/**
 * The one place that decides what reaches stdout: the `--json` envelope or human text. Progress
 * and diagnostics go to stderr so stdout stays parseable.
 */
import type { Writable } from 'node:stream';
import { SwarmError, type ErrorCategory } from '@swarm/core';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr is a terminal (progress is shown only there). */
  interactive: boolean;
}

export interface OkEnvelope {
  status: 'ok';
  message: string;
  data: unknown;
}

export interface ErrorEnvelope {
  status: 'error';
  message: string;
  error: { code: string; category: ErrorCategory; retryable: boolean; message: string; details: unknown };
}

export type Envelope = OkEnvelope | ErrorEnvelope;

export class Output {
  constructor(readonly options: OutputOptions) {}

  /** Success: the JSON envelope, or the human text (suppressed by --quiet). */
  ok(message: string, data: unknown, human?: string): void {
    if (this.options.json) {
      this.writeJson({ status: 'ok', message, data: data ?? null });
      return;
    }
    if (this.options.quiet) return;
    const text = human ?? message;
    if (text !== '') this.options.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Failure: the JSON envelope on stdout, or a human message on stderr. */
  error(error: SwarmError): void {
    const envelope: ErrorEnvelope = {
      status: 'error',
      message: error.message,
      error: {
        code: error.code,
        category: error.category,
        retryable: error.retryable,
        message: error.message,
        details: envelopeDetails(error),
      },
    };
    if (this.options.json) {
      this.writeJson(envelope);
      return;
    }
    const lines = [`${this.paint('error', 31)} [${error.code}] ${error.message}`];
    const issues = (error.details as { errors?: Array<{ path: string; message: string }> } | null)?.errors;
    if (Array.isArray(issues) && issues.length > 1) {
      for (const issue of issues) lines.push(`  ${issue.path || '/'} ${issue.message}`);
    }
    lines.push(...stepLines(envelope.error.details as StepDetails, error.category));
    const hint = error.hint ?? (error.category === 'internal' && !error.retryable ? REPORT_HINT : undefined);
    if (hint) lines.push(`${this.paint('hint', 36)}: ${hint}`);
    if (this.options.verbose && error.cause) lines.push(`cause: ${String((error.cause as Error)?.stack ?? error.cause)}`);
    this.options.stderr.write(`${lines.join('\n')}\n`);
  }

  /** A diagnostic line on stderr (hidden by --quiet). */
  info(text: string): void {
    if (!this.options.quiet) this.options.stderr.write(`${text}\n`);
  }

  warn(text: string): void {
    this.options.stderr.write(`${this.paint('warning', 33)}: ${text}\n`);
  }

  debug(text: string): void {
    if (this.options.verbose) this.options.stderr.write(`${text}\n`);
  }

  /** Whether a progress line is on the terminal now (so a clear is needed before other output). */
  private progressShown = false;

  /** Progress on a terminal only: one status line, rewritten in place. */
  progress(text: string): void {
    if (!this.showsProgress) return;
    this.options.stderr.write(`\r\x1b[2K${text}`);
    this.progressShown = true;
  }

  /** Clears the progress line, if one is showing, so the next output starts on a clean line. */
  progressDone(): void {
    if (!this.showsProgress || !this.progressShown) return;
    this.options.stderr.write('\r\x1b[2K');
    this.progressShown = false;
  }

  /**
   * Moves the terminal to a new line without writing to stdout: before a progress line when the
   * last output left the cursor mid-line, which the progress line's clear would otherwise erase.
   */
  progressBreak(): void {
    if (this.showsProgress) this.options.stderr.write('\n');
  }

  private get showsProgress(): boolean {
    return this.options.interactive && !this.options.quiet && !this.options.json;
  }

  paint(text: string, code: number): string {
    return this.options.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }

  private writeJson(envelope: Envelope): void {
    this.options.stdout.write(`${JSON.stringify(envelope)}\n`);
  }
}

/** What an internal error (a swarm bug) says when it brings no hint of its own. */
export const REPORT_HINT = 'this is a bug in swarm; please report it with the output of --verbose';

/** The step's outcome as a failed launch reports it (a subset of the launch result). */
interface StepDetails {
  exit_code: number | null;
  signal: string | null;
  node_id?: string | null;
  run_dir?: string;
}

/** A step's failure or interruption always tells its own exit code and signal (null when none). */
function envelopeDetails(error: SwarmError): unknown {
  const details = sanitize(error.details);
  if (error.category !== 'step' && error.category !== 'interrupted') return details;
  const object = typeof details === 'object' && details !== null && !Array.isArray(details) ? (details as Record<string, unknown>) : {};
  return { ...object, exit_code: object.exit_code ?? null, signal: object.signal ?? null };
}

/** Human lines for a failed step: its exit code or signal, and where its failed node is. */
function stepLines(details: StepDetails, category: ErrorCategory): string[] {
  if (category !== 'step' && category !== 'interrupted') return [];
  if (details.exit_code === null && details.signal === null && !details.node_id) return []; // the step never ran
  const lines = [`  step exit code: ${details.exit_code ?? 'none'}${details.signal ? ` (killed by ${details.signal})` : ''}`];
  if (details.node_id) lines.push(`  failed node: ${details.node_id}${details.run_dir ? ` (run directory ${details.run_dir})` : ''}`);
  return lines;
}

/** Details must be plain JSON; drop anything that is not (causes, buffers). */
function sanitize(details: unknown): unknown {
  if (details === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(details)) ?? null;
  } catch {
    return null;
  }
}
