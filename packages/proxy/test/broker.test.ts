import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationList, createBroker, encodeTicketToken, mintTicket } from '@swarm/proxy';
import {
  CHAIN_KEY,
  basic,
  connectTunnel,
  exchangeOverTunnel,
  nowUnix,
  patternBytes,
  tunnelsStayApart,
  proxyRequest,
  rawExchange,
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

afterAll(async () => {
  await origin.close();
});

describe('plain HTTP through the broker', () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker([`127.0.0.1:${origin.port}`, `127.0.0.1:${closedPort}`], { timeouts: { responseMs: 400 } });
  });
  afterAll(() => b.close());

  it('forwards an allowed request and records the decision', async () => {
    const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello');
    const entry = b.decisions.at(-1)!;
    expect(entry).toMatchObject({
      decision: 'allowed',
      status: 200,
      method: 'GET',
      host: '127.0.0.1',
      port: origin.port,
      run_id: 'run-1',
      session_id: b.ticket.session_id,
      bytes_in: 5,
    });
  });

  it('strips proxy credentials and hop-by-hop headers, and sets Host from the URL', async () => {
    const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/headers`, b.auth, {
      headers: { 'proxy-connection': 'keep-alive', connection: 'x-private', 'x-private': '1', 'x-kept': 'yes', host: 'spoofed.example' },
    });
    const seen = JSON.parse(res.body.toString()) as Record<string, string>;
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(seen['proxy-connection']).toBeUndefined();
    expect(seen['x-private']).toBeUndefined();
    expect(seen['x-kept']).toBe('yes');
    expect(seen.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('carries request bodies both ways, fixed-length and chunked', async () => {
    const body = patternBytes('post', 300_000);
    const fixed = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/echo`, b.auth, { method: 'POST', body });
    expect(sha256(fixed.body)).toBe(sha256(body));
    const chunked = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/echo`, b.auth, {
      method: 'POST',
      body,
      headers: { 'transfer-encoding': 'chunked' },
    });
    expect(sha256(chunked.body)).toBe(sha256(body));
    expect(b.decisions.at(-1)).toMatchObject({ bytes_out: body.length, bytes_in: body.length });
  });

  it('answers 407 with Proxy-Authenticate for missing, malformed, unknown and wrong credentials', async () => {
    const url = `http://127.0.0.1:${origin.port}/hello`;
    const before = origin.connections;
    const cases: Array<[string | null, string]> = [
      [null, 'missing_credentials'],
      ['Bearer abc', 'malformed_credentials'],
      [basic('nosuchsession000', 'x'), 'unknown_session'],
      [basic(b.ticket.session_id, 'wrong-secret'), 'bad_credentials'],
      [basic(b.ticket.session_id, ''), 'bad_credentials'],
      [basic(`${encodeTicketToken(b.ticket)}x`, b.ticket.secret), 'invalid_ticket'],
    ];
    for (const [auth, reason] of cases) {
      const res = await proxyRequest(b.port, url, auth);
      expect(res.status).toBe(407);
      expect(res.headers['proxy-authenticate']).toBe('Basic realm="swarm"');
      expect(res.headers['x-swarm-reason']).toBe(reason);
    }
    expect(origin.connections).toBe(before);
  });

  it('answers 403 for hosts outside the allowlist, unlisted or oddly spelled IPs', async () => {
    const before = origin.connections;
    for (const [url, reason] of [
      [`http://localhost:${origin.port}/hello`, 'not_allowed'],
      [`http://127.0.0.2:${origin.port}/hello`, 'ip_not_listed'],
      [`http://127.0.0.1:${origin.port + 1}/hello`, 'ip_not_listed'],
      [`http://127.1:${origin.port}/hello`, 'ip_noncanonical'],
      [`http://2130706433:${origin.port}/hello`, 'ip_noncanonical'],
    ] as const) {
      const res = await proxyRequest(b.port, url, b.auth);
      expect(res.status, url).toBe(403);
      expect(res.headers['x-swarm-reason']).toBe(reason);
    }
    expect(origin.connections).toBe(before);
    expect(b.decisions.at(-1)).toMatchObject({ decision: 'denied', status: 403 });
  });

  it('answers 400 for requests that are not absolute-form http URLs', async () => {
    for (const url of ['/hello', `https://127.0.0.1:${origin.port}/`, `http://user@127.0.0.1:${origin.port}/`, 'http:///x']) {
      const res = await proxyRequest(b.port, url, b.auth);
      expect(res.status, url).toBe(400);
    }
  });

  it('answers 502 when the destination refuses and 504 when it does not answer', async () => {
    const refused = await proxyRequest(b.port, `http://127.0.0.1:${closedPort}/`, b.auth);
    expect(refused.status).toBe(502);
    expect(refused.headers['x-swarm-reason']).toBe('upstream_refused');
    const started = Date.now();
    const hung = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hang`, b.auth);
    expect(hung.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(b.decisions.at(-1)).toMatchObject({ decision: 'allowed', status: 504, reason: 'upstream_timeout' });
  });

  it('never writes the secret or the Proxy-Authorization value into a decision', () => {
    const text = JSON.stringify(b.decisions);
    expect(b.decisions.length).toBeGreaterThan(5);
    expect(text).not.toContain(b.ticket.secret);
    expect(text).not.toContain(b.auth.slice(6));
  });
});

describe('CONNECT tunnels', () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker([`127.0.0.1:${origin.port}`, `127.0.0.1:${closedPort}`], { timeouts: { headersMs: 300 } });
  });
  afterAll(() => b.close());

  /** A ticket for this broker that allows `ports` on 127.0.0.1, as Proxy-Authorization. */
  function authFor(ports: number[]): string {
    const ticket = b.mint({ allowlist: ports.map((p) => `127.0.0.1:${p}`), runId: `run-${ports.join('-')}` });
    b.broker.admit(ticket);
    return basic(ticket.session_id, ticket.secret);
  }

  it('carries a multi-megabyte transfer intact in both directions', async () => {
    const down = patternBytes('down', 8 * 1024 * 1024 + 123);
    const up = patternBytes('up', 6 * 1024 * 1024 + 7);
    const server = await startExchangeServer(down);
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, authFor([server.port]));
      expect(tunnel.status).toBe(200);
      const got = await exchangeOverTunnel(tunnel.socket, tunnel.rest, up, down.length);
      expect(got.digest).toBe(sha256(down));
      expect(await server.received[0]).toBe(sha256(up));
      await waitFor(() => b.decisions.some((d) => d.port === server.port && d.method === 'CONNECT'));
      expect(b.decisions.find((d) => d.port === server.port)).toMatchObject({
        decision: 'allowed',
        reason: 'allowed',
        status: 200,
        bytes_in: down.length,
        bytes_out: up.length,
      });
    } finally {
      await server.close();
    }
  });

  it('holds many concurrent tunnels, each intact', async () => {
    const down = patternBytes('many-down', 64 * 1024);
    const server = await startExchangeServer(down);
    const auth = authFor([server.port]);
    try {
      const count = 100;
      const results = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, auth);
          expect(tunnel.status).toBe(200);
          const up = patternBytes(`many-up-${i}`, 32 * 1024 + i);
          const got = await exchangeOverTunnel(tunnel.socket, tunnel.rest, up, down.length);
          return { got, up };
        }),
      );
      for (const { got } of results) expect(got.digest).toBe(sha256(down));
      const received = new Set(await Promise.all(server.received));
      for (const { up } of results) expect(received.has(sha256(up))).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('keeps concurrent tunnels apart: each gets exactly its own bytes', async () => {
    const server = await startNamedStreamServer(3 * 1024 * 1024 + 17);
    try {
      expect(await tunnelsStayApart(b.port, server.port, authFor([server.port]), 24, 3 * 1024 * 1024 + 17)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('answers CONNECT with 407, 403, 400 and 502 as for plain requests', async () => {
    expect((await connectTunnel(b.port, `127.0.0.1:${origin.port}`, null)).status).toBe(407);
    expect((await connectTunnel(b.port, `127.0.0.1:${origin.port}`, basic(b.ticket.session_id, 'nope'))).status).toBe(407);
    expect((await connectTunnel(b.port, `localhost:${origin.port}`, b.auth)).status).toBe(403);
    expect((await connectTunnel(b.port, `127.0.0.1`, b.auth)).status).toBe(400);
    expect((await connectTunnel(b.port, `[::1:${origin.port}`, b.auth)).status).toBe(400);
    const refused = await connectTunnel(b.port, `127.0.0.1:${closedPort}`, b.auth);
    expect(refused.status).toBe(502);
    expect(refused.head).toMatch(/x-swarm-reason: upstream_refused/i);
  });

  it('keeps a tunnel open past the request-head timeout', async () => {
    const server = await startExchangeServer(Buffer.from('late'));
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, authFor([server.port]));
      expect(tunnel.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 900));
      const got = await exchangeOverTunnel(tunnel.socket, tunnel.rest, Buffer.from('ping'), 4);
      expect(got.digest).toBe(sha256(Buffer.from('late')));
    } finally {
      await server.close();
    }
  });

  it('passes an upstream reset on to the client as a reset', async () => {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.write(patternBytes('partial', 10_000));
      setTimeout(() => socket.resetAndDestroy(), 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${port}`, authFor([port]));
      const error = await exchangeOverTunnel(tunnel.socket, tunnel.rest, Buffer.alloc(0), 1_000_000, 5_000).then(
        () => null,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(error?.code).toBe('ECONNRESET');
    } finally {
      server.close();
    }
  });
});

