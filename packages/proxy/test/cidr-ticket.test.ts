/**
 * CIDR allowlist entries travel in tickets: the ticket schema's hostPattern accepts every CIDR
 * form the allowlist parser writes, and a broker admits such a ticket and lets it reach the
 * addresses the block covers (and no others).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';
import { encodeTicketToken, normalizeAllowlist, parseHostPattern, redactTicket } from '@swarm/proxy';
import { basic, connectTunnel, proxyRequest, startBroker, startOrigin, waitFor, type Origin } from './helpers.js';

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(() => origin.close());

const CIDR_ENTRIES = ['10.0.0.0/8', '10.0.0.0/8:443', '[fd00::/8]', '[fd00::/8]:443', '127.0.0.0/8', '192.168.0.0/16:8080', '[2001:db8::/32]'];

describe('CIDR entries in tickets', () => {
  it('the ticket schema accepts each CIDR entry in the normal form the parser writes', async () => {
    const b = await startBroker([]);
    try {
      for (const entry of CIDR_ENTRIES) {
        expect(parseHostPattern(entry).text).toBe(entry);
        const ticket = b.mint({ allowlist: [entry], runId: `cidr-${entry}` });
        expect([entry, validateDocument('ticket', redactTicket(ticket)).valid]).toEqual([entry, true]);
      }
    } finally {
      await b.close();
    }
  });

  it('the schema still refuses what is no allowlist entry', () => {
    const ticket = (entry: string) => ({
      schema_version: 'swarm-ticket-v1',
      session_id: 'A'.repeat(32),
      run_id: 'r',
      allowlist: [entry],
      route_mode: 'direct',
      issued_at_unix: 1,
      expires_at_unix: 2,
      key_id: `bk_${'0'.repeat(16)}`,
      mac: 'A'.repeat(43),
    });
    // Control: the same document with a good entry is valid, so a refusal is the entry's.
    expect(validateDocument('ticket', ticket('10.0.0.0/8')).valid).toBe(true);
    for (const bad of ['10.0.0.0/8/8', '[fd00::]/8', '10.0.0.0/1234', 'a b', '10.0.0.0/:443', '[fd00::/8]/8']) {
      const report = validateDocument('ticket', ticket(bad));
      expect([bad, report.valid, report.errors.map((e) => e.path)]).toEqual([bad, false, ['/allowlist/0']]);
    }
  });

  it('a broker admits a ticket allowlisting 127.0.0.0/8 and reaches a loopback origin through it', async () => {
    const b = await startBroker([]);
    try {
      const ticket = b.mint({ allowlist: ['127.0.0.0/8', `10.0.0.0/8:${origin.port}`], runId: 'cidr' });
      expect(ticket.allowlist).toEqual(normalizeAllowlist(['127.0.0.0/8', `10.0.0.0/8:${origin.port}`]));
      b.broker.admit(ticket);
      const bySession = basic(ticket.session_id, ticket.secret);
      const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, bySession);
      expect([res.status, res.body.toString()]).toEqual([200, 'hello']);
      // The self-contained token form is checked against the schema by the broker on the spot.
      const byToken = basic(encodeTicketToken(ticket), ticket.secret);
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${origin.port}`, byToken);
      tunnel.socket.destroy();
      expect(tunnel.status).toBe(200);
      // A tunnel's line is written when it closes.
      await waitFor(() => b.decisions.length === 2);
      expect(b.decisions.map((d) => [d.run_id, d.decision, d.reason])).toEqual([
        ['cidr', 'allowed', 'allowed'],
        ['cidr', 'allowed', 'allowed'],
      ]);
      // Outside every block of the ticket: refused.
      const outside = await connectTunnel(b.port, `[::1]:${origin.port}`, bySession);
      outside.socket.destroy();
      expect(outside.status).toBe(403);
      expect(b.decisions.at(-1)).toMatchObject({ decision: 'denied', reason: 'ip_not_listed' });
    } finally {
      await b.close();
    }
  });
});
