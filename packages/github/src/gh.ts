/**
 * The only way swarm talks to GitHub from the operator's machine: the real `gh` binary, only
 * `gh api -i` (status and headers are read, never guessed from text) and `gh secret set`.
 * Bodies and secret values travel on stdin, never on argv; gh picks the host from GH_HOST.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import pRetry from 'p-retry';
import { isSwarmError, SwarmError } from '@swarm/core';
import { runGhProcess, type GhProcessResult } from './gh-process.js';
import {
  baseDetails,
  ghError,
  GhHeadReader,
  httpError,
  requestIdOf,
  safeText,
  secretSetError,
  sentStrings,
  stderrSummary,
  type GhCallContext,
  type GhErrorDetails,
  type GhHead,
} from './gh-response.js';

export type { GhErrorDetails } from './gh-response.js';

export type GhMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface GhRetryOptions {
  retries?: number;
  factor?: number;
  minTimeout?: number;
  maxTimeout?: number;
  randomize?: boolean;
}

export interface GhClientOptions {
  /** `owner/name`. */
  repo: string;
  /** The gh binary; default SWARM_GH_BIN from `env`, else `gh` on PATH. */
  bin?: string;
  /** Passed to gh as is, except the variables that keep its output plain (see ghEnv). */
  env?: NodeJS.ProcessEnv;
  /** Per gh call; default 30 s. */
  timeoutMs?: number;
  /** Largest stdout (head and body) `request` accepts; default 64 MiB. */
  maxResponseBytes?: number;
  /** SIGTERM → SIGKILL grace on a timeout; default 2 s. */
  killGraceMs?: number;
  /** Retry backoff; defaults: 4 retries, factor 2, 1 s → 30 s, randomized. */
  retry?: GhRetryOptions;
  /** The longest rate-limit wait a retry may take; longer fails with GH_RATE_LIMITED. Default 5 min. */
  maxRateLimitWaitMs?: number;
  /** Rate-limit waits go through this (tests record them). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Observes every gh process started (its pid leads its process group). */
  onSpawn?: (pid: number, args: readonly string[]) => void;
}

export interface GhRequestOptions {
  /** Sent as JSON on stdin (`--input -`). */
  body?: unknown;
  /** Sent verbatim on stdin; give its Content-Type in `headers`. */
  rawBody?: Buffer;
  /** Extra request headers. They travel on argv: never put a secret here. */
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
  /** Default `application/vnd.github+json`. */
  accept?: string;
  timeoutMs?: number;
  /**
   * Retry retryable failures (5xx, 429, rate-limit 403, timeout, transport). Setting it is the
   * caller's word that repeating the call is harmless: a dispatch POST must never set it.
   */
  retry?: boolean;
}

export interface GhResponse {
  status: number;
  statusText: string;
  /** Lowercased names. */
  headers: Readonly<Record<string, string>>;
  body: Buffer;
  requestId: string | null;
  /** The body parsed as JSON, or GH_RESPONSE_INVALID. */
  json<T = unknown>(): T;
}

export interface GhDownloadOptions {
  timeoutMs?: number;
  /** Largest body written; more fails with GH_RESPONSE_INVALID. Default 8 GiB. */
  maxBytes?: number;
  accept?: string;
  retry?: boolean;
}

export interface GhDownload {
  status: number;
  headers: Readonly<Record<string, string>>;
  bytes: number;
  /** Hex sha256 of the bytes written. */
  sha256: string;
  requestId: string | null;
}

export interface GhVersion {
  version: string;
  major: number;
  minor: number;
  patch: number;
}

const API_VERSION = '2022-11-28';
const DEFAULT_ACCEPT = 'application/vnd.github+json';
const DEFAULT_TIMEOUT_MS = 30_000;
const ERROR_BODY_LIMIT = 1024 * 1024;
const REPO_RE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
// Path characters of a REST endpoint; no `{`/`}` (gh would substitute placeholders), no `?`.
const PATH_RE = /^[A-Za-z0-9_.~%:@!$&'()*+,;=-]+(?:\/[A-Za-z0-9_.~%:@!$&'()*+,;=-]+)*$/;
const HEADER_NAME_RE = /^[A-Za-z0-9-]+$/;
const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9.-]*(?::\d{1,5})?$/;