describe('ticket lifecycle', () => {
  it('answers 403 for an expired ticket', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`]);
    try {
      const expired = b.mint({ issuedAtUnix: nowUnix() - 100, expiresAtUnix: nowUnix() - 1, runId: 'old' });
      b.broker.admit(expired);
      const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, basic(expired.session_id, expired.secret));
      expect(res.status).toBe(403);
      expect(res.headers['x-swarm-reason']).toBe('expired');
      expect((await connectTunnel(b.port, `127.0.0.1:${origin.port}`, basic(expired.session_id, expired.secret))).status).toBe(403);
    } finally {
      await b.close();
    }
  });

  it('expires a ticket when the clock passes its expiry', async () => {
    let now = Date.now();
    const b = await startBroker([`127.0.0.1:${origin.port}`], { clock: { now: () => now, fixed: false } });
    try {
      const url = `http://127.0.0.1:${origin.port}/hello`;
      expect((await proxyRequest(b.port, url, b.auth)).status).toBe(200);
      now += 601_000;
      expect((await proxyRequest(b.port, url, b.auth)).status).toBe(403);
    } finally {
      await b.close();
    }
  });

  it('revocation refuses new requests and closes the session’s open tunnels', async () => {
    const b = await startBroker([]);
    const server = await startExchangeServer(Buffer.alloc(0), { hold: true });
    const ticket = b.mint({ allowlist: [`127.0.0.1:${server.port}`], runId: 'revoked' });
    b.broker.admit(ticket);
    const auth = basic(ticket.session_id, ticket.secret);
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, auth);
      expect(tunnel.status).toBe(200);
      const closed = new Promise<void>((resolve) => tunnel.socket.on('close', () => resolve()));
      tunnel.socket.on('error', () => {});
      tunnel.socket.resume();
      b.broker.revoke(ticket.session_id);
      await closed;
      const again = await connectTunnel(b.port, `127.0.0.1:${server.port}`, auth);
      expect(again.status).toBe(403);
      expect(again.head).toMatch(/x-swarm-reason: revoked/i);
    } finally {
      await server.close();
      await b.close();
    }
  });

  it('reads revocations from a watched file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-revoke-'));
    const file = path.join(dir, 'revoked');
    fs.writeFileSync(file, '# revoked sessions\n');
    const revocations = new RevocationList({ file, pollMs: 50 });
    revocations.watch();
    const b = await startBroker([`127.0.0.1:${origin.port}`], { revocations });
    try {
      const url = `http://127.0.0.1:${origin.port}/hello`;
      expect((await proxyRequest(b.port, url, b.auth)).status).toBe(200);
      fs.appendFileSync(file, `${b.ticket.session_id}\n`);
      await waitFor(() => revocations.has(b.ticket.session_id), 5_000);
      expect((await proxyRequest(b.port, url, b.auth)).status).toBe(403);
    } finally {
      revocations.close();
      await b.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('accepts a self-contained ticket token without admission, from the same broker key only', async () => {
    const b = await startBroker([]);
    try {
      const ticket = mintTicket({
        netCapChainKey: CHAIN_KEY,
        runId: 'token-run',
        allowlist: [`127.0.0.1:${origin.port}`],
        routeMode: 'direct',
        issuedAtUnix: nowUnix(),
        expiresAtUnix: nowUnix() + 60,
        brokerKey: b.key,
      });
      const url = `http://127.0.0.1:${origin.port}/hello`;
      expect((await proxyRequest(b.port, url, basic(ticket.session_id, ticket.secret))).status).toBe(407);
      expect((await proxyRequest(b.port, url, basic(encodeTicketToken(ticket), ticket.secret))).status).toBe(200);
      expect(b.decisions.at(-1)).toMatchObject({ run_id: 'token-run', session_id: ticket.session_id });
      const foreign = mintTicket({ ...{ netCapChainKey: CHAIN_KEY, runId: 'x', allowlist: [], routeMode: 'direct' }, issuedAtUnix: nowUnix(), expiresAtUnix: nowUnix() + 60, brokerKey: Buffer.alloc(32, 1) });
      expect((await proxyRequest(b.port, url, basic(encodeTicketToken(foreign), foreign.secret))).status).toBe(407);
    } finally {
      await b.close();
    }
  });
});

