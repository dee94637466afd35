/**
 * Names on the allowlist that resolve to the operator's own machine or network are refused,
 * unless an IP entry names the address itself. Every attack first runs against a setup where it
 * works (the address listed explicitly), so a refusal means the check, not a dead target.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostLookup } from '@swarm/proxy';
import { connectTunnel, exchangeOverTunnel, proxyRequest, startBroker, startEchoServer, startOrigin, tableLookup, type Origin } from './helpers.js';

let origin: Origin;
let echo: { port: number; close(): Promise<void> };

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEchoServer();
});

afterAll(async () => {
  await origin.close();
  await echo.close();
});


function getDirect(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/hello', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('names that resolve to internal addresses', () => {
  it('refuses the real name localhost, which the same broker reaches when the address is listed', async () => {
    expect(await getDirect(origin.port)).toBe(200);
    const b = await startBroker([`localhost:${origin.port}`, `127.0.0.1:${origin.port}`]);
    try {
      // Control: the origin is reachable through the broker by its listed address.
      expect((await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth)).status).toBe(200);
      const ticket = b.mint({ allowlist: [`localhost:${origin.port}`], runId: 'localhost-only' });
      b.broker.admit(ticket);
      const auth = `Basic ${Buffer.from(`${ticket.session_id}:${ticket.secret}`).toString('base64')}`;
      const before = origin.connections;
      const res = await proxyRequest(b.port, `http://localhost:${origin.port}/hello`, auth);
      expect(res.status).toBe(403);
      expect(res.headers['x-swarm-reason']).toBe('resolved_to_private');
      const tunnel = await connectTunnel(b.port, `localhost:${origin.port}`, auth);
      expect(tunnel.status).toBe(403);
      tunnel.socket.destroy();
      expect(origin.connections).toBe(before);
      const denied = b.decisions.filter((d) => d.run_id === 'localhost-only');
      expect(denied.map((d) => [d.decision, d.reason, d.host])).toEqual([
        ['denied', 'resolved_to_private', 'localhost'],
        ['denied', 'resolved_to_private', 'localhost'],
      ]);
      for (const d of denied) expect(['127.0.0.1', '::1']).toContain(d.address);
    } finally {
      await b.close();
    }
  });

  it('refuses a name resolving to loopback unless an IP entry covers it (plain HTTP and CONNECT)', async () => {
    const lookup = tableLookup({ 'svc.test': ['127.0.0.1'] });
    const b = await startBroker([`svc.test:${origin.port}`, `127.0.0.1:${origin.port}`, `svc.test:${echo.port}`], { lookup });
    try {
      // Control: with 127.0.0.1 listed, the name resolves through the injected lookup and is reached.
      const before = origin.connections;
      expect((await proxyRequest(b.port, `http://svc.test:${origin.port}/hello`, b.auth)).status).toBe(200);
      expect(origin.connections).toBe(before + 1);
      expect(b.decisions.at(-1)).toMatchObject({ decision: 'allowed', host: 'svc.test', address: '127.0.0.1' });
      // The echo port has no IP entry: the same resolution is refused for it.
      const tunnel = await connectTunnel(b.port, `svc.test:${echo.port}`, b.auth);
      expect(tunnel.status).toBe(403);
      expect(tunnel.head).toMatch(/x-swarm-reason: resolved_to_private/i);
      tunnel.socket.destroy();
      expect(b.decisions.at(-1)).toMatchObject({ decision: 'denied', reason: 'resolved_to_private', address: '127.0.0.1', status: 403 });
    } finally {
      await b.close();
    }
  });

  it('resolves once and connects to the checked address, never resolving the name again', async () => {
    let answer = '127.0.0.1';
    const calls: string[] = [];
    const lookup: HostLookup = async (name) => {
      calls.push(name);
      return [{ address: answer, family: 4 }];
    };
    // `rebind.test` exists only in this lookup: a second resolution by the socket would fail (502).
    const b = await startBroker([`rebind.test:${echo.port}`, `rebind.test:${origin.port}`, `127.0.0.1:${echo.port}`, `127.0.0.1:${origin.port}`], { lookup });
    try {
      const tunnel = await connectTunnel(b.port, `rebind.test:${echo.port}`, b.auth);
      expect(tunnel.status).toBe(200);
      const got = await exchangeOverTunnel(tunnel.socket, tunnel.rest, Buffer.from('ping'), 4);
      expect(got.bytes).toBe(4);
      expect((await proxyRequest(b.port, `http://rebind.test:${origin.port}/hello`, b.auth)).status).toBe(200);
      expect(calls).toEqual(['rebind.test', 'rebind.test']);
      // The next answer points at cloud metadata: refused before any connection.
      answer = '169.254.169.254';
      const res = await proxyRequest(b.port, `http://rebind.test:${origin.port}/hello`, b.auth);
      expect(res.status).toBe(403);
      expect(b.decisions.at(-1)).toMatchObject({ reason: 'resolved_to_private', address: '169.254.169.254' });
    } finally {
      await b.close();
    }
  });

  it('refuses when any answer is internal, including IPv4-mapped and unspecified ones', async () => {
    const lookup = tableLookup({
      'mixed.test': ['93.184.216.34', '127.0.0.1'],
      'mapped.test': ['::ffff:127.0.0.1'],
      'zero.test': ['0.0.0.0'],
      'ula.test': ['fd00::1'],
    });
    const b = await startBroker(['mixed.test', 'mapped.test', 'zero.test', 'ula.test'], { lookup });
    try {
      for (const name of ['mixed.test', 'mapped.test', 'zero.test', 'ula.test']) {
        const res = await proxyRequest(b.port, `http://${name}:${origin.port}/hello`, b.auth);
        expect([name, res.status, res.headers['x-swarm-reason']]).toEqual([name, 403, 'resolved_to_private']);
      }
      expect(b.decisions.map((d) => d.address)).toEqual(['127.0.0.1', '::ffff:127.0.0.1', '0.0.0.0', 'fd00::1']);
    } finally {
      await b.close();
    }
  });

  it('refuses literal internal addresses that no IP entry lists', async () => {
    const b = await startBroker([`localhost:${echo.port}`, `*.test`, `127.0.0.1:${origin.port}`]);
    try {
      // Control: the listed literal goes through.
      expect((await connectTunnel(b.port, `127.0.0.1:${origin.port}`, b.auth)).status).toBe(200);
      for (const target of ['10.0.0.1:443', `127.0.0.1:${echo.port}`, `[::ffff:127.0.0.1]:${origin.port}`, '169.254.169.254:80']) {
        const tunnel = await connectTunnel(b.port, target, b.auth);
        tunnel.socket.destroy();
        expect([target, tunnel.status]).toEqual([target, 403]);
        expect(b.decisions.at(-1)).toMatchObject({ decision: 'denied', reason: 'ip_not_listed' });
      }
    } finally {
      await b.close();
    }
  });
});