/**
 * The environment gh runs with: the caller's, plus what keeps gh's output plain and its prompts
 * off. Colour forcing and debug output are removed: colour breaks parsing and debug logs bodies.
 */
export function ghEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, NO_COLOR: '1', GH_PROMPT_DISABLED: '1', GH_NO_UPDATE_NOTIFIER: '1', GH_PAGER: 'cat', CLICOLOR: '0' };
  for (const name of ['CLICOLOR_FORCE', 'GH_FORCE_TTY', 'GH_DEBUG', 'DEBUG']) delete env[name];
  return env;
}

export class GhClient {
  readonly repo: string;
  private readonly bin: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly killGraceMs: number;
  private readonly retryOptions: Required<GhRetryOptions>;
  private readonly maxRateLimitWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly onSpawn: GhClientOptions['onSpawn'];
  private readonly envSecrets: string[];

  constructor(opts: GhClientOptions) {
    if (!REPO_RE.test(opts.repo) || opts.repo.startsWith('-')) {
      throw new SwarmError('GH_REPO_INVALID', 'the repository is not owner/name', { details: { repo: opts.repo } });
    }
    const base = opts.env ?? process.env;
    this.repo = opts.repo;
    this.bin = opts.bin ?? (base.SWARM_GH_BIN || 'gh');
    this.env = ghEnv(base);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = opts.maxResponseBytes ?? 64 * 1024 * 1024;
    this.killGraceMs = opts.killGraceMs ?? 2000;
    this.retryOptions = { retries: 4, factor: 2, minTimeout: 1000, maxTimeout: 30_000, randomize: true, ...opts.retry };
    this.maxRateLimitWaitMs = opts.maxRateLimitWaitMs ?? 5 * 60_000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = opts.now ?? Date.now;
    this.onSpawn = opts.onSpawn;
    // Token-like values from the environment never reach a message, whatever gh prints.
    this.envSecrets = Object.entries(base)
      .filter(([name, value]) => /TOKEN|SECRET|PASSWORD|KEY/i.test(name) && typeof value === 'string' && value.length >= 8)
      .map(([, value]) => value as string);
  }

  /** `repos/<owner>/<name>/<suffix>`. */
  repoPath(suffix: string): string {
    return `repos/${this.repo}/${suffix.replace(/^\/+/, '')}`;
  }

  /** One REST call, tried once unless `retry` marks it idempotent. */
  async request(method: GhMethod, path: string, opts: GhRequestOptions = {}): Promise<GhResponse> {
    const call = this.prepare(method, path, opts);
    return opts.retry ? this.withRetry(call.ctx, () => this.requestOnce(call)) : this.requestOnce(call);
  }

  /** `request` with retries; the caller asserts that repeating the call is harmless. */
  requestIdempotent(method: GhMethod, path: string, opts: Omit<GhRequestOptions, 'retry'> = {}): Promise<GhResponse> {
    return this.request(method, path, { ...opts, retry: true });
  }

  /** Streams a GET's body into `file` (created 0600, truncated, never through a link). */
  async download(path: string, file: string, opts: GhDownloadOptions = {}): Promise<GhDownload> {
    const call = this.prepare('GET', path, { accept: opts.accept ?? '*/*', timeoutMs: opts.timeoutMs });
    const once = () => this.downloadOnce(call, file, opts.maxBytes ?? 8 * 1024 ** 3);
    return opts.retry ? this.withRetry(call.ctx, once) : once();
  }

