/**
 * In route mode client_exit the provider's machine is the exit, so a name that resolves to its
 * loopback or network must be refused there, exactly as the broker refuses it in direct mode.
 * Each attack first runs where it works (the address listed by an IP entry), so a refusal is the
 * check's doing, not a dead target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectProvider, type HostLookup, type Provider } from '@swarm/proxy';
import { basic, connectTunnel, proxyRequest, startBroker, startOrigin, type Origin, type TestBroker } from './helpers.js';

let origin: Origin;

beforeAll(async () => {
  origin = await startOrigin();
});

afterAll(() => origin.close());

/** Starts a client_exit broker and a provider for `allowlist`; the lookup (if any) is the provider's. */
async function exitFor(allowlist: string[], lookup?: HostLookup): Promise<{ b: TestBroker; provider: Provider; auth: string; close(): Promise<void> }> {
  // The broker never resolves in client_exit: a lookup that fails loudly proves it.
  const b = await startBroker(allowlist, {
    routeMode: 'client_exit',
    lookup: async (name) => {
      throw new Error(`the broker resolved ${name}`);
    },
  });
  const provider = await connectProvider({ broker: { host: '127.0.0.1', port: b.port }, ticket: b.ticket, ...(lookup ? { lookup } : {}) });
  return {
    b,
    provider,
    auth: basic(b.ticket.session_id, b.ticket.secret),
    close: async () => {
      await provider.close();
      await b.close();
    },
  };
}

describe('client_exit: names that resolve to the provider’s internal addresses', () => {
  it('reaches a loopback origin through the provider when its address is listed (control)', async () => {
    const exit = await exitFor([`127.0.0.1:${origin.port}`]);
    try {
      const before = origin.connections;
      const res = await proxyRequest(exit.b.port, `http://127.0.0.1:${origin.port}/hello`, exit.auth);
      expect([res.status, res.body.toString()]).toEqual([200, 'hello']);
      expect(origin.connections).toBe(before + 1);
      expect(exit.b.decisions.at(-1)).toMatchObject({ decision: 'allowed', reason: 'allowed', status: 200 });
    } finally {
      await exit.close();
    }
  });

  it('refuses localhost listed by name alone, which it reaches when the addresses are listed too', async () => {
    // Control: the name goes through the provider's real resolver and reaches the origin.
    const control = await exitFor([`localhost:${origin.port}`, `127.0.0.1:${origin.port}`, `[::1]:${origin.port}`]);
    try {
      expect((await proxyRequest(control.b.port, `http://localhost:${origin.port}/hello`, control.auth)).status).toBe(200);
    } finally {
      await control.close();
    }
    const exit = await exitFor([`localhost:${origin.port}`]);
    try {
      const before = origin.connections;
      const res = await proxyRequest(exit.b.port, `http://localhost:${origin.port}/hello`, exit.auth);
      expect([res.status, res.headers['x-swarm-reason']]).toEqual([403, 'resolved_to_private']);
      const tunnel = await connectTunnel(exit.b.port, `localhost:${origin.port}`, exit.auth);
      tunnel.socket.destroy();
      expect(tunnel.status).toBe(403);
      expect(tunnel.head).toMatch(/x-swarm-reason: resolved_to_private/i);
      expect(origin.connections).toBe(before);
      expect(exit.b.decisions.map((d) => [d.decision, d.reason, d.host, d.status])).toEqual([
        ['denied', 'resolved_to_private', 'localhost', 403],
        ['denied', 'resolved_to_private', 'localhost', 403],
      ]);
      for (const d of exit.b.decisions) expect(['127.0.0.1', '::1']).toContain(d.address);
      expect(exit.provider.stats()).toMatchObject({ opened: 0, failed: 2 });
    } finally {
      await exit.close();
    }
  });

  it('refuses a name the provider resolves to 169.254.169.254, resolving it once per tunnel', async () => {
    let answer = '127.0.0.1';
    const calls: string[] = [];
    const lookup: HostLookup = async (name) => {
      calls.push(name);
      return [{ address: answer, family: 4 }];
    };
    // `meta.test` exists only in this lookup: the provider connects to what it resolved.
    const exit = await exitFor([`meta.test:${origin.port}`, `127.0.0.1:${origin.port}`], lookup);
    try {
      // Control: while the name answers with the listed loopback address, it is reached.
      expect((await proxyRequest(exit.b.port, `http://meta.test:${origin.port}/hello`, exit.auth)).status).toBe(200);
      answer = '169.254.169.254';
      const res = await proxyRequest(exit.b.port, `http://meta.test:${origin.port}/hello`, exit.auth);
      expect([res.status, res.headers['x-swarm-reason']]).toEqual([403, 'resolved_to_private']);
      expect(exit.b.decisions.at(-1)).toMatchObject({
        decision: 'denied',
        reason: 'resolved_to_private',
        host: 'meta.test',
        address: '169.254.169.254',
        status: 403,
      });
      expect(calls).toEqual(['meta.test', 'meta.test']);
    } finally {
      await exit.close();
    }
  });
});
