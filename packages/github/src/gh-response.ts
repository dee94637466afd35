/**
 * Reads what `gh api -i` prints (status line, headers, blank line, body) and turns an HTTP
 * answer into a coded error. Classification looks at the parsed status and headers only; the
 * GitHub `message` of an error body is quoted, redacted and truncated, never matched for codes
 * (except the rate-limit wording GitHub documents for 403s).
 */
import { SwarmError } from '@swarm/core';
import { GITHUB_ERROR_CODES, type GithubErrorCode } from './errors.js';

export interface GhHead {
  status: number;
  statusText: string;
  /** Names lowercased; gh already joins repeated headers with ", ". */
  headers: Record<string, string>;
}

/** What every gh error carries in `details`. */
export interface GhErrorDetails {
  category: string;
  http_status: number | null;
  github_request_id: string | null;
  method: string;
  /** The path with its query, never a body. */
  path: string;
  attempts: number;
  github_message?: string;
  rate_limit?: 'primary' | 'secondary';
  retry_after_s?: number | null;
  rate_limit_reset?: number | null;
  /** How long a retry must wait, from Retry-After, the reset time or the 60 s secondary default. */
  wait_ms?: number;
}

export interface GhCallContext {
  method: string;
  path: string;
  /** Strings that must never appear in a message (what we sent, token values from env). */
  secrets: readonly string[];
}

const MAX_HEAD_BYTES = 64 * 1024;
const MESSAGE_LIMIT = 300;
const SECONDARY_LIMIT_WAIT_MS = 60_000;

/**
 * Splits the head from the body as stdout arrives. `push` returns body bytes once the blank line
 * after the headers has been seen (gh ends the status line with "\n" and headers with "\r\n").
 */
export class GhHeadReader {
  private pending = Buffer.alloc(0);
  head: GhHead | undefined;

  constructor(private readonly ctx: Omit<GhCallContext, 'secrets'>) {}

  /** Bytes seen so far that did not complete a head (for "no status line" diagnostics). */
  get started(): boolean {
    return this.head !== undefined || this.pending.length > 0;
  }

  push(chunk: Buffer): Buffer | undefined {
    if (this.head) return chunk;
    this.pending = Buffer.concat([this.pending, chunk]);
    const end = headEnd(this.pending);
    if (end === undefined) {
      if (this.pending.length > MAX_HEAD_BYTES || !looksLikeStatusPrefix(this.pending)) throw this.invalid('gh printed no HTTP status line');
      return undefined;
    }
    this.head = parseHead(this.pending.subarray(0, end.headLength).toString('latin1'), this.ctx);
    const body = this.pending.subarray(end.bodyStart);
    this.pending = Buffer.alloc(0);
    return body;
  }

  private invalid(message: string): SwarmError {
    return ghError('GH_RESPONSE_INVALID', `${message} for ${this.ctx.method} ${this.ctx.path}`, baseDetails('GH_RESPONSE_INVALID', this.ctx, null, null));
  }
}

function looksLikeStatusPrefix(bytes: Buffer): boolean {
  const prefix = 'HTTP/';
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).toString('latin1') === prefix.slice(0, n);
}

function headEnd(bytes: Buffer): { headLength: number; bodyStart: number } | undefined {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a) return { headLength: i, bodyStart: i + 2 };
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return { headLength: i, bodyStart: i + 3 };
  }
  return undefined;
}

function parseHead(text: string, ctx: Omit<GhCallContext, 'secrets'>): GhHead {
  const [statusLine = '', ...lines] = text.split('\n').map((line) => line.replace(/\r$/, ''));
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})(?: (.*))?$/.exec(statusLine);
  const invalid = (why: string) =>
    ghError('GH_RESPONSE_INVALID', `gh printed ${why} for ${ctx.method} ${ctx.path}`, baseDetails('GH_RESPONSE_INVALID', ctx, null, null));
  if (!match) throw invalid('a malformed HTTP status line');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(line.slice(0, colon))) throw invalid('a malformed response header');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(match[1]), statusText: match[2] ?? '', headers };
}

export function requestIdOf(headers: Record<string, string>): string | null {
  return headers['x-github-request-id'] ?? null;
}

export function ghError(code: GithubErrorCode, message: string, details: GhErrorDetails): SwarmError {
  return new SwarmError(code, message, { details });
}

export function baseDetails(
  code: GithubErrorCode,
  ctx: Pick<GhCallContext, 'method' | 'path'>,
  status: number | null,
  requestId: string | null,
): GhErrorDetails {
  return { category: categoryOf(code), http_status: status, github_request_id: requestId, method: ctx.method, path: ctx.path, attempts: 1 };
}

function categoryOf(code: GithubErrorCode): string {
  return GITHUB_ERROR_CODES[code].category;
}

/** Text safe for a message: secrets replaced, control characters dropped, at most `limit` chars. */
export function safeText(text: string, secrets: readonly string[], limit = MESSAGE_LIMIT): string {
  let out = text;
  // Longest first, so a value that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return out.length > limit ? `${out.slice(0, limit)}…` : out;
}

/** The `message` of a GitHub error body, if the body is JSON and has one. */
export function githubMessage(body: Buffer): string | undefined {
  if (body.length === 0 || body.length > 1024 * 1024) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
      return (parsed as { message: string }).message;
    }
  } catch {
    // An HTML error page or no body: there is no message to quote.
  }
  return undefined;
}

