/**
 * The broker's own way out through an operator's HTTP proxy: a small CONNECT proxy on loopback
 * records what it was asked for, so the tests see the broker ask for the checked address (never
 * the name), with the configured credentials, and map the proxy's failures to 502/504.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { describeUpstreamProxy, resolveUpstreamProxy, type HostLookup } from '@swarm/proxy';
import { upstreamCarries } from '../src/upstream-proxy.js';
import { closedLoopbackPort, connectTunnel, exchangeOverTunnel, proxyRequest, startBroker, startEchoServer, startOrigin, type Origin } from './helpers.js';

interface TestProxy {
  port: number;
  /** `CONNECT` targets and Proxy-Authorization values, in order. */
  requests: Array<{ target: string; authorization: string | null }>;
  close(): Promise<void>;
}

/** A CONNECT-only proxy to loopback; `answer` overrides the status it replies with. */
async function startConnectProxy(options: { answer?: number; requireAuth?: string } = {}): Promise<TestProxy> {
  const requests: TestProxy['requests'] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.removeListener('data', onData);
      const lines = head.slice(0, end).split('\r\n');
      const target = /^CONNECT (\S+) HTTP\/1\.1$/.exec(lines[0]!)?.[1] ?? '';
      const authorization = lines.find((l) => /^proxy-authorization:/i.test(l))?.replace(/^[^:]+:\s*/, '') ?? null;
      requests.push({ target, authorization });
      const refuse = options.answer ?? (options.requireAuth && authorization !== options.requireAuth ? 407 : null);
      const match = /^(127\.0\.0\.1):(\d+)$/.exec(target);
      if (refuse || !match) {
        client.end(`HTTP/1.1 ${refuse ?? 403} No\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      const upstream = net.connect({ host: match[1]!, port: Number(match[2]), allowHalfOpen: true }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const rest = head.slice(end + 4);
        if (rest) upstream.write(Buffer.from(rest, 'latin1'));
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const lookup: HostLookup = async (name) => {
  if (name === 'svc.test') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
};

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

describe('an upstream proxy for the broker', () => {
  it('tunnels CONNECT and plain requests through CONNECT <checked ip>:<port>, with the credentials', async () => {
    const expected = `Basic ${Buffer.from('ops:p@ss:word').toString('base64')}`;
    const proxy = await startConnectProxy({ requireAuth: expected });
    const allow = [`svc.test:${echo.port}`, `svc.test:${origin.port}`, `127.0.0.1:${echo.port}`, `127.0.0.1:${origin.port}`];
    const b = await startBroker(allow, { lookup, upstreamProxy: `http://ops:p%40ss%3Aword@127.0.0.1:${proxy.port}` });
    try {
      const tunnel = await connectTunnel(b.port, `svc.test:${echo.port}`, b.auth);
      expect(tunnel.status).toBe(200);
      expect((await exchangeOverTunnel(tunnel.socket, tunnel.rest, Buffer.from('through the proxy'), 17)).bytes).toBe(17);
      const res = await proxyRequest(b.port, `http://svc.test:${origin.port}/hello`, b.auth);
      expect([res.status, res.body.toString()]).toEqual([200, 'hello']);
      expect(proxy.requests).toEqual([
        { target: `127.0.0.1:${echo.port}`, authorization: expected },
        { target: `127.0.0.1:${origin.port}`, authorization: expected },
      ]);
      expect(b.decisions.map((d) => [d.reason, d.address])).toEqual([
        ['allowed', '127.0.0.1'],
        ['allowed', '127.0.0.1'],
      ]);
    } finally {
      await b.close();
      await proxy.close();
    }
  });

  it('still refuses internal answers first: the proxy is never asked', async () => {
    const proxy = await startConnectProxy();
    const b = await startBroker([`svc.test:${echo.port}`], { lookup, upstreamProxy: `http://127.0.0.1:${proxy.port}` });
    try {
      const tunnel = await connectTunnel(b.port, `svc.test:${echo.port}`, b.auth);
      tunnel.socket.destroy();
      expect(tunnel.status).toBe(403);
      expect(b.decisions.at(-1)?.reason).toBe('resolved_to_private');
      expect(proxy.requests).toEqual([]);
    } finally {
      await b.close();
      await proxy.close();
    }
  });

  it('maps proxy failures to 502/504: bad credentials, refusal, its own timeout, and no proxy at all', async () => {
    const target = `127.0.0.1:${echo.port}`;
    const cases: Array<[string, number, string]> = [];
    for (const [answer, status, reason] of [
      [407, 502, 'upstream_proxy_auth'],
      [403, 502, 'upstream_proxy_refused'],
      [504, 504, 'upstream_timeout'],
    ] as const) {
      const proxy = await startConnectProxy({ answer });
      const b = await startBroker([target], { upstreamProxy: `http://127.0.0.1:${proxy.port}` });
      try {
        const tunnel = await connectTunnel(b.port, target, b.auth);
        tunnel.socket.destroy();
        // The proxy was really asked, so the status is its answer mapped, not a local failure.
        expect(proxy.requests.map((r) => r.target)).toEqual([target]);
        cases.push([String(answer), tunnel.status, b.decisions.at(-1)!.reason]);
        expect(b.decisions.at(-1)).toMatchObject({ decision: 'allowed', status });
        expect(b.decisions.at(-1)!.reason).toBe(reason);
      } finally {
        await b.close();
        await proxy.close();
      }
    }
    const closed = await closedLoopbackPort();
    const b = await startBroker([target], { upstreamProxy: `http://127.0.0.1:${closed}` });
    try {
      const res = await proxyRequest(b.port, `http://${target}/`, b.auth);
      cases.push(['none', res.status, String(res.headers['x-swarm-reason'])]);
    } finally {
      await b.close();
    }
    expect(cases).toEqual([
      ['407', 502, 'upstream_proxy_auth'],
      ['403', 502, 'upstream_proxy_refused'],
      ['504', 504, 'upstream_timeout'],
      ['none', 502, 'upstream_proxy_unreachable'],
    ]);
  });

  it('refuses an upstream proxy URL that is not http://host:port with EGRESS_UPSTREAM_PROXY_INVALID', async () => {
    for (const url of ['https://proxy.example:443', 'socks5://127.0.0.1:1080', 'not a url', 'http://proxy.example:3128/path']) {
      const code = await startBroker([], { upstreamProxy: url }).then(
        async (b) => {
          await b.close();
          return 'accepted';
        },
        (error: unknown) => (error instanceof SwarmError ? error.code : 'other'),
      );
      expect([url, code]).toEqual([url, 'EGRESS_UPSTREAM_PROXY_INVALID']);
    }
  });
});

