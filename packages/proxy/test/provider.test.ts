import crypto from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectProvider, encodeTicketToken, mintTicket, type Provider } from '@swarm/proxy';
import {
  CHAIN_KEY,
  basic,
  connectTunnel,
  exchangeOverTunnel,
  nowUnix,
  patternBytes,
  tunnelsStayApart,
  proxyRequest,
  sha256,
  startBroker,
  startNamedStreamServer,
  startExchangeServer,
  startOrigin,
  waitFor,
  type Origin,
  type TestBroker,
  closedLoopbackPort,
} from './helpers.js';

let origin: Origin;
let closedPort: number;

beforeAll(async () => {
  origin = await startOrigin();
  closedPort = await closedLoopbackPort();
});

afterAll(() => origin.close());

describe('client_exit through a provider', () => {
  let b: TestBroker;
  let provider: Provider;
  let exchange: Awaited<ReturnType<typeof startExchangeServer>>;
  const down = patternBytes('exit-down', 5 * 1024 * 1024 + 11);

  beforeAll(async () => {
    exchange = await startExchangeServer(down);
    b = await startBroker([`127.0.0.1:${origin.port}`, `127.0.0.1:${exchange.port}`, `127.0.0.1:${closedPort}`], {
      routeMode: 'client_exit',
    });
    provider = await connectProvider({ broker: { host: '127.0.0.1', port: b.port }, ticket: b.ticket });
  });

  afterAll(async () => {
    await provider.close();
    await b.close();
    await exchange.close();
  });

  it('carries plain HTTP and multi-megabyte CONNECT tunnels both ways', async () => {
    const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    const up = patternBytes('exit-up', 3 * 1024 * 1024 + 5);
    const tunnel = await connectTunnel(b.port, `127.0.0.1:${exchange.port}`, b.auth);
    expect(tunnel.status).toBe(200);
    const got = await exchangeOverTunnel(tunnel.socket, tunnel.rest, up, down.length);
    expect(got.digest).toBe(sha256(down));
    expect(await exchange.received[0]).toBe(sha256(up));
    await waitFor(() => b.decisions.some((d) => d.port === exchange.port));
    // A finished transfer ends cleanly, not as a lost provider.
    expect(b.decisions.find((d) => d.port === exchange.port)).toMatchObject({ reason: 'allowed', bytes_in: down.length, bytes_out: up.length });
  });

  it('opens many tunnels at once', async () => {
    const before = exchange.received.length;
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const tunnel = await connectTunnel(b.port, `127.0.0.1:${exchange.port}`, b.auth);
        expect(tunnel.status).toBe(200);
        return exchangeOverTunnel(tunnel.socket, tunnel.rest, patternBytes(`m${i}`, 1000 + i), down.length);
      }),
    );
    for (const r of results) expect(r.digest).toBe(sha256(down));
    expect(exchange.received.length - before).toBe(40);
  });

  it('keeps concurrent tunnels apart: each gets exactly its own bytes', async () => {
    const server = await startNamedStreamServer(2 * 1024 * 1024 + 5);
    const ticket = b.mint({ allowlist: [`127.0.0.1:${server.port}`], runId: 'apart', routeMode: 'client_exit' });
    b.broker.admit(ticket);
    const apartProvider = await connectProvider({ broker: { host: '127.0.0.1', port: b.port }, ticket });
    try {
      expect(await tunnelsStayApart(b.port, server.port, basic(ticket.session_id, ticket.secret), 24, 2 * 1024 * 1024 + 5)).toBe(true);
    } finally {
      await apartProvider.close();
      await server.close();
    }
  });

  it('reports the provider’s upstream failures as 502', async () => {
    const refused = await connectTunnel(b.port, `127.0.0.1:${closedPort}`, b.auth);
    expect(refused.status).toBe(502);
    expect(refused.head).toMatch(/x-swarm-reason: upstream_refused/i);
  });

  it('still applies the broker’s allowlist first', async () => {
    expect((await connectTunnel(b.port, `localhost:${origin.port}`, b.auth)).status).toBe(403);
  });
});

