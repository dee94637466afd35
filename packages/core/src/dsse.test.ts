import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { CERTIFICATE_PAYLOAD_TYPE, dssePayloadBytes, dsseSignedBy, parseDsseEnvelope, preAuthEncoding, signDsse } from './dsse.js';
import { generateSigningKey, publicKeyFromRaw } from './keys.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const { key } = generateSigningKey(tmp.dir);
const publicKey = publicKeyFromRaw(key.publicKey);

describe('preAuthEncoding', () => {
  it('is "DSSEv1" SP len(type) SP type SP len(body) SP body (DSSE v1)', () => {
    const pae = preAuthEncoding('http://example.com/HelloWorld', Buffer.from('hello world'));
    expect(pae.toString('utf8')).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });

  it('counts bytes, not characters, and keeps binary bodies verbatim', () => {
    const body = Buffer.from([0, 0xff, 0x20, 0x0a]);
    const pae = preAuthEncoding('é', body);
    expect(pae).toEqual(Buffer.concat([Buffer.from('DSSEv1 2 é 4 ', 'utf8'), body]));
    expect(preAuthEncoding('', Buffer.alloc(0)).toString('utf8')).toBe('DSSEv1 0  0 ');
  });
});

describe('DSSE envelopes', () => {
  const body = Buffer.from('{"type":"loom-agent-run-v1"}');

  it('signs the PAE so that the signer verifies and the payload round-trips', () => {
    const envelope = signDsse(CERTIFICATE_PAYLOAD_TYPE, body, key);
    expect(envelope.signatures).toHaveLength(1);
    expect(envelope.signatures[0]!.keyid).toBe(key.keyId);
    expect(dssePayloadBytes(envelope)).toEqual(body);
    expect(dsseSignedBy(envelope, publicKey)).toBe(true);
    // The signature is over PAE, not over the bare payload.
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    expect(crypto.verify(null, preAuthEncoding(CERTIFICATE_PAYLOAD_TYPE, body), publicKey, sig)).toBe(true);
    expect(crypto.verify(null, body, publicKey, sig)).toBe(false);
  });

  it('fails when the payload type changes', () => {
    const envelope = signDsse(CERTIFICATE_PAYLOAD_TYPE, body, key);
    expect(dsseSignedBy({ ...envelope, payloadType: 'application/vnd.swarm.policy.v1+json' }, publicKey)).toBe(false);
  });

  it('fails when the payload changes, under another key, or with a garbage signature', () => {
    const envelope = signDsse(CERTIFICATE_PAYLOAD_TYPE, body, key);
    expect(dsseSignedBy({ ...envelope, payload: Buffer.from('{"type":"x"}').toString('base64') }, publicKey)).toBe(false);
    const other = crypto.generateKeyPairSync('ed25519').publicKey;
    expect(dsseSignedBy(envelope, other)).toBe(false);
    expect(dsseSignedBy({ ...envelope, signatures: [{ keyid: key.keyId, sig: 'AAAA' }] }, publicKey)).toBe(false);
  });

  it('parses what it writes, through JSON', () => {
    const envelope = signDsse(CERTIFICATE_PAYLOAD_TYPE, body, key);
    const parsed = parseDsseEnvelope(JSON.parse(JSON.stringify(envelope)));
    expect(parsed).toEqual(envelope);
    expect(dsseSignedBy(parsed, publicKey)).toBe(true);
  });

  it.each([
    ['not an object', []],
    ['null', null],
    ['no payloadType', { payload: 'e30=', signatures: [{ keyid: 'k', sig: 'AAAA' }] }],
    ['an empty payloadType', { payloadType: '', payload: 'e30=', signatures: [{ keyid: 'k', sig: 'AAAA' }] }],
    ['a payload that is not base64', { payloadType: 't', payload: 'e30!', signatures: [{ keyid: 'k', sig: 'AAAA' }] }],
    ['no signatures', { payloadType: 't', payload: 'e30=', signatures: [] }],
    ['a signature that is not base64', { payloadType: 't', payload: 'e30=', signatures: [{ keyid: 'k', sig: '***' }] }],
    ['a signature entry that is not an object', { payloadType: 't', payload: 'e30=', signatures: [null] }],
  ])('rejects an envelope with %s', (_label, value) => {
    expect(codeOf(() => parseDsseEnvelope(value))).toBe('DSSE_MALFORMED');
  });
});
