import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyIdOf, x25519PublicKey, type SigningKey } from '@swarm/core';
import { buildEnvelope, openEnvelope, openToken, sealToken, type EnvelopeInput } from './envelope.js';
import { openBox, sealBox } from './sealed-box.js';

function signer(): SigningKey {
  const { privateKey } = crypto.generateKeyPairSync('ed25519');
  const x = (crypto.createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string }).x;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}

const pin = 'a'.repeat(40);
const operator = signer();
const runnerSecret = crypto.randomBytes(32);
const runnerPublic = x25519PublicKey(runnerSecret).toString('base64url');
const stateKey = crypto.randomBytes(32).toString('hex');

function input(overrides: Partial<EnvelopeInput> = {}): EnvelopeInput {
  return {
    request_id: 'r-1-abc',
    run_id: 'r-1',
    repo: 'acme/agents',
    workflow_ref: `acme/agents/.github/workflows/swarm-run.yml@${pin}`,
    pin,
    parent: { node_id: 'root', state_id: 'state-root', ratchet_step: 0, bundle_sha256: `sha256:${'b'.repeat(64)}`, manifest_sha256: `sha256:${'c'.repeat(64)}`, wrapped_key: 'wk' },
    input: { transport: 'gh-blobs', blobs: ['d'.repeat(40)], sha256: `sha256:${'b'.repeat(64)}`, size: 10 },
    reply_to: x25519PublicKey(crypto.randomBytes(32)).toString('base64url'),
    secret: { state_key: stateKey, net_key: crypto.randomBytes(32).toString('hex'), env: { TOKEN: 'granted-value-123' }, step: { operation: 'resume', step: 'echo hi', allow_hosts: [], route_mode: 'direct', mount_path: '/w', allow_cold_start: false } },
    runnerSealingKey: runnerPublic,
    nowS: 1_800_000_000,
    ...overrides,
  };
}

const expect0 = { requestId: 'r-1-abc', repo: 'acme/agents', sha: pin, workflowSha: pin, operators: [{ ed25519: operator.publicKey }], runnerSealingSecret: runnerSecret, nowS: 1_800_000_100 };

describe('dispatch envelope', () => {
  it('opens for the runner it was sealed to, and carries no key or granted value in the clear', () => {
    const text = buildEnvelope(input(), operator);
    const decoded = Buffer.from(text, 'base64url').toString('utf8');
    const payload = Buffer.from(JSON.parse(decoded).payload, 'base64').toString('utf8');
    for (const secret of [stateKey, 'granted-value-123', 'echo hi']) {
      expect(decoded).not.toContain(secret);
      expect(payload).not.toContain(secret);
    }
    const opened = openEnvelope(text, expect0);
    expect(opened.secret.state_key).toBe(stateKey);
    expect(opened.secret.env.TOKEN).toBe('granted-value-123');
    expect(opened.payload.parent.node_id).toBe('root');
  });

  it.each([
    ['another request id', { requestId: 'r-2-abc' }],
    ['another repository', { repo: 'acme/other' }],
    ['another commit', { sha: 'b'.repeat(40) }],
    ['a workflow sha that is not the pin', { workflowSha: 'b'.repeat(40) }],
    ['an untrusted operator', { operators: [{ ed25519: signer().publicKey }] }],
    ['another runner key', { runnerSealingSecret: crypto.randomBytes(32) }],
    ['expired', { nowS: 1_800_000_000 + 2 * 24 * 3600 }],
    ['not valid yet', { nowS: 1_800_000_000 - 3600 }],
  ])('is refused for %s', (_why, change) => {
    const text = buildEnvelope(input(), operator);
    expect(() => openEnvelope(text, expect0)).not.toThrow();
    expect(() => openEnvelope(text, { ...expect0, ...change })).toThrow(expect.objectContaining({ code: 'ENVELOPE_INVALID' }));
  });

  it('is refused when one byte of its payload changed (the signature covers it)', () => {
    const text = buildEnvelope(input(), operator);
    const env = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    const payload = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
    payload.parent.node_id = 'node-other';
    env.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    const tampered = Buffer.from(JSON.stringify(env)).toString('base64url');
    expect(() => openEnvelope(tampered, expect0)).toThrow(expect.objectContaining({ code: 'ENVELOPE_INVALID' }));
  });

  it('refuses a prompt too long for a dispatch input', () => {
    const big = input();
    big.secret.step.prompt = 'x'.repeat(70_000);
    expect(() => buildEnvelope(big, operator)).toThrow(expect.objectContaining({ code: 'GH_INPUT_TOO_LARGE' }));
  });
});

describe('sealed boxes', () => {
  it('round-trip, and fail closed for another key or a flipped bit', () => {
    const secret = crypto.randomBytes(32);
    const box = sealBox(Buffer.from('capability'), x25519PublicKey(secret));
    expect(openBox(box, secret)?.toString()).toBe('capability');
    expect(openBox(box, crypto.randomBytes(32))).toBeNull();
    const flipped = Buffer.from(box);
    flipped[40] ^= 1;
    expect(openBox(flipped, secret)).toBeNull();
    const sealed = sealToken('tok', x25519PublicKey(secret).toString('base64url'));
    expect(sealed.startsWith('sealed-x25519:')).toBe(true);
    expect(openToken(sealed, secret)).toBe('tok');
  });
});
