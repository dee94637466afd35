/**
 * Loopback-only fixtures for the proxy tests: origin servers, a broker with a minted ticket, raw
 * proxy clients, and a seeded PRNG.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { createBroker, mintTicket, type Broker, type BrokerOptions, type DecisionEntry, type HostLookup, type Ticket } from '@swarm/proxy';
import type { RouteMode } from '@swarm/core';

export const CHAIN_KEY = '5a'.repeat(32);

/** A loopback port nobody listens on: bind, note, close. */
export async function closedLoopbackPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export function nowUnix(): number {
  return Math.floor(Date.now() / 1000);
}

/** Deterministic bytes from a seed: an AES-128-CTR key stream (fast, and distinct per seed). */
export function patternBytes(seed: string, length: number): Buffer {
  const key = crypto.createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(length));
}

export function sha256(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Seeded PRNG (mulberry32), so a fuzz run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Origin {
  port: number;
  /** Connections the origin accepted (to prove a request never reached it). */
  connections: number;
  close(): Promise<void>;
}

/** An HTTP origin: `/hello`, `/bytes?n=`, `/echo` (POST body back), `/hang` (never answers). */
export async function startOrigin(): Promise<Origin> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    if (url.pathname === '/hello') {
      res.end('hello');
    } else if (url.pathname === '/bytes') {
      const body = patternBytes('origin', Number(url.searchParams.get('n') ?? '0'));
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    } else if (url.pathname === '/echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(Buffer.concat(chunks)));
    } else if (url.pathname === '/headers') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
    } else if (url.pathname === '/hang') {
      // never answers
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  server.on('connection', (socket) => {
    state.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface ExchangeServer {
  port: number;
  /** Digest of what the server received on each finished connection, in order. */
  received: Promise<string>[];
  close(): Promise<void>;
}

/**
 * A TCP server that sends `payload` and hashes everything it receives until the client's end.
 * With `hold`, it sends the payload but never ends its side (a quiet, open connection).
 */
export async function startExchangeServer(payload: Buffer, options: { hold?: boolean } = {}): Promise<ExchangeServer> {
  const received: Promise<string>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const hash = crypto.createHash('sha256');
    received.push(
      new Promise((resolve) => {
        socket.on('data', (chunk: Buffer) => hash.update(chunk));
        socket.on('end', () => resolve(hash.digest('hex')));
      }),
    );
    if (options.hold) socket.write(payload);
    else socket.end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A TCP echo server (half-close aware): each connection gets back exactly what it sent. */
export async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP server that answers the line `<name>\n` with patternBytes(name, size) and ends: every
 * connection gets its own bytes, so bytes crossing between tunnels are caught.
 */
export async function startNamedStreamServer(size: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let line = '';
    const onData = (chunk: Buffer): void => {
      line += chunk.toString('latin1');
      const end = line.indexOf('\n');
      if (end < 0) return;
      socket.removeListener('data', onData);
      socket.resume();
      socket.end(patternBytes(line.slice(0, end), size));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Opens `count` tunnels, asks each for its own stream, reads them late; true when all are intact. */
export async function tunnelsStayApart(proxyPort: number, serverPort: number, auth: string, count: number, size: number): Promise<boolean> {
  const tunnels = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const tunnel = await connectTunnel(proxyPort, `127.0.0.1:${serverPort}`, auth);
      tunnel.socket.write(`apart-${i}\n`);
      return tunnel;
    }),
  );
  // Read late, so the relay holds queued chunks while it keeps reading for other tunnels.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const digests = await Promise.all(tunnels.map((t) => exchangeOverTunnel(t.socket, t.rest, Buffer.alloc(0), size)));
  return digests.every((got, i) => got.digest === sha256(patternBytes(`apart-${i}`, size)));
}

export interface TestBroker {
  broker: Broker;
  port: number;
  key: Buffer;
  ticket: Ticket;
  decisions: DecisionEntry[];
  /** `Proxy-Authorization` value for the ticket. */
  auth: string;
  mint(overrides?: Partial<{ allowlist: string[]; routeMode: RouteMode; runId: string; expiresAtUnix: number; issuedAtUnix: number }>): Ticket;
  close(): Promise<void>;
}

export async function startBroker(
  allowlist: string[],
  options: Partial<BrokerOptions> & { routeMode?: RouteMode } = {},
): Promise<TestBroker> {
  const key = crypto.randomBytes(32);
  const decisions: DecisionEntry[] = [];
  const broker = createBroker({ brokerKey: key, onDecision: (e) => decisions.push(e), ...options });
  const address = await broker.listen({ host: '127.0.0.1', port: 0 });
  const mint: TestBroker['mint'] = (o = {}) =>
    mintTicket({
      netCapChainKey: CHAIN_KEY,
      runId: o.runId ?? 'run-1',
      allowlist: o.allowlist ?? allowlist,
      routeMode: o.routeMode ?? options.routeMode ?? 'direct',
      issuedAtUnix: o.issuedAtUnix ?? nowUnix(),
      expiresAtUnix: o.expiresAtUnix ?? nowUnix() + 600,
      brokerKey: key,
    });
  const ticket = mint();
  broker.admit(ticket);
  return {
    broker,
    port: address.kind === 'tcp' ? address.port : 0,
    key,
    ticket,
    decisions,
    auth: basic(ticket.session_id, ticket.secret),
    mint,
    close: () => broker.close(),
  };
}

export function basic(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
}

export interface RawResponse {
  /** Status code of the first response, or null when the connection closed without one. */
  status: number | null;
  text: string;
  /** Why the exchange ended. */
  ended: 'closed' | 'timeout' | 'error';
}

/** Sends raw bytes to the proxy, half-closes, and reads until the proxy closes (bounded). */
export function rawExchange(port: number, bytes: Buffer | string, timeoutMs = 5_000, halfClose = true): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (ended: RawResponse['ended']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : null, text, ended });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', () => finish('error'));
    socket.on('connect', () => {
      socket.write(bytes);
      if (halfClose) socket.end();
    });
  });
}

