/**
 * Binding a certificate to the job that made it (research §3.5). The worker asks the Actions OIDC
 * issuer for a token whose audience is `swarm:sha256:<certificate digest>`; collect checks its
 * RS256 signature against the issuer's published keys and its claims against the run: the
 * repository, the workflow file and commit (the pin), the run id and attempt, the event. Forging
 * a certificate then takes running the pinned workflow, not only holding the runner key.
 */
import crypto from 'node:crypto';
import { SwarmError } from '@swarm/core';
import './errors.js';
import { HttpAnswerRefused, HttpTimeoutError, httpRequest, type HttpRequestOptions, type HttpResponse } from './http.js';

export function oidcAudience(certificateSha256Hex: string): string {
  return `swarm:sha256:${certificateSha256Hex}`;
}

/** The issuer of a host: GitHub's own, or a GHES host's `/_services/token`. */
export function oidcIssuer(ghHost: string | undefined): string {
  return !ghHost || ghHost === 'github.com' ? 'https://token.actions.githubusercontent.com' : `https://${ghHost}/_services/token`;
}

/** The worker's side: a token for this audience from the job's request URL. */
export async function requestIdToken(requestUrl: string, requestToken: string, audience: string): Promise<string> {
  const url = new URL(requestUrl);
  url.searchParams.set('audience', audience);
  const response = await reach(url, { headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json', 'user-agent': 'swarm-worker' }, redirect: 'follow', maxBodyBytes: 1024 * 1024 });
  if (response.status < 200 || response.status > 299) throw new SwarmError('OIDC_INVALID', `the OIDC issuer answered ${response.status}`);
  let value: unknown;
  try {
    value = (JSON.parse(response.body.toString('utf8')) as { value?: unknown } | null)?.value;
  } catch {
    throw new SwarmError('OIDC_INVALID', 'the OIDC issuer answered something that is not JSON');
  }
  if (typeof value !== 'string' || value.split('.').length !== 3) throw new SwarmError('OIDC_INVALID', 'the OIDC issuer answered without a token');
  return value;
}

export interface Jwks {
  keys: Array<Record<string, unknown>>;
}

/** The issuer's keys, through its discovery document (TLS as the host trusts it). */
export async function fetchJwks(issuer: string): Promise<Jwks> {
  const get = async (url: string) => {
    // No redirects (the origin check below is of the URL asked), and a bounded body.
    const response = await reach(new URL(url), { headers: { accept: 'application/json', 'user-agent': 'swarm' }, redirect: 'error', maxBodyBytes: 1024 * 1024 });
    if (response.status < 200 || response.status > 299) throw new SwarmError('OIDC_INVALID', `${url} answered ${response.status}`);
    try {
      const value = JSON.parse(response.body.toString('utf8')) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch {
      throw new SwarmError('OIDC_INVALID', `${url} answered something that is not a JSON object`);
    }
  };
  const config = await get(`${issuer}/.well-known/openid-configuration`);
  const jwksUri = String(config.jwks_uri ?? '');
  if (config.issuer !== issuer || !URL.canParse(jwksUri) || new URL(jwksUri).origin !== new URL(issuer).origin) {
    throw new SwarmError('OIDC_INVALID', `the discovery document of ${issuer} names another issuer or key host`);
  }
  const jwks = (await get(jwksUri)) as unknown as Jwks;
  if (!Array.isArray(jwks.keys) || !jwks.keys.every((k) => typeof k === 'object' && k !== null)) throw new SwarmError('OIDC_INVALID', `${jwksUri} holds no keys`);
  return jwks;
}

export interface ExpectedClaims {
  issuer: string;
  audience: string;
  repository: string;
  workflowPath: string;
  pin: string;
  /** The tag the run was dispatched to (the token's `ref` is `refs/tags/<tag>`). */
  tag: string;
  runId: number;
  runAttempt: number;
  /**
   * When the token must have been issued: after the certificate was made, before the run ended
   * (unix seconds). Not the time of collect: a run may be collected days later.
   */
  issuedAfter: number;
  issuedBefore: number;
}

/** Verifies the token's signature and claims; returns the claims. Every failure is OIDC_INVALID. */
export function verifyIdToken(token: string, jwks: Jwks, expect: ExpectedClaims): Record<string, unknown> {
  const invalid = (why: string) => new SwarmError('OIDC_INVALID', `the run's OIDC token is refused: ${why}`, { details: { reason: why } });
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw invalid('not a JWT');
  const object = (text: string): Record<string, unknown> | null => {
    try {
      const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const header = object(parts[0]!) as { alg?: unknown; kid?: unknown } | null;
  const claims = object(parts[1]!);
  if (!header || !claims) throw invalid('its header or claims are not JSON objects');
  if (header.alg !== 'RS256') throw invalid(`algorithm ${String(header.alg)}`);
  const jwk = typeof header.kid === 'string' ? jwks.keys.find((k) => k.kid === header.kid && k.kty === 'RSA') : undefined;
  if (!jwk) throw invalid('signed by a key the issuer does not publish');
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: { kty: 'RSA', n: String(jwk.n), e: String(jwk.e) }, format: 'jwk' });
  } catch {
    throw invalid('the issuer key is malformed');
  }
  if (!crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'))) throw invalid('bad signature');
  const skew = 60;
  const checks: Array<[string, boolean]> = [
    ['iss', claims.iss === expect.issuer],
    ['aud', claims.aud === expect.audience || (Array.isArray(claims.aud) && claims.aud.length === 1 && claims.aud[0] === expect.audience)],
    // Issued while the run ran, after the certificate, and valid then (checked at that time, not now).
    ['iat', typeof claims.iat === 'number' && claims.iat + skew >= expect.issuedAfter && claims.iat - skew <= expect.issuedBefore],
    ['exp', typeof claims.exp === 'number' && typeof claims.iat === 'number' && claims.exp > claims.iat],
    ['nbf', claims.nbf === undefined || (typeof claims.nbf === 'number' && typeof claims.iat === 'number' && claims.nbf - skew <= claims.iat)],
    ['repository', claims.repository === expect.repository],
    ['job_workflow_ref', typeof claims.job_workflow_ref === 'string' && claims.job_workflow_ref.startsWith(`${expect.repository}/${expect.workflowPath}@`)],
    ['job_workflow_sha', claims.job_workflow_sha === expect.pin],
    ['sha', claims.sha === expect.pin],
    ['workflow_sha', claims.workflow_sha === expect.pin],
    ['workflow_ref', claims.workflow_ref === claims.job_workflow_ref],
    ['ref', claims.ref === `refs/tags/${expect.tag}`],
    ['run_id', String(claims.run_id) === String(expect.runId)],
    ['run_attempt', String(claims.run_attempt) === String(expect.runAttempt)],
    ['event_name', claims.event_name === 'workflow_dispatch'],
  ];
  const wrong = checks.filter(([, ok]) => !ok).map(([name]) => name);
  if (wrong.length > 0) throw invalid(`its ${wrong.join(', ')} ${wrong.length === 1 ? 'does' : 'do'} not match this run`);
  return claims;
}

/**
 * An exchange with the issuer. An answer refused (a redirect, a body over the bound) is
 * OIDC_INVALID; not reaching the issuer (connection, TLS, timeout) is GH_TRANSPORT_FAILED.
 */
async function reach(url: URL, options: HttpRequestOptions): Promise<HttpResponse> {
  try {
    return await httpRequest(url, { timeoutMs: 30_000, ...options });
  } catch (cause) {
    if (cause instanceof HttpAnswerRefused) throw new SwarmError('OIDC_INVALID', cause.message, { cause });
    const what = cause instanceof HttpTimeoutError ? 'timed out' : (cause as Error).message;
    throw new SwarmError('GH_TRANSPORT_FAILED', `the OIDC issuer at ${url.origin} could not be reached: ${what}`, { retryable: true, cause });
  }
}
