import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SwarmError, validateDocument } from '@swarm/core';
import {
  checkTicketSecret,
  decodeTicketToken,
  deriveSessionId,
  encodeTicketToken,
  loadBrokerKey,
  loadOrCreateBrokerKey,
  mintTicket,
  readTicketFile,
  redactTicket,
  verifyTicket,
  writeTicketFile,
  type MintTicketInput,
} from './ticket.js';

const key = Buffer.alloc(32, 7);
const input: MintTicketInput = {
  netCapChainKey: 'ab'.repeat(32),
  runId: 'run-1',
  allowlist: ['Example.com', '*.cdn.example.net:443'],
  routeMode: 'direct',
  issuedAtUnix: 1_700_000_000,
  expiresAtUnix: 1_700_003_600,
  brokerKey: key,
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as SwarmError).code;
  }
  return undefined;
}

describe('minting', () => {
  it('is deterministic, schema-valid, and normalises the allowlist', () => {
    const a = mintTicket(input);
    const b = mintTicket(input);
    expect(a).toEqual(b);
    expect(validateDocument('ticket', a).valid).toBe(true);
    expect(validateDocument('ticket', redactTicket(a)).valid).toBe(true);
    expect(a.allowlist).toEqual(['*.cdn.example.net:443', 'example.com']);
    expect(a.session_id).toBe(deriveSessionId(input.netCapChainKey, 'run-1'));
  });

  it('binds the session id to the net_cap and the run', () => {
    const base = mintTicket(input).session_id;
    expect(mintTicket({ ...input, runId: 'run-2' }).session_id).not.toBe(base);
    expect(mintTicket({ ...input, netCapChainKey: 'cd'.repeat(32) }).session_id).not.toBe(base);
    expect(mintTicket({ ...input, allowlist: [] }).session_id).toBe(base);
  });

  it('gives every ticket its own secret, never derivable without the broker key', () => {
    const a = mintTicket(input);
    const b = mintTicket({ ...input, expiresAtUnix: input.expiresAtUnix + 1 });
    expect(a.secret).not.toBe(b.secret);
    expect(mintTicket({ ...input, brokerKey: Buffer.alloc(32, 8) }).secret).not.toBe(a.secret);
    expect(JSON.stringify(redactTicket(a))).not.toContain(a.secret);
  });

  it('refuses a ticket that expires before it is issued, and bad chain keys', () => {
    expect(codeOf(() => mintTicket({ ...input, expiresAtUnix: input.issuedAtUnix }))).toBe('TICKET_EXPIRED');
    expect(codeOf(() => mintTicket({ ...input, netCapChainKey: 'zz' }))).toBe('CAPABILITY_MALFORMED');
    expect(codeOf(() => mintTicket({ ...input, allowlist: ['bad host'] }))).toBe('EGRESS_ALLOWLIST_INVALID');
  });
});