describe('choosing the upstream proxy', () => {
  it('takes the setting first, then HTTPS_PROXY, https_proxy, HTTP_PROXY, and no other variable', () => {
    const env = { HTTPS_PROXY: 'http://a:1', https_proxy: 'http://b:2', HTTP_PROXY: 'http://c:3' };
    expect(resolveUpstreamProxy('http://cfg:9', env)).toEqual({ url: 'http://cfg:9', source: 'config' });
    expect(resolveUpstreamProxy(undefined, env)).toMatchObject({ url: 'http://a:1', source: 'env', variable: 'HTTPS_PROXY' });
    expect(resolveUpstreamProxy('', { https_proxy: 'http://b:2', HTTP_PROXY: 'http://c:3' })).toMatchObject({ url: 'http://b:2', variable: 'https_proxy' });
    expect(resolveUpstreamProxy(undefined, { HTTP_PROXY: 'http://c:3' })).toMatchObject({ url: 'http://c:3', variable: 'HTTP_PROXY' });
    expect(resolveUpstreamProxy(undefined, { http_proxy: 'http://d:4', ALL_PROXY: 'http://e:5', all_proxy: 'http://f:6' })).toBeNull();
    let code: string | undefined;
    try {
      resolveUpstreamProxy(undefined, { HTTPS_PROXY: 'socks5://x:1' });
    } catch (error) {
      code = (error as SwarmError).code;
    }
    expect(code).toBe('EGRESS_UPSTREAM_PROXY_INVALID');
  });

  it('describes the proxy without its password, even when the URL is invalid', () => {
    const secret = 'hunter2-secret';
    const found = resolveUpstreamProxy(undefined, { HTTPS_PROXY: `http://ops:${secret}@proxy.corp:3128` });
    // Probe: the secret really is in what was resolved, so its absence below is redaction.
    expect(found!.url).toContain(secret);
    const text = describeUpstreamProxy(found);
    expect(text).toContain('proxy.corp:3128');
    expect(text).toContain('HTTPS_PROXY');
    expect(text).not.toContain(secret);
    expect(describeUpstreamProxy({ url: `http://ops:${secret}@bad host:1`, source: 'config' })).not.toContain(secret);
    let details = '';
    try {
      resolveUpstreamProxy(`http://ops:${secret}@proxy.corp:3128/x`, {});
    } catch (error) {
      details = JSON.stringify({ message: (error as SwarmError).message, details: (error as SwarmError).details });
    }
    expect(details).not.toBe('');
    expect(details).not.toContain(secret);
    expect(describeUpstreamProxy(null)).toMatch(/direct/);
  });
});

describe('which connections the upstream proxy carries', () => {
  const proxyAt = (host: string) => ({ host, port: 3128, authorization: null });
  const to = (...addresses: string[]) => addresses.map((address) => ({ address }));

  it('carries public addresses, and loopback ones only when the proxy itself is on this machine', () => {
    // A proxy elsewhere would connect to its own loopback: this machine's stays direct.
    expect(upstreamCarries(proxyAt('proxy.corp'), to('203.0.113.7'))).toBe(true);
    expect(upstreamCarries(proxyAt('proxy.corp'), to('127.0.0.1'))).toBe(false);
    expect(upstreamCarries(proxyAt('10.1.2.3'), to('::1', '127.0.0.5'))).toBe(false);
    expect(upstreamCarries(proxyAt('proxy.corp'), to('10.0.0.8'))).toBe(true);
    expect(upstreamCarries(proxyAt('proxy.corp'), to('127.0.0.1', '203.0.113.7'))).toBe(true);
    for (const local of ['127.0.0.1', 'localhost', '[::1]', '::1']) expect(upstreamCarries(proxyAt(local), to('127.0.0.1'))).toBe(true);
    expect(upstreamCarries(null, to('203.0.113.7'))).toBe(false);
  });
});