/** Opens a CONNECT tunnel; resolves with the status and, on 200, the tunnel socket. */
export function connectTunnel(
  port: number,
  authority: string,
  auth: string | null,
): Promise<{ status: number; socket: net.Socket; rest: Buffer; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('CONNECT got no answer'));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.pause();
      const head = buffer.subarray(0, end).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), socket, rest: buffer.subarray(end + 4), head });
    };
    socket.on('data', onData);
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => {
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (auth) lines.push(`Proxy-Authorization: ${auth}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  });
}

/**
 * Pushes `send` through an open tunnel while reading everything that comes back; resolves with
 * the digest of what was received, or rejects when the tunnel fails (reset, early close).
 */
export function exchangeOverTunnel(
  socket: net.Socket,
  rest: Buffer,
  send: Buffer,
  expectBytes: number,
  timeoutMs = 30_000,
): Promise<{ digest: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`tunnel timed out after ${bytes} bytes`));
    }, timeoutMs);
    const take = (chunk: Buffer): void => {
      hash.update(chunk);
      bytes += chunk.length;
    };
    let settled = false;
    const onEnd = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (bytes !== expectBytes) reject(Object.assign(new Error(`tunnel ended after ${bytes} of ${expectBytes} bytes`), { code: 'TRUNCATED' }));
      else resolve({ digest: hash.digest('hex'), bytes });
    };
    if (rest.length > 0) take(rest);
    socket.on('data', take);
    socket.on('error', (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(Object.assign(new Error(`tunnel closed without an end after ${bytes} bytes`), { code: 'CLOSED' }));
    });
    // The end may already have been seen while the socket was paused.
    if (socket.readableEnded) setImmediate(onEnd);
    else socket.on('end', onEnd);
    socket.resume();
    socket.end(send);
  });
}

/** GET/POST through the proxy with node:http (absolute-form). */
export function proxyRequest(
  port: number,
  url: string,
  auth: string | null,
  options: { method?: string; body?: Buffer; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (auth) headers['proxy-authorization'] = auth;
    const req = http.request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: url, headers, agent: false });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('proxy request timed out')));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.end(options.body);
  });
}

export function waitFor(check: () => boolean, timeoutMs = 5_000, intervalMs = 20): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error('condition not met in time'));
      setTimeout(tick, intervalMs);
    };
    tick();
  });
}

/** A resolver that answers from a table and counts its calls (never touches real DNS). */
export function tableLookup(table: Record<string, string[]>): HostLookup & { calls: string[] } {
  const calls: string[] = [];
  const lookup = async (name: string) => {
    calls.push(name);
    const addresses = table[name];
    if (!addresses) throw Object.assign(new Error(`no such name ${name}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: (address.includes(':') ? 6 : 4) as 4 | 6 }));
  };
  return Object.assign(lookup, { calls });
}
