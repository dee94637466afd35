import crypto from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { CERTIFICATE_PAYLOAD_TYPE, decodeDsseBase64, dssePayloadBytes, dsseSignedBy, parseDsseEnvelope, preAuthEncoding, signDsse } from './dsse.js';
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

describe('DSSE base64 forms (standard or URL-safe, padded or not)', () => {
  // 0xfb 0xff gives '+' and '/' in standard base64 and '-' and '_' in URL-safe.
  const body = Buffer.from('{"type":"loom-agent-run-v1","x":"\u00fb\u00ff?>"}');
  const forms = (bytes: Buffer) => {
    const standard = bytes.toString('base64');
    const url = bytes.toString('base64url');
    return { standard, unpadded: standard.replace(/=+$/, ''), url, urlPadded: url + '='.repeat((4 - (url.length % 4)) % 4) };
  };

  it.each(['standard', 'unpadded', 'url', 'urlPadded'] as const)('verifies an envelope whose payload and sig are %s', (form) => {
    const signed = signDsse(CERTIFICATE_PAYLOAD_TYPE, body, key);
    const sig = Buffer.from(signed.signatures[0]!.sig, 'base64');
    expect(forms(body).standard).toMatch(/[+/]/);
    const envelope = parseDsseEnvelope({ payloadType: CERTIFICATE_PAYLOAD_TYPE, payload: forms(body)[form], signatures: [{ keyid: key.keyId, sig: forms(sig)[form] }] });
    expect(dssePayloadBytes(envelope)).toEqual(body);
    expect(dsseSignedBy(envelope, publicKey)).toBe(true);
  });

  it('decodes each form to the same bytes, and nothing else', () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from([0xfb]), Buffer.from([0xfb, 0xff]), Buffer.from([0xfb, 0xff, 0xfe]), body]) {
      for (const text of Object.values(forms(bytes))) expect(decodeDsseBase64(text)).toEqual(bytes);
    }
  });

  it.each([
    ['mixed alphabets', '+_8='],
    ['an impossible length', 'QUJDR'],
    ['padding on a length that needs none', 'QUJD=='],
    ['too little padding', 'QQ='],
    ['padding in the middle', 'QQ==QQ=='],
    ['non-zero trailing bits', 'QR=='],
    ['non-zero trailing bits, unpadded', 'QR'],
    ['whitespace', 'QU JD'],
    ['other characters', 'QUJ*'],
  ])('rejects %s', (_label, text) => {
    expect(decodeDsseBase64(text)).toBeNull();
    expect(codeOf(() => parseDsseEnvelope({ payloadType: 't', payload: text, signatures: [{ keyid: 'k', sig: 'AAAA' }] }))).toBe('DSSE_MALFORMED');
  });
});
