/**
 * Errors with stable string codes. Every code belongs to a category, and every category to one
 * exit code (DESIGN section 7). Codes are registered per package so `docs/errors.md` can list them
 * all; tests assert on codes, never on message text.
 */

/**
 * Who must act (STYLE, "Whose fault is it?"): `input` the user, `step` the agent's command (it
 * failed or timed out; never a swarm bug), `interrupted` nobody (the operator stopped the run),
 * `backend` the backend, `internal` swarm itself (a bug, please report).
 */
export type ErrorCategory = 'input' | 'verification' | 'backend' | 'restore' | 'policy' | 'step' | 'interrupted' | 'internal';

/**
 * The stable exit table, the only one. Only the CLI's base command turns an error into an exit
 * code. `interrupted` is 130, the shell's code for a process ended by SIGINT (128 + 2).
 */
export const EXIT_CODES: Readonly<Record<ErrorCategory | 'ok', number>> = Object.freeze({
  ok: 0,
  internal: 1,
  input: 2,
  verification: 3,
  backend: 4,
  restore: 5,
  policy: 6,
  step: 7,
  interrupted: 130,
});

export interface ErrorCodeInfo {
  category: ErrorCategory;
  description: string;
  retryable?: boolean;
}

const registry = new Map<string, ErrorCodeInfo & { owner: string }>();

/** Registers a package's error codes; a code registered twice with another meaning is a bug. */
export function registerErrorCodes(owner: string, table: Record<string, ErrorCodeInfo>): void {
  for (const [code, info] of Object.entries(table)) {
    if (!/^[A-Z][A-Z0-9_]+$/.test(code)) throw new Error(`invalid error code ${code}`);
    const existing = registry.get(code);
    // Two packages may raise the same code (say, an unpinned workflow ref) only with one meaning.
    if (existing && existing.category !== info.category) {
      throw new Error(`error code ${code} registered twice (${existing.owner}, ${owner})`);
    }
    if (!existing) registry.set(code, { ...info, owner });
  }
}

export function errorCodeInfo(code: string): (ErrorCodeInfo & { owner: string }) | undefined {
  return registry.get(code);
}

export function registeredErrorCodes(): Array<[string, ErrorCodeInfo & { owner: string }]> {
  return [...registry.entries()].sort(([a], [b]) => a.localeCompare(b));
}

export interface SwarmErrorOptions {
  details?: unknown;
  retryable?: boolean;
  cause?: unknown;
  /** A hint for the user about what to do next (printed in human output). */
  hint?: string;
}

export class SwarmError extends Error {
  readonly code: string;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly details: unknown;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: SwarmErrorOptions | Record<string, unknown> = {}) {
    const opts = isOptions(options) ? options : { details: options };
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwarmError';
    this.code = code;
    const info = registry.get(code);
    this.category = info?.category ?? 'internal';
    this.retryable = opts.retryable ?? info?.retryable ?? false;
    this.details = opts.details ?? null;
    this.hint = opts.hint;
  }

  get exitCode(): number {
    return EXIT_CODES[this.category];
  }
}

function isOptions(value: object): value is SwarmErrorOptions {
  // An empty object is "no options" (details null), not empty details.
  return Object.keys(value).every((k) => k === 'details' || k === 'retryable' || k === 'cause' || k === 'hint');
}

export function isSwarmError(value: unknown): value is SwarmError {
  return value instanceof SwarmError;
}

/** Turns errno-style failures into coded errors so callers never see a raw ENOENT. */
export function fsError(code: string, path: string, cause: unknown): SwarmError {
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new SwarmError(code, `${describeErrno(errno)}: ${path}`, { details: { path, errno: errno ?? null }, cause });
}

function describeErrno(errno: string | undefined): string {
  switch (errno) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'not a directory';
    default:
      return errno ? `cannot access (${errno})` : 'cannot access';
  }
}

registerErrorCodes('core', {
  INTERNAL: { category: 'internal', description: 'An unexpected failure inside swarm; please report it.' },
  NET_CAP_SANDBOX_UNAVAILABLE: {
    category: 'policy',
    description:
      'No step sandbox (bubblewrap: user, PID, mount and network namespaces) can be made here, or none was provided, and unsandboxed egress was not explicitly allowed.',
  },
  SANDBOX_TEARDOWN_FAILED: { category: 'internal', description: "A process of the step's sandbox was still alive after the sandbox should have ended." },
  INVALID_ARGUMENT: { category: 'input', description: 'A command-line option or argument is missing or malformed.' },
  USAGE: { category: 'input', description: 'The command line could not be parsed (unknown command or option).' },
  FILE_NOT_FOUND: { category: 'input', description: 'An input file does not exist or cannot be read.' },
  JSON_PARSE: { category: 'input', description: 'An input file is not valid JSON.' },
  SCHEMA_UNKNOWN: { category: 'input', description: 'The named schema does not exist.' },
  SCHEMA_INVALID: { category: 'input', description: 'A document does not satisfy its schema; details list every bad field.' },
  CANONICAL_JSON_UNSUPPORTED: { category: 'input', description: 'A value cannot be written as canonical JSON (non-finite number, undefined, class instance).' },
  CAPABILITY_MALFORMED: { category: 'input', description: 'A capability token is not canonical base64url of a valid capability envelope.' },
  CAPABILITY_KIND_MISMATCH: { category: 'policy', description: 'A capability of one kind was used where another kind is required.' },
  CAPABILITY_EXPIRED: { category: 'policy', description: 'A capability envelope is past its expiry.' },
  CONFIG_INVALID: { category: 'input', description: 'The config file is malformed or holds an invalid value; it is left untouched.' },
  CONFIG_KEY_UNKNOWN: { category: 'input', description: 'The config key is not one swarm knows.' },
  CONFIG_VALUE_INVALID: { category: 'input', description: 'The value given for a config key is not valid for that key.' },
  PROFILE_UNKNOWN: { category: 'input', description: 'The selected profile does not exist in the config file.' },
  CLOCK_INVALID: { category: 'input', description: 'SOURCE_DATE_EPOCH is set but is not a non-negative integer of seconds.' },
  IO_WRITE_FAILED: { category: 'internal', description: 'A file could not be written, synced or renamed into place.' },
  IO_READ_FAILED: { category: 'input', description: 'A file could not be read.' },
});