  /** `gh secret set NAME -R repo [--env ENV]`, the value on stdin only (repeatable, so retried). */
  async setSecret(name: string, value: string, opts: { environment?: string; timeoutMs?: number; retry?: boolean } = {}): Promise<void> {
    if (!SECRET_NAME_RE.test(name) || /^GITHUB_/i.test(name)) throw new TypeError('a secret name is [A-Za-z_][A-Za-z0-9_]* and does not start with GITHUB_');
    // gh trims trailing newlines from stdin: such a value would be stored altered.
    if (value.length === 0 || /[\r\n]$/.test(value)) throw new TypeError('a secret value is non-empty and does not end in a newline');
    const env = opts.environment;
    if (env !== undefined && (env.length === 0 || env.length > 255 || env.startsWith('-') || /[\u0000-\u001f\u007f]/.test(env))) {
      throw new TypeError('the environment name is empty, too long, starts with "-" or has control characters');
    }
    const args = ['secret', 'set', name, '-R', this.repo, ...(env === undefined ? [] : ['--env', env])];
    const ctx: GhCallContext = {
      method: 'PUT',
      path: env === undefined ? this.repoPath(`actions/secrets/${name}`) : this.repoPath(`environments/${env}/secrets/${name}`),
      secrets: [value, ...this.envSecrets],
    };
    const once = async () => {
      const result = await this.run(args, ctx, Buffer.from(value, 'utf8'), opts.timeoutMs ?? this.timeoutMs, () => {});
      if (result.exitCode !== 0) throw secretSetError(name, result, ctx);
    };
    return opts.retry === false ? once() : this.withRetry(ctx, once);
  }

  /** The version `gh --version` reports. */
  async version(): Promise<GhVersion> {
    const ctx: GhCallContext = { method: 'EXEC', path: 'gh --version', secrets: this.envSecrets };
    let out = Buffer.alloc(0);
    const result = await this.run(['--version'], ctx, undefined, this.timeoutMs, (chunk) => {
      if (out.length < 64 * 1024) out = Buffer.concat([out, chunk]);
    });
    const match = /^gh version (\d+)\.(\d+)\.(\d+)\b/.exec(out.toString('utf8'));
    if (result.exitCode !== 0 || !match) {
      throw ghError('GH_RESPONSE_INVALID', 'gh --version printed no version', baseDetails('GH_RESPONSE_INVALID', ctx, null, null));
    }
    const [major, minor, patch] = [Number(match[1]), Number(match[2]), Number(match[3])];
    return { version: `${major}.${minor}.${patch}`, major, minor, patch };
  }

  /**
   * Whether `gh auth status [-h host]` exits 0. Its output holds a token prefix, so it is read by
   * nobody: only the exit code comes back.
   */
  async authStatusOk(host?: string): Promise<boolean> {
    if (host !== undefined && !HOST_RE.test(host)) throw new TypeError('the host is not host[:port]');
    const ctx: GhCallContext = { method: 'EXEC', path: 'gh auth status', secrets: this.envSecrets };
    const result = await this.run(['auth', 'status', ...(host === undefined ? [] : ['-h', host])], ctx, undefined, this.timeoutMs, () => {});
    return result.exitCode === 0;
  }

