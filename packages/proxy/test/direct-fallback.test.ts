/**
 * In direct mode a name's checked addresses are tried in resolver order until one answers: for
 * plain requests through the pooled agent as for tunnels, without resolving the name again. The
 * first answer is a loopback address nothing listens on (127.0.0.2; the origin is bound to
 * 127.0.0.1 only), let through by a CIDR entry, so only a real fallback reaches the origin.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, connectTunnel, proxyRequest, startBroker, startOrigin, tableLookup, type Origin } from './helpers.js';

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(() => origin.close());


/** The error code of a direct connection attempt, or 'connected'. */
function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, 2_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code ?? 'error');
    });
  });
}

describe('direct mode: falling back to the next checked address', () => {
  it('plain requests and tunnels skip a dead first address, resolving once, and never share a pooled socket across address lists', async () => {
    // Probe: the first answer is dead, the second is the origin.
    expect(await connectOutcome('127.0.0.2', origin.port)).not.toBe('connected');
    expect(await connectOutcome('127.0.0.1', origin.port)).toBe('connected');
    const lookup = tableLookup({ 'fallback.test': ['127.0.0.2', '127.0.0.1'], 'dead.test': ['127.0.0.2'] });
    const b = await startBroker([`fallback.test:${origin.port}`, `127.0.0.0/8:${origin.port}`], { lookup });
    // Another ticket, whose allowlist covers only the dead address.
    const deadTicket = b.mint({ allowlist: [`dead.test:${origin.port}`, `127.0.0.2:${origin.port}`], runId: 'dead' });
    b.broker.admit(deadTicket);
    const deadAuth = basic(deadTicket.session_id, deadTicket.secret);
    try {
      // Control: through the broker, the first answer alone fails.
      const dead = await proxyRequest(b.port, `http://dead.test:${origin.port}/hello`, deadAuth);
      expect([dead.status, dead.headers['x-swarm-reason']]).toEqual([502, 'upstream_refused']);
      expect(b.decisions.at(-1)).toMatchObject({ reason: 'upstream_refused', address: '127.0.0.2' });

      const before = origin.connections;
      const res = await proxyRequest(b.port, `http://fallback.test:${origin.port}/hello`, b.auth);
      expect([res.status, res.body.toString()]).toEqual([200, 'hello']);
      expect(b.decisions.at(-1)).toMatchObject({ decision: 'allowed', reason: 'allowed', host: 'fallback.test', address: '127.0.0.1' });
      // A body survives the fallback, and the pooled connection is reused for the same checked addresses.
      const echoed = await proxyRequest(b.port, `http://fallback.test:${origin.port}/echo`, b.auth, { method: 'POST', body: Buffer.from('payload') });
      expect([echoed.status, echoed.body.toString()]).toEqual([200, 'payload']);
      expect(b.decisions.at(-1)).toMatchObject({ reason: 'allowed', address: '127.0.0.1' });
      expect(origin.connections).toBe(before + 1);

      const tunnel = await connectTunnel(b.port, `fallback.test:${origin.port}`, b.auth);
      tunnel.socket.destroy();
      expect(tunnel.status).toBe(200);

      // The pooled socket to 127.0.0.1 is not handed to a request whose check allowed only 127.0.0.2.
      const again = await proxyRequest(b.port, `http://dead.test:${origin.port}/hello`, deadAuth);
      expect([again.status, again.headers['x-swarm-reason']]).toEqual([502, 'upstream_refused']);
      expect(lookup.calls).toEqual(['dead.test', 'fallback.test', 'fallback.test', 'fallback.test', 'dead.test']);
    } finally {
      await b.close();
    }
  });
});