describe('provider registration', () => {
  it('answers 502 no_provider while no provider is registered', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`], { routeMode: 'client_exit' });
    try {
      const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
      expect(res.status).toBe(502);
      expect(res.headers['x-swarm-reason']).toBe('no_provider');
    } finally {
      await b.close();
    }
  });

  it('refuses providers with a wrong secret, an expired ticket, or a direct-mode ticket', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`], { routeMode: 'client_exit' });
    const target = { host: '127.0.0.1', port: b.port };
    try {
      await expect(connectProvider({ broker: target, ticket: { ...b.ticket, secret: 'A'.repeat(43) } })).rejects.toMatchObject({
        code: 'PROVIDER_REJECTED',
      });
      const expired = b.mint({ issuedAtUnix: nowUnix() - 100, expiresAtUnix: nowUnix() - 1, routeMode: 'client_exit' });
      await expect(connectProvider({ broker: target, ticket: expired })).rejects.toMatchObject({ code: 'PROVIDER_REJECTED' });
      const direct = b.mint({ routeMode: 'direct', runId: 'direct' });
      await expect(connectProvider({ broker: target, ticket: direct })).rejects.toMatchObject({ code: 'PROVIDER_REJECTED' });
      // A provider registered for another session does not serve this one.
      const other = b.mint({ runId: 'other', routeMode: 'client_exit' });
      const otherProvider = await connectProvider({ broker: target, ticket: other });
      try {
        const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
        expect(res.headers['x-swarm-reason']).toBe('no_provider');
      } finally {
        await otherProvider.close();
      }
    } finally {
      await b.close();
    }
  });

  it('answers 504 when a provider does not open the tunnel in time', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`], { routeMode: 'client_exit', timeouts: { connectMs: 300 } });
    // A provider that registers and then ignores every request.
    const silent = net.connect({ host: '127.0.0.1', port: b.port });
    try {
      await new Promise<void>((resolve, reject) => {
        let text = '';
        silent.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (text.includes('"ready"')) resolve();
        });
        silent.on('error', reject);
        silent.on('connect', () =>
          silent.write(
            `GET /swarm/v1/provider HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: swarm-provider/1\r\nProxy-Authorization: ${basic(encodeTicketToken(b.ticket), b.ticket.secret)}\r\n\r\n`,
          ),
        );
      });
      const started = Date.now();
      const answer = await connectTunnel(b.port, `127.0.0.1:${origin.port}`, b.auth);
      expect(answer.status).toBe(504);
      expect(answer.head).toMatch(/x-swarm-reason: upstream_timeout/i);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      silent.destroy();
      await b.close();
    }
  });

  it('cannot reach a broker that is not there', async () => {
    const b = await startBroker([], { routeMode: 'client_exit' });
    await b.close();
    await expect(connectProvider({ broker: { host: '127.0.0.1', port: closedPort }, ticket: b.ticket })).rejects.toMatchObject({
      code: 'PROVIDER_CONNECT_FAILED',
    });
  });

  it('applies the ticket’s allowlist itself, whatever a broker asks', async () => {
    // A hostile broker: accepts the provider, then asks for a host the ticket does not allow.
    const key = crypto.randomBytes(32);
    const ticket = mintTicket({
      netCapChainKey: CHAIN_KEY,
      runId: 'r',
      allowlist: [`127.0.0.1:${origin.port}`],
      routeMode: 'client_exit',
      issuedAtUnix: nowUnix(),
      expiresAtUnix: nowUnix() + 60,
      brokerKey: key,
    });
    const before = origin.connections;
    let reply: Record<string, unknown> | null = null;
    let sawAuth = '';
    const hostile = net.createServer((socket) => {
      let buffered = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        buffered += chunk;
        if (sawAuth === '' && buffered.includes('\r\n\r\n')) {
          sawAuth = /proxy-authorization: (.*)\r\n/i.exec(buffered)?.[1] ?? '-';
          buffered = '';
          socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: swarm-provider/1\r\nConnection: Upgrade\r\n\r\n');
          socket.write(`${JSON.stringify({ type: 'ready', session_id: ticket.session_id, run_id: 'r' })}\n`);
          socket.write(`${JSON.stringify({ type: 'open', id: 'a'.repeat(32), host: 'localhost', port: origin.port })}\n`);
        } else if (buffered.includes('\n')) {
          reply = JSON.parse(buffered.split('\n')[0]!) as Record<string, unknown>;
        }
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const provider = await connectProvider({ broker: { host: '127.0.0.1', port: (hostile.address() as net.AddressInfo).port }, ticket });
    try {
      await waitFor(() => reply !== null);
      expect(reply).toMatchObject({ type: 'fail', id: 'a'.repeat(32), status: 403, reason: 'provider_denied' });
      expect(origin.connections).toBe(before);
      // The provider presents the self-contained ticket token, never the bare secret alone.
      expect(sawAuth).toBe(basic(encodeTicketToken(ticket), ticket.secret));
    } finally {
      await provider.close();
      hostile.close();
    }
  });
});

describe('losing the provider', () => {
  it('gives the client a reset, not a hang or a clean end, when the provider dies mid-transfer', async () => {
    // An origin that streams slowly for long enough to be cut off in the middle.
    const chunk = patternBytes('slow', 64 * 1024);
    const slow = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      const timer = setInterval(() => socket.write(chunk), 10);
      socket.on('close', () => clearInterval(timer));
      setTimeout(() => socket.end(), 20_000).unref();
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const port = (slow.address() as net.AddressInfo).port;
    const b = await startBroker([`127.0.0.1:${port}`], { routeMode: 'client_exit' });
    const provider = await connectProvider({ broker: { host: '127.0.0.1', port: b.port }, ticket: b.ticket });
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${port}`, b.auth);
      expect(tunnel.status).toBe(200);
      let received = tunnel.rest.length;
      tunnel.socket.on('data', (c: Buffer) => {
        received += c.length;
      });
      const outcome = new Promise<string>((resolve) => {
        tunnel.socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
        tunnel.socket.on('end', () => resolve('end'));
        setTimeout(() => resolve('hang'), 10_000);
      });
      tunnel.socket.resume();
      await waitFor(() => received > 256 * 1024, 10_000);
      const killedAt = Date.now();
      await provider.close();
      expect(await outcome).toBe('ECONNRESET');
      expect(Date.now() - killedAt).toBeLessThan(5_000);
      await waitFor(() => b.decisions.some((d) => d.port === port));
      expect(b.decisions.find((d) => d.port === port)?.reason).not.toBe('allowed');
    } finally {
      await b.close();
      slow.close();
    }
  });
});