/**
 * Maps an HTTP status (with its headers and body) to a coded error. `now` is the local clock,
 * used only when GitHub sent no Date header to measure the rate-limit reset against.
 */
export function httpError(head: GhHead, body: Buffer, ctx: GhCallContext, now: number): SwarmError {
  const { status, headers } = head;
  const requestId = requestIdOf(headers);
  const rawMessage = githubMessage(body);
  const message = rawMessage === undefined ? undefined : safeText(rawMessage, ctx.secrets);
  const said = message ? `: ${message}` : '';
  const where = `${ctx.method} ${ctx.path}`;
  const details = (code: GithubErrorCode): GhErrorDetails => ({
    ...baseDetails(code, ctx, status, requestId),
    ...(message === undefined ? {} : { github_message: message }),
  });

  const primary = headers['x-ratelimit-remaining'] === '0';
  const rateWords = /rate limit/i.test(rawMessage ?? '');
  if (status === 429 || (status === 403 && (primary || rateWords))) {
    const kind = primary ? 'primary' : 'secondary';
    const retryAfter = retryAfterSeconds(headers['retry-after'], headers.date, now);
    const reset = /^\d+$/.test(headers['x-ratelimit-reset'] ?? '') ? Number(headers['x-ratelimit-reset']) : null;
    const serverNow = parseDate(headers.date) ?? now;
    const waitMs =
      retryAfter !== null
        ? retryAfter * 1000
        : kind === 'primary' && reset !== null
          ? Math.max(0, reset * 1000 - serverNow) + 1000
          : SECONDARY_LIMIT_WAIT_MS;
    return ghError('GH_RATE_LIMITED', `GitHub rate-limited ${where} (HTTP ${status}, ${kind} limit)${said}`, {
      ...details('GH_RATE_LIMITED'),
      rate_limit: kind,
      retry_after_s: retryAfter,
      rate_limit_reset: reset,
      wait_ms: waitMs,
    });
  }
  if (status === 401) return ghError('GH_AUTH_FAILED', `GitHub refused gh's credentials for ${where} (HTTP 401)${said}`, details('GH_AUTH_FAILED'));
  if (status === 403) return ghError('GH_FORBIDDEN', `GitHub refused ${where} (HTTP 403)${said}`, details('GH_FORBIDDEN'));
  if (status === 404) return ghError('GH_NOT_FOUND', `GitHub found nothing at ${where} (HTTP 404)${said}`, details('GH_NOT_FOUND'));
  const retryable = status >= 500 && status <= 599;
  return new SwarmError('GH_HTTP_ERROR', `GitHub answered HTTP ${status} to ${where}${said}`, {
    details: details('GH_HTTP_ERROR'),
    retryable,
  });
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Retry-After is either delay seconds or an HTTP date (measured against the server's Date). */
function retryAfterSeconds(value: string | undefined, date: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const at = parseDate(value);
  if (at === undefined) return null;
  return Math.max(0, Math.ceil((at - (parseDate(date) ?? now)) / 1000));
}

/** The line of gh's stderr worth quoting: a Go panic's first line, else the last non-empty line. */
export function stderrSummary(stderr: string): string {
  const lines = stderr.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  return lines.find((line) => line.startsWith('panic:')) ?? lines.at(-1) ?? '';
}

/**
 * The error of a failed `gh secret set`. It has no -i, so the status comes from its message
 * ("…: HTTP 404: Not Found (url)"); without one, exit code 4 means no credentials, else transport.
 */
export function secretSetError(name: string, result: { exitCode: number | null; signal: NodeJS.Signals | null; stderr: string }, ctx: GhCallContext): SwarmError {
  const line = stderrSummary(result.stderr);
  const summary = safeText(line, ctx.secrets);
  const said = summary ? `: ${summary}` : '';
  const status = /\bHTTP (\d{3})\b/.exec(line)?.[1];
  let code: GithubErrorCode = 'GH_TRANSPORT_FAILED';
  let retryable: boolean | undefined;
  if (status !== undefined) {
    const n = Number(status);
    if (n === 429 || (n === 403 && /rate limit/i.test(line))) code = 'GH_RATE_LIMITED';
    else if (n === 401) code = 'GH_AUTH_FAILED';
    else if (n === 403) code = 'GH_FORBIDDEN';
    else if (n === 404) code = 'GH_NOT_FOUND';
    else {
      code = 'GH_HTTP_ERROR';
      retryable = n >= 500;
    }
  } else if (result.exitCode === 4) {
    code = 'GH_AUTH_FAILED';
  }
  const details: GhErrorDetails = {
    ...baseDetails(code, ctx, status === undefined ? null : Number(status), null),
    ...(code === 'GH_RATE_LIMITED' ? { wait_ms: SECONDARY_LIMIT_WAIT_MS } : {}),
  };
  return new SwarmError(code, `gh secret set ${name} failed (exit ${result.exitCode ?? result.signal})${said}`, { details, retryable });
}

/** The string values of a JSON body (long enough to matter), which a message must never echo. */
export function sentStrings(body: unknown): string[] {
  if (body === undefined) return [];
  const out: string[] = [];
  const visit = (value: unknown) => {
    if (typeof value === 'string') {
      if (value.length >= 8) out.push(value);
    } else if (Array.isArray(value)) value.forEach(visit);
    else if (value && typeof value === 'object') Object.values(value).forEach(visit);
  };
  visit(body);
  const whole = JSON.stringify(body);
  if (whole.length >= 8) out.push(whole);
  return out;
}
