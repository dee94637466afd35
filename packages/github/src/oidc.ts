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
  const response = await fetch(url, { headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
  if (!response.ok) throw new SwarmError('OIDC_INVALID', `the OIDC issuer answered ${response.status}`);
  const value = ((await response.json()) as { value?: unknown }).value;
  if (typeof value !== 'string' || value.split('.').length !== 3) throw new SwarmError('OIDC_INVALID', 'the OIDC issuer answered without a token');
  return value;
}

export interface Jwks {
  keys: Array<Record<string, unknown>>;
}

/** The issuer's keys, through its discovery document (TLS as the host trusts it). */
export async function fetchJwks(issuer: string): Promise<Jwks> {
  const get = async (url: string) => {
    const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new SwarmError('OIDC_INVALID', `${url} answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  };
  const config = await get(`${issuer}/.well-known/openid-configuration`);
  const jwksUri = String(config.jwks_uri ?? '');
  if (config.issuer !== issuer || new URL(jwksUri).origin !== new URL(issuer).origin) {
    throw new SwarmError('OIDC_INVALID', `the discovery document of ${issuer} names another issuer or key host`);
  }
  const jwks = (await get(jwksUri)) as unknown as Jwks;
  if (!Array.isArray(jwks.keys)) throw new SwarmError('OIDC_INVALID', `${jwksUri} holds no keys`);
  return jwks;
}

export interface ExpectedClaims {
  issuer: string;
  audience: string;
  repository: string;
  workflowPath: string;
  pin: string;
  runId: number;
  runAttempt: number;
  nowS: number;
}

/** Verifies the token's signature and claims; returns the claims. Every failure is OIDC_INVALID. */
export function verifyIdToken(token: string, jwks: Jwks, expect: ExpectedClaims): Record<string, unknown> {
  const invalid = (why: string) => new SwarmError('OIDC_INVALID', `the run's OIDC token is refused: ${why}`, { details: { reason: why } });
  const parts = token.trim().split('.');
  if (parts.length !== 3) throw invalid('not a JWT');
  let header: { alg?: unknown; kid?: unknown };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw invalid('its header or claims are not JSON');
  }
  if (header.alg !== 'RS256') throw invalid(`algorithm ${String(header.alg)}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid && (k.kty === 'RSA'));
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
    ['exp', typeof claims.exp === 'number' && claims.exp + skew >= expect.nowS],
    ['nbf', claims.nbf === undefined || (typeof claims.nbf === 'number' && claims.nbf - skew <= expect.nowS)],
    ['repository', claims.repository === expect.repository],
    ['job_workflow_ref', typeof claims.job_workflow_ref === 'string' && claims.job_workflow_ref.startsWith(`${expect.repository}/${expect.workflowPath}@`)],
    ['job_workflow_sha', claims.job_workflow_sha === expect.pin],
    ['sha', claims.sha === expect.pin],
    ['run_id', String(claims.run_id) === String(expect.runId)],
    ['run_attempt', String(claims.run_attempt) === String(expect.runAttempt)],
    ['event_name', claims.event_name === 'workflow_dispatch'],
  ];
  const wrong = checks.filter(([, ok]) => !ok).map(([name]) => name);
  if (wrong.length > 0) throw invalid(`its ${wrong.join(', ')} ${wrong.length === 1 ? 'does' : 'do'} not match this run`);
  return claims;
}