  private prepare(method: GhMethod, path: string, opts: GhRequestOptions): PreparedCall {
    const bare = path.replace(/^\/+/, '');
    if (!PATH_RE.test(bare) || bare.startsWith('-') || bare.split('/').some((segment) => segment === '.' || segment === '..')) {
      throw new TypeError(`not a REST path gh can be given: ${JSON.stringify(path)}`);
    }
    const query = opts.query ? new URLSearchParams(Object.entries(opts.query).map(([k, v]): [string, string] => [k, String(v)])).toString() : '';
    const pathWithQuery = query ? `${bare}?${query}` : bare;
    if (opts.body !== undefined && opts.rawBody !== undefined) throw new TypeError('give body or rawBody, not both');
    const stdin = opts.rawBody ?? (opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body), 'utf8'));
    const headers: Record<string, string> = { Accept: opts.accept ?? DEFAULT_ACCEPT, 'X-GitHub-Api-Version': API_VERSION, ...opts.headers };
    const args = ['api', '-i', '-X', method, pathWithQuery];
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME_RE.test(name) || /[\u0000-\u001f\u007f]/.test(value)) throw new TypeError(`invalid request header ${JSON.stringify(name)}`);
      if (/^(authorization|cookie)$/i.test(name)) throw new TypeError('credentials never go on gh argv');
      args.push('-H', `${name}: ${value}`);
    }
    if (stdin !== undefined) args.push('--input', '-');
    const secrets = [...this.envSecrets, ...sentStrings(opts.body), ...(opts.rawBody && opts.rawBody.length >= 8 ? [opts.rawBody.toString('utf8')] : [])];
    return { args, stdin, timeoutMs: opts.timeoutMs ?? this.timeoutMs, ctx: { method, path: pathWithQuery, secrets } };
  }

  private async requestOnce(call: PreparedCall): Promise<GhResponse> {
    const reader = new GhHeadReader(call.ctx);
    const chunks: Buffer[] = [];
    let size = 0;
    const result = await this.run(call.args, call.ctx, call.stdin, call.timeoutMs, (chunk) => {
      size += chunk.length;
      if (size > this.maxResponseBytes) {
        throw ghError('GH_RESPONSE_INVALID', `the answer to ${call.ctx.method} ${call.ctx.path} is larger than ${this.maxResponseBytes} bytes`, baseDetails('GH_RESPONSE_INVALID', call.ctx, reader.head?.status ?? null, null));
      }
      const body = reader.push(chunk);
      if (body && body.length > 0) chunks.push(body);
    });
    const head = this.headOrThrow(reader, result, call.ctx);
    const body = Buffer.concat(chunks);
    if (head.status >= 300) throw httpError(head, body, call.ctx, this.now());
    this.checkComplete(head, result, body.length, call.ctx);
    return response(head, body, call.ctx);
  }

  private async downloadOnce(call: PreparedCall, file: string, maxBytes: number): Promise<GhDownload> {
    const reader = new GhHeadReader(call.ctx);
    const hash = crypto.createHash('sha256');
    const errorBody: Buffer[] = [];
    let errorBytes = 0;
    let bytes = 0;
    let fd: number | undefined;
    const openFile = () =>
      fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
    try {
      const result = await this.run(call.args, call.ctx, undefined, call.timeoutMs, (chunk) => {
        const body = reader.push(chunk);
        if (!body || !reader.head) return;
        if (reader.head.status >= 300) {
          if (errorBytes < ERROR_BODY_LIMIT) errorBody.push(body.subarray(0, ERROR_BODY_LIMIT - errorBytes));
          errorBytes += body.length;
          return;
        }
        fd ??= openFile();
        bytes += body.length;
        if (bytes > maxBytes) {
          throw ghError('GH_RESPONSE_INVALID', `the download of ${call.ctx.path} is larger than ${maxBytes} bytes`, baseDetails('GH_RESPONSE_INVALID', call.ctx, reader.head.status, requestIdOf(reader.head.headers)));
        }
        hash.update(body);
        fs.writeSync(fd, body);
      });
      const head = this.headOrThrow(reader, result, call.ctx);
      if (head.status >= 300) throw httpError(head, Buffer.concat(errorBody), call.ctx, this.now());
      this.checkComplete(head, result, bytes, call.ctx);
      fd ??= openFile(); // an empty body still leaves a file
      fs.closeSync(fd);
      fd = undefined;
      return { status: head.status, headers: head.headers, bytes, sha256: hash.digest('hex'), requestId: requestIdOf(head.headers) };
    } catch (error) {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw error;
    }
  }

  /** Spawns gh; turns "could not start" and "ran past the deadline" into coded errors. */
  private async run(args: string[], ctx: GhCallContext, stdin: Buffer | undefined, timeoutMs: number, onStdout: (chunk: Buffer) => void): Promise<GhProcessResult> {
    const result = await runGhProcess({ bin: this.bin, args, env: this.env, stdin, timeoutMs, killGraceMs: this.killGraceMs, onStdout, onSpawn: this.onSpawn });
    if (result.spawnError) {
      const errno = result.spawnError.code ?? null;
      throw new SwarmError('GH_CLI_UNAVAILABLE', `gh could not be started (${errno ?? 'spawn failed'}); install it or set SWARM_GH_BIN`, {
        details: { ...baseDetails('GH_CLI_UNAVAILABLE', ctx, null, null), errno, bin: this.bin },
      });
    }
    if (result.timedOut) {
      throw ghError('GH_COMMAND_TIMEOUT', `gh ran past ${timeoutMs} ms on ${ctx.method} ${ctx.path}; its process group was killed`, baseDetails('GH_COMMAND_TIMEOUT', ctx, null, null));
    }
    return result;
  }

  /** The parsed head, or the error for a gh that printed none (no connection, TLS, no login). */
  private headOrThrow(reader: GhHeadReader, result: GhProcessResult, ctx: GhCallContext): GhHead {
    if (reader.head) return reader.head;
    const summary = safeText(stderrSummary(result.stderr), ctx.secrets);
    const said = summary ? `: ${summary}` : '';
    if (result.exitCode === 4) {
      // gh's exit code for "no credentials for this host".
      throw ghError('GH_AUTH_FAILED', `gh has no credentials for the host${said}; run gh auth login`, baseDetails('GH_AUTH_FAILED', ctx, null, null));
    }
    if (result.exitCode === 0 && !reader.started) {
      throw ghError('GH_RESPONSE_INVALID', `gh printed no HTTP answer to ${ctx.method} ${ctx.path}`, baseDetails('GH_RESPONSE_INVALID', ctx, null, null));
    }
    throw ghError('GH_TRANSPORT_FAILED', `gh got no HTTP answer to ${ctx.method} ${ctx.path}${said}`, baseDetails('GH_TRANSPORT_FAILED', ctx, null, null));
  }

  /** A success whose body was cut short (gh exits non-zero after printing part of it) is a transport failure. */
  private checkComplete(head: GhHead, result: GhProcessResult, bodyBytes: number, ctx: GhCallContext): void {
    const declared = head.headers['content-length'];
    const lengthKnown = declared !== undefined && /^\d+$/.test(declared) && head.headers['content-encoding'] === undefined && ctx.method !== 'HEAD';
    if (result.exitCode === 0 && (!lengthKnown || Number(declared) === bodyBytes)) return;
    const summary = safeText(stderrSummary(result.stderr), ctx.secrets);
    throw ghError('GH_TRANSPORT_FAILED', `the answer to ${ctx.method} ${ctx.path} was cut short${summary ? `: ${summary}` : ''}`, baseDetails('GH_TRANSPORT_FAILED', ctx, head.status, requestIdOf(head.headers)));
  }

  private async withRetry<T>(ctx: GhCallContext, fn: () => Promise<T>): Promise<T> {
    let attempts = 0;
    try {
      return await pRetry(
        async () => {
          attempts += 1;
          return fn();
        },
        {
          ...this.retryOptions,
          shouldRetry: ({ error }) => isSwarmError(error) && error.retryable,
          onFailedAttempt: async ({ error, retriesLeft }) => {
            if (!isSwarmError(error) || !error.retryable || retriesLeft <= 0 || error.code !== 'GH_RATE_LIMITED') return;
            const waitMs = (error.details as GhErrorDetails).wait_ms ?? 60_000;
            // Throwing here ends the retries with this error (GH_RATE_LIMITED, retry later).
            if (waitMs > this.maxRateLimitWaitMs) throw error;
            await this.sleep(waitMs);
          },
        },
      );
    } catch (error) {
      if (isSwarmError(error) && error.details && typeof error.details === 'object' && 'attempts' in error.details) {
        (error.details as GhErrorDetails).attempts = attempts;
      }
      throw error;
    }
  }
}

interface PreparedCall {
  args: string[];
  stdin: Buffer | undefined;
  timeoutMs: number;
  ctx: GhCallContext;
}

function response(head: GhHead, body: Buffer, ctx: GhCallContext): GhResponse {
  return {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
    body,
    requestId: requestIdOf(head.headers),
    json<T>(): T {
      try {
        return JSON.parse(body.toString('utf8')) as T;
      } catch {
        throw ghError('GH_RESPONSE_INVALID', `the answer to ${ctx.method} ${ctx.path} is not JSON`, baseDetails('GH_RESPONSE_INVALID', ctx, head.status, requestIdOf(head.headers)));
      }
    },
  };
}
