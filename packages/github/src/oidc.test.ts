import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyIdToken, type ExpectedClaims, type Jwks } from './oidc.js';

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks: Jwks = { keys: [{ ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k1', alg: 'RS256' }] };
const pin = 'a'.repeat(40);
// A run that ended a day ago: its token expired long since, and still verifies.
const ranAt = Math.floor(Date.now() / 1000) - 24 * 3600;

const expected: ExpectedClaims = {
  issuer: 'https://ghe.example/_services/token',
  audience: 'swarm:sha256:' + 'c'.repeat(64),
  repository: 'acme/agents',
  workflowPath: '.github/workflows/swarm-run.yml',
  pin,
  tag: `swarm-pin-${pin}`,
  runId: 9000000001,
  runAttempt: 1,
  issuedAfter: ranAt - 5,
  issuedBefore: ranAt + 30,
};

function claims(): Record<string, unknown> {
  const ref = `refs/tags/swarm-pin-${pin}`;
  return {
    iss: expected.issuer,
    aud: expected.audience,
    repository: 'acme/agents',
    ref,
    sha: pin,
    workflow_ref: `acme/agents/.github/workflows/swarm-run.yml@${ref}`,
    workflow_sha: pin,
    job_workflow_ref: `acme/agents/.github/workflows/swarm-run.yml@${ref}`,
    job_workflow_sha: pin,
    run_id: '9000000001',
    run_attempt: '1',
    event_name: 'workflow_dispatch',
    iat: ranAt,
    nbf: ranAt - 5,
    exp: ranAt + 300,
  };
}

function token(body: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: 'k1', typ: 'JWT' }, key = privateKey): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64(header)}.${b64(body)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

const refused = (jwt: string) => {
  try {
    verifyIdToken(jwt, jwks, expected);
    return '(accepted)';
  } catch (error) {
    return `${(error as { code?: string }).code}: ${(error as Error).message}`;
  }
};

describe('OIDC token verification', () => {
  it('accepts a genuine token of a run that ended long ago (its time is checked, not now)', () => {
    expect(verifyIdToken(token(claims()), jwks, expected).run_id).toBe('9000000001');
  });

  it.each([
    ['aud', { aud: 'swarm:sha256:' + 'd'.repeat(64) }],
    ['iss', { iss: 'https://token.actions.githubusercontent.com' }],
    ['repository', { repository: 'acme/other' }],
    ['job_workflow_ref', { job_workflow_ref: `acme/agents/.github/workflows/other.yml@refs/tags/x` }],
    ['job_workflow_sha', { job_workflow_sha: 'b'.repeat(40) }],
    ['workflow_sha', { workflow_sha: 'b'.repeat(40) }],
    ['workflow_ref', { workflow_ref: `acme/agents/.github/workflows/caller.yml@refs/heads/main` }],
    ['ref', { ref: 'refs/heads/evil', workflow_ref: 'acme/agents/.github/workflows/swarm-run.yml@refs/heads/evil', job_workflow_ref: 'acme/agents/.github/workflows/swarm-run.yml@refs/heads/evil' }],
    ['sha', { sha: 'b'.repeat(40) }],
    ['run_id', { run_id: '1' }],
    ['run_attempt', { run_attempt: '2' }],
    ['event_name', { event_name: 'push' }],
    ['iat', { iat: ranAt - 3600, nbf: ranAt - 3600, exp: ranAt - 3300 }],
    ['exp', { exp: ranAt - 1 }],
  ])('refuses a token whose %s is not this run’s', (field, change) => {
    expect(refused(token({ ...claims(), ...change }))).toMatch(new RegExp(`^OIDC_INVALID: .*\\b${field}\\b`));
  });

  it('refuses alg none, HS256, an unknown or absent kid, another key, and malformed parts, always as OIDC_INVALID', () => {
    const [h, b] = token(claims()).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: 'k1' })).toString('base64url')}.${b}.`;
    const hs = Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'k1' })).toString('base64url');
    const hsToken = `${hs}.${b}.${crypto.createHmac('sha256', JSON.stringify(jwks.keys[0])).update(`${hs}.${b}`).digest('base64url')}`;
    const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (const jwt of [
      none,
      hsToken,
      token(claims(), { alg: 'RS256', kid: 'k2' }),
      token(claims(), { alg: 'RS256' }),
      token(claims(), { alg: 'RS256', kid: 'k1' }, other),
      `${Buffer.from('null').toString('base64url')}.${b}.x`,
      `${h}.${Buffer.from('[1]').toString('base64url')}.x`,
      'not-a-jwt',
    ]) {
      expect(refused(jwt)).toMatch(/^OIDC_INVALID: /);
    }
  });
});