describe('verification', () => {
  const ticket = mintTicket(input);

  it('accepts the minted ticket with or without its secret', () => {
    expect(verifyTicket(ticket, key)).toEqual(redactTicket(ticket));
    expect(verifyTicket(redactTicket(ticket), key).mac).toBe(ticket.mac);
  });

  it.each([
    ['allowlist', { allowlist: ['*.example.com', 'example.com'] }],
    ['expiry', { expires_at_unix: ticket.expires_at_unix + 3600 }],
    ['run', { run_id: 'run-2' }],
    ['route mode', { route_mode: 'client_exit' }],
    ['session', { session_id: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
  ])('refuses a ticket whose %s was changed', (_name, change) => {
    expect(codeOf(() => verifyTicket({ ...ticket, ...change }, key))).toBe('TICKET_INVALID');
  });

  it('refuses tickets of another broker key, malformed documents, and a non-normal allowlist', () => {
    expect(codeOf(() => verifyTicket(ticket, Buffer.alloc(32, 9)))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket({ ...ticket, mac: undefined }, key))).toBe('TICKET_INVALID');
    expect(codeOf(() => verifyTicket('ticket', key))).toBe('TICKET_INVALID');
    const { key_id: _k, ...noKeyId } = ticket;
    expect(codeOf(() => verifyTicket(noKeyId, key))).toBe('TICKET_INVALID');
  });

  it('checks secrets in constant time against the recomputed one', () => {
    expect(checkTicketSecret(ticket, ticket.secret, key)).toBe(true);
    expect(checkTicketSecret(ticket, `${ticket.secret}x`, key)).toBe(false);
    expect(checkTicketSecret(ticket, ticket.secret.slice(1), key)).toBe(false);
    expect(checkTicketSecret(ticket, '', key)).toBe(false);
  });

  it('round-trips the self-contained token without the secret', () => {
    const token = encodeTicketToken(ticket);
    expect(token.startsWith('v1.')).toBe(true);
    expect(token).not.toContain(ticket.secret);
    expect(verifyTicket(decodeTicketToken(token), key)).toEqual(redactTicket(ticket));
    expect(codeOf(() => decodeTicketToken('v1.%%%'))).toBe('TICKET_INVALID');
    expect(codeOf(() => decodeTicketToken(`v1.${Buffer.from('nope').toString('base64url')}`))).toBe('TICKET_INVALID');
  });
});

describe('files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-ticket-test-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes ticket files 0600 and reads them back; a redacted file is refused', () => {
    const file = path.join(dir, 't.json');
    const ticket = mintTicket(input);
    writeTicketFile(file, ticket);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readTicketFile(file)).toEqual(ticket);
    fs.writeFileSync(path.join(dir, 'r.json'), JSON.stringify(redactTicket(ticket)));
    expect(codeOf(() => readTicketFile(path.join(dir, 'r.json')))).toBe('TICKET_INVALID');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{');
    expect(codeOf(() => readTicketFile(path.join(dir, 'bad.json')))).toBe('TICKET_INVALID');
    expect(codeOf(() => readTicketFile(path.join(dir, 'missing.json')))).toBe('FILE_NOT_FOUND');
  });

  it('creates the broker key once (0600) and refuses unsafe or malformed key files', () => {
    const file = path.join(dir, 'keys', 'broker.key');
    const first = loadOrCreateBrokerKey(file);
    expect(first.length).toBe(32);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateBrokerKey(file).equals(first)).toBe(true);
    fs.chmodSync(file, 0o644);
    expect(codeOf(() => loadBrokerKey(file))).toBe('BROKER_KEY_INVALID');
    const short = path.join(dir, 'short.key');
    fs.writeFileSync(short, crypto.randomBytes(16), { mode: 0o600 });
    expect(codeOf(() => loadBrokerKey(short))).toBe('BROKER_KEY_INVALID');
  });

  it('a ticket or broker key file that is a FIFO, /dev/zero or huge is refused unread, never a hang', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const zero = path.join(dir, 'zero.key');
    fs.symlinkSync('/dev/zero', zero);
    const huge = path.join(dir, 'huge.json');
    fs.writeFileSync(huge, ' '.repeat(1024 * 1024), { mode: 0o600 });
    expect(codeOf(() => readTicketFile(fifo))).toBe('FILE_NOT_REGULAR');
    expect(codeOf(() => readTicketFile(zero))).toBe('FILE_NOT_REGULAR');
    expect(codeOf(() => readTicketFile(huge))).toBe('FILE_TOO_LARGE');
    expect(codeOf(() => loadBrokerKey(fifo))).toBe('BROKER_KEY_INVALID');
    expect(codeOf(() => loadBrokerKey(zero))).toBe('BROKER_KEY_INVALID');
    expect(codeOf(() => loadBrokerKey(huge))).toBe('BROKER_KEY_INVALID');
    expect(codeOf(() => loadBrokerKey(path.join(dir, 'missing.key')))).toBe('FILE_NOT_FOUND');
  });
});