describe('limits and timeouts', () => {
  it('refuses request heads over 16 KiB with 431', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`]);
    try {
      const head = `GET http://127.0.0.1:${origin.port}/hello HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
      const res = await rawExchange(b.port, head);
      expect(res.status).toBe(431);
      const ok = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth, {
        headers: { 'x-fits': 'a'.repeat(8_000) },
      });
      expect(ok.status).toBe(200);
    } finally {
      await b.close();
    }
  });

  it('answers a request head that never finishes with 408', async () => {
    const b = await startBroker([], { timeouts: { headersMs: 300 } });
    try {
      const started = Date.now();
      const res = await rawExchange(b.port, 'GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\n', 5_000, false);
      expect(res.status).toBe(408);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await b.close();
    }
  });

  it('closes a silent tunnel after the idle timeout', async () => {
    const b = await startBroker([], { timeouts: { idleMs: 300 } });
    const server = await startExchangeServer(Buffer.alloc(0), { hold: true });
    const ticket = b.mint({ allowlist: [`127.0.0.1:${server.port}`], runId: 'idle' });
    b.broker.admit(ticket);
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, basic(ticket.session_id, ticket.secret));
      expect(tunnel.status).toBe(200);
      tunnel.socket.on('error', () => {});
      tunnel.socket.resume();
      const started = Date.now();
      await new Promise<void>((resolve) => tunnel.socket.on('close', () => resolve()));
      expect(Date.now() - started).toBeLessThan(3_000);
      await waitFor(() => b.decisions.some((d) => d.reason === 'idle_timeout'));
    } finally {
      await server.close();
      await b.close();
    }
  });

  it('close() ends open tunnels and still records their decisions', async () => {
    const server = await startExchangeServer(Buffer.alloc(0), { hold: true });
    const b = await startBroker([`127.0.0.1:${server.port}`]);
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${server.port}`, b.auth);
      expect(tunnel.status).toBe(200);
      tunnel.socket.on('error', () => {});
      tunnel.socket.resume();
      const closed = new Promise<void>((resolve) => tunnel.socket.on('close', () => resolve()));
      await b.close();
      await closed;
      expect(b.decisions.filter((d) => d.method === 'CONNECT')).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('listens on a Unix socket (0600) and refuses to take over a live one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-sock-'));
    const socketPath = path.join(dir, 'b.sock');
    const key = Buffer.alloc(32, 3);
    const first = createBroker({ brokerKey: key });
    const second = createBroker({ brokerKey: key });
    try {
      await first.listen({ path: socketPath });
      expect(fs.statSync(socketPath).mode & 0o777).toBe(0o600);
      await expect(second.listen({ path: socketPath })).rejects.toMatchObject({ code: 'BROKER_LISTEN_FAILED' });
      await expect(second.listen({ path: path.join(dir, 'x'.repeat(120)) })).rejects.toMatchObject({ code: 'BROKER_LISTEN_FAILED' });
    } finally {
      await first.close();
      await second.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
