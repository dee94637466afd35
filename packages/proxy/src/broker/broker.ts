/**
 * The net_cap broker: an HTTP proxy for absolute-form plain HTTP requests and CONNECT tunnels that
 * every step's egress must go through. Each request authenticates with a ticket; every request
 * gets an explicit answer (407 credentials, 403 policy, 400 malformed, 502/504 upstream) and one
 * decision line. Listens on TCP and/or Unix sockets; providers (client_exit) register on the same
 * listeners.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { SwarmError, systemClock, type Clock } from '@swarm/core';
import {
  Allowlist,
  parseAuthority,
  type Destination,
  type HostProblem,
} from '../allowlist.js';
import type { DecisionEntry, DecisionSink, Decision } from '../decision-log.js';
import { PROVIDER_PATH, PROVIDER_PROTOCOL, TUNNEL_ID_RE, TUNNEL_PATH_PREFIX, TUNNEL_PROTOCOL } from '../provider-protocol.js';
import { createFastReader } from '../fast-read.js';
import { RevocationList } from '../revocation.js';
import { reset, splice, type SpliceResult } from '../splice.js';
import type { PublicTicket } from '../ticket.js';
import { UpstreamError, dialTcp, upstreamErrorFor } from '../upstream.js';
import { TicketBook } from './auth.js';
import { ProviderHub, type UpstreamConnection } from './provider-hub.js';
import '../errors.js';

export interface BrokerTimeouts {
  /** Time allowed to receive a complete request head (slow clients get 408). */
  headersMs: number;
  /** Time allowed to connect upstream, or for a provider to open a tunnel (then 504). */
  connectMs: number;
  /** Plain HTTP: upstream silence before the request fails with 504. */
  responseMs: number;
  /** Tunnels: silence in both directions before the tunnel is closed. */
  idleMs: number;
  /** Plain HTTP: how long an idle client connection is kept between requests. */
  keepAliveMs: number;
}

export const DEFAULT_BROKER_TIMEOUTS: Readonly<BrokerTimeouts> = Object.freeze({
  headersMs: 15_000,
  connectMs: 10_000,
  responseMs: 60_000,
  idleMs: 600_000,
  keepAliveMs: 5_000,
});

/** Request heads larger than this are refused with 431. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;

export interface BrokerOptions {
  /** The key tickets are MACed with (32 bytes or more). */
  brokerKey: Uint8Array;
  clock?: Clock;
  timeouts?: Partial<BrokerTimeouts>;
  maxHeaderBytes?: number;
  revocations?: RevocationList;
  /** Receives one entry per proxy request. */
  onDecision?: DecisionSink;
  /** Receives human diagnostics (listening, providers coming and going). */
  onDiagnostic?: (line: string) => void;
}

export type ListenTarget = { host: string; port: number } | { path: string };
export type BrokerAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface BrokerStats {
  /** Tunnels (CONNECT and provider data) currently open. */
  tunnels: number;
  /** Plain HTTP requests in flight. */
  requests: number;
  providers: number;
  sessions: number;
}

interface RequestContext {
  method: string | null;
  time: string;
  started: number;
  ticket: PublicTicket | null;
  destination: Destination | null;
  recorded: boolean;
}

/** Longest Unix socket path the kernel accepts (sun_path is 108 bytes with the terminator). */
const MAX_SOCKET_PATH = 107;
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

export class Broker {
  readonly timeouts: BrokerTimeouts;
  private readonly clock: Clock;
  private readonly book: TicketBook;
  private readonly hub: ProviderHub;
  private readonly revocations: RevocationList;
  private readonly stopWatchingRevocations: () => void;
  private readonly agent: http.Agent;
  private readonly servers: Array<{ server: http.Server; address: BrokerAddress }> = [];
  /** Sockets taken over from the HTTP server (tunnels, providers), closed by close(). */
  private readonly detached = new Set<net.Socket>();
  private readonly bySession = new Map<string, Set<net.Socket>>();
  private readonly allowlists = new WeakMap<PublicTicket, Allowlist>();
  private tunnelCount = 0;
  private requestCount = 0;
  private closing = false;

  constructor(private readonly options: BrokerOptions) {
    this.timeouts = { ...DEFAULT_BROKER_TIMEOUTS, ...options.timeouts };
    this.clock = options.clock ?? systemClock;
    this.revocations = options.revocations ?? new RevocationList();
    this.book = new TicketBook(options.brokerKey, this.clock, this.revocations);
    this.hub = new ProviderHub((line) => this.diagnostic(line));
    this.stopWatchingRevocations = this.revocations.onRevoke((sessionId) => this.dropSession(sessionId));
    this.agent = new http.Agent({ keepAlive: true, maxFreeSockets: 64, timeout: 4_000, scheduling: 'lifo' });
  }

  /** Starts listening on a TCP address or Unix socket path; may be called more than once. */
  async listen(target: ListenTarget): Promise<BrokerAddress> {
    if (this.closing) throw new SwarmError('BROKER_LISTEN_FAILED', 'broker is closed');
    if ('path' in target) await prepareSocketPath(target.path);
    const server = http.createServer({
      maxHeaderSize: this.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      headersTimeout: this.timeouts.headersMs,
      requestTimeout: 0,
      keepAliveTimeout: this.timeouts.keepAliveMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(this.timeouts.headersMs / 4))),
      requireHostHeader: false,
      noDelay: true,
    });
    server.setTimeout(this.timeouts.idleMs);
    server.on('request', (req, res) => void this.onRequest(req, res));
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.onConnect(req, socket, head));
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => this.onClientError(error, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (cause: NodeJS.ErrnoException) => {
        const where = 'path' in target ? target.path : `${target.host}:${target.port}`;
        reject(
          new SwarmError('BROKER_LISTEN_FAILED', `cannot listen on ${where} (${cause.code ?? cause.message})`, {
            details: { address: where, errno: cause.code ?? null },
            cause,
          }),
        );
      });
      if ('path' in target) server.listen(target.path, () => resolve());
      else server.listen(target.port, target.host, () => resolve());
    });
    let address: BrokerAddress;
    if ('path' in target) {
      fs.chmodSync(target.path, 0o600);
      address = { kind: 'unix', path: target.path };
    } else {
      const bound = server.address() as net.AddressInfo;
      address = { kind: 'tcp', host: bound.address, port: bound.port };
    }
    this.servers.push({ server, address });
    this.diagnostic(`broker listening on ${formatAddress(address)}`);
    return address;
  }

  get addresses(): BrokerAddress[] {
    return this.servers.map((s) => s.address);
  }

  /** Verifies a ticket (MAC, key) and lets clients authenticate with its session id. */
  admit(ticket: unknown): PublicTicket {
    return this.book.admit(ticket);
  }

  /** Revokes a session: later requests get 403, and its open tunnels and providers are closed. */
  revoke(sessionId: string): void {
    this.revocations.revoke(sessionId);
    this.dropSession(sessionId);
  }

  stats(): BrokerStats {
    return {
      tunnels: this.tunnelCount,
      requests: this.requestCount,
      providers: this.hub.totalProviders,
      sessions: this.bySession.size,
    };
  }

  /**
   * Stops listening and closes every connection, recording their decisions first. With a grace
   * period, requests and tunnels still finishing get that long to end on their own.
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = this.servers.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    const deadline = Date.now() + (options.graceMs ?? 0);
    while (this.tunnelCount + this.requestCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const { server } of this.servers) server.closeAllConnections();
    this.hub.closeAll();
    for (const socket of [...this.detached]) reset(socket);
    this.agent.destroy();
    this.stopWatchingRevocations();
    await Promise.all(closed);
    // Let tunnel close handlers run so their decisions are recorded before the caller closes the log.
    await new Promise((resolve) => setImmediate(resolve));
  }

  // ---- plain HTTP (absolute-form) ----

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ctx = this.begin(req.method ?? null);
    this.requestCount += 1;
    res.on('close', () => {
      this.requestCount -= 1;
    });
    const target = parseAbsoluteUrl(req.url ?? '');
    if (typeof target === 'string') {
      const status = target === 'ip_noncanonical' ? 403 : 400;
      this.reply(res, ctx, status, target === 'ip_noncanonical' ? target : 'malformed_request', 'denied');
      return;
    }
    ctx.destination = target.destination;
    const ticket = this.authorize(ctx, req.headers['proxy-authorization'], (status, reason) => this.reply(res, ctx, status, reason, 'denied'));
    if (!ticket) return;
    let upstream: UpstreamConnection | null = null;
    if (ticket.route_mode === 'client_exit') {
      try {
        upstream = await this.hub.openTunnel(ticket.session_id, target.destination, this.timeouts.connectMs);
      } catch (error) {
        const failure = upstreamErrorFor(error);
        this.reply(res, ctx, failure.status, failure.reason, failure.status === 403 ? 'denied' : 'allowed');
        return;
      }
      if (res.destroyed) {
        reset(upstream.socket);
        this.record(ctx, 'allowed', 'client_closed', 499, 0, 0);
        return;
      }
    }
    this.forward(req, res, ctx, target, upstream);
  }

  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    target: AbsoluteTarget,
    upstream: UpstreamConnection | null,
  ): void {
    const destination = target.destination;
    const headers = forwardHeaders(req.rawHeaders, req.headers['transfer-encoding'] !== undefined);
    headers.push('Host', target.hostHeader);
    const options: http.RequestOptions = {
      host: destination.host,
      port: destination.port,
      method: req.method,
      path: target.path,
      headers,
      setHost: false,
      timeout: this.timeouts.responseMs,
    };
    if (upstream) {
      const socket = upstream.socket;
      options.createConnection = () => socket;
      this.trackSession(ctx.ticket!.session_id, socket);
    } else {
      options.agent = this.agent;
    }
    let bytesOut = 0;
    let bytesIn = 0;
    const upstreamRequest = http.request(options);
    // A provider's data connection arrives paused; the HTTP client does not resume it itself.
    if (upstream) upstreamRequest.once('socket', (socket) => socket.resume());
    req.on('data', (chunk: Buffer) => {
      bytesOut += chunk.length;
    });
    req.pipe(upstreamRequest);
    upstreamRequest.on('timeout', () => upstreamRequest.destroy(new UpstreamError(504, 'upstream_timeout')));
    upstreamRequest.on('error', (error) => {
      const failure = upstreamErrorFor(error);
      if (!res.headersSent) {
        this.reply(res, ctx, failure.status, failure.reason, 'allowed', bytesIn, bytesOut);
      } else {
        abortResponse(res);
        this.record(ctx, 'allowed', failure.reason, res.statusCode, bytesIn, bytesOut);
      }
    });
    upstreamRequest.on('response', (upstreamResponse) => {
      const status = upstreamResponse.statusCode ?? 502;
      res.writeHead(status, upstreamResponse.statusMessage, forwardHeaders(upstreamResponse.rawHeaders, false));
      upstreamResponse.on('data', (chunk: Buffer) => {
        bytesIn += chunk.length;
      });
      upstreamResponse.pipe(res);
      upstreamResponse.on('error', () => {
        abortResponse(res);
        this.record(ctx, 'allowed', 'upstream_reset', status, bytesIn, bytesOut);
      });
      res.on('finish', () => this.record(ctx, 'allowed', 'allowed', status, bytesIn, bytesOut));
    });
    res.on('close', () => {
      if (!res.writableFinished) {
        upstreamRequest.destroy();
        this.record(ctx, 'allowed', 'client_closed', res.headersSent ? res.statusCode : 499, bytesIn, bytesOut);
      }
    });
  }

  /** A complete answer to a plain request, with the decision recorded. */
  private reply(
    res: http.ServerResponse,
    ctx: RequestContext,
    status: number,
    reason: string,
    decision: Decision,
    bytesIn = 0,
    bytesOut = 0,
  ): void {
    this.record(ctx, decision, reason, status, bytesIn, bytesOut);
    if (res.headersSent || res.destroyed) return;
    const body = `swarm proxy: ${reason}\n`;
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      'x-swarm-reason': reason,
    };
    if (status === 407) headers['proxy-authenticate'] = 'Basic realm="swarm"';
    if (status === 400) headers.connection = 'close';
    res.writeHead(status, STATUS_TEXT[status], headers);
    res.end(body);
  }

  // ---- CONNECT ----

  private async onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const ctx = this.begin('CONNECT');
    this.adopt(socket);
    socket.setNoDelay(true);
    const destination = parseAuthority(req.url ?? '');
    if (typeof destination === 'string') {
      this.refuseRaw(socket, ctx, problemStatus(destination), problemReason(destination), 'denied');
      return;
    }
    ctx.destination = destination;
    const ticket = this.authorize(ctx, req.headers['proxy-authorization'], (status, reason) =>
      this.refuseRaw(socket, ctx, status, reason, 'denied'),
    );
    if (!ticket) return;
    this.trackSession(ticket.session_id, socket);
    let upstream: UpstreamConnection;
    try {
      upstream = await this.openUpstream(ticket, destination);
    } catch (error) {
      const failure = upstreamErrorFor(error);
      this.refuseRaw(socket, ctx, failure.status, failure.reason, failure.status === 403 ? 'denied' : 'allowed');
      return;
    }
    const far = upstream.socket;
    this.adopt(far);
    this.trackSession(ticket.session_id, far);
    if (socket.destroyed || this.closing) {
      reset(far);
      this.record(ctx, 'allowed', 'client_closed', 499, 0, 0);
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) far.write(head);
    this.tunnelCount += 1;
    const result = await splice(socket, far, {
      idleMs: this.timeouts.idleMs,
      farEndIsClean: upstream.farEndIsClean,
      farReader: upstream.reader,
    });
    this.record(ctx, 'allowed', tunnelReason(result), 200, result.bytesIn, result.bytesOut + head.length);
    this.tunnelCount -= 1;
  }

  private openUpstream(ticket: PublicTicket, destination: Destination): Promise<UpstreamConnection> {
    if (ticket.route_mode === 'client_exit') {
      return this.hub.openTunnel(ticket.session_id, destination, this.timeouts.connectMs);
    }
    // direct: connect to exactly the name (or address) that was checked.
    const reader = createFastReader();
    return dialTcp(destination.host, destination.port, this.timeouts.connectMs, reader).then((socket) => ({ socket, reader }));
  }

  // ---- provider registration and tunnels (client_exit) ----

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    this.adopt(socket);
    const url = req.url ?? '';
    const protocol = (req.headers.upgrade ?? '').toLowerCase();
    if (url === PROVIDER_PATH && protocol === PROVIDER_PROTOCOL) {
      this.acceptProvider(req, socket, head);
    } else if (url.startsWith(TUNNEL_PATH_PREFIX) && protocol === TUNNEL_PROTOCOL) {
      this.acceptTunnel(req, socket, head, url.slice(TUNNEL_PATH_PREFIX.length));
    } else {
      const ctx = this.begin(req.method ?? null);
      this.refuseRaw(socket, ctx, 501, 'upgrade_unsupported', 'denied');
    }
  }

  private acceptProvider(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const auth = this.book.authenticate(req.headers['proxy-authorization']);
    if (!auth.ok) {
      this.diagnostic(`provider refused (${auth.reason})`);
      writeRaw(socket, auth.status, auth.reason);
      return;
    }
    if (auth.ticket.route_mode !== 'client_exit') {
      this.diagnostic(`provider refused for session ${auth.ticket.session_id} (route_mode_mismatch)`);
      writeRaw(socket, 403, 'route_mode_mismatch');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${PROVIDER_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
    this.trackSession(auth.ticket.session_id, socket);
    this.hub.register(auth.ticket, socket, head);
  }

  private acceptTunnel(req: http.IncomingMessage, socket: net.Socket, head: Buffer, id: string): void {
    const auth = this.book.authenticate(req.headers['proxy-authorization']);
    if (!auth.ok) {
      writeRaw(socket, auth.status, auth.reason);
      return;
    }
    const tunnel = TUNNEL_ID_RE.test(id) ? this.hub.claim(auth.ticket.session_id, id) : null;
    if (!tunnel) {
      writeRaw(socket, 404, 'unknown_tunnel');
      return;
    }
    socket.setNoDelay(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${TUNNEL_PROTOCOL}\r\nConnection: Upgrade\r\n\r\n`);
    if (head.length > 0) socket.unshift(head);
    this.hub.activate(tunnel, socket);
  }

  // ---- malformed input ----

  private onClientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
    const ctx = this.begin(null);
    const code = error.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable || hasStartedResponse(socket)) {
      socket.destroy();
      return;
    }
    if (code === 'HPE_HEADER_OVERFLOW') this.refuseRaw(socket, ctx, 431, 'header_too_large', 'denied');
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') this.refuseRaw(socket, ctx, 408, 'header_timeout', 'denied');
    else this.refuseRaw(socket, ctx, 400, 'malformed_request', 'denied');
  }

  // ---- shared ----

  /** Authenticates and applies the ticket's allowlist; on refusal calls `refuse` and returns null. */
  private authorize(
    ctx: RequestContext,
    header: string | undefined,
    refuse: (status: number, reason: string) => void,
  ): PublicTicket | null {
    const auth = this.book.authenticate(header);
    ctx.ticket = auth.ticket;
    if (!auth.ok) {
      refuse(auth.status, auth.reason);
      return null;
    }
    const destination = ctx.destination!;
    if (!this.allowlistOf(auth.ticket).allows(destination)) {
      refuse(403, destination.kind === 'name' ? 'not_allowed' : 'ip_not_listed');
      return null;
    }
    return auth.ticket;
  }

  private allowlistOf(ticket: PublicTicket): Allowlist {
    let list = this.allowlists.get(ticket);
    if (!list) {
      list = new Allowlist(ticket.allowlist);
      this.allowlists.set(ticket, list);
    }
    return list;
  }

  private refuseRaw(socket: net.Socket, ctx: RequestContext, status: number, reason: string, decision: Decision): void {
    this.record(ctx, decision, reason, status, 0, 0);
    writeRaw(socket, status, reason);
  }

  private begin(method: string | null): RequestContext {
    return {
      method,
      time: new Date(this.clock.now()).toISOString(),
      started: performance.now(),
      ticket: null,
      destination: null,
      recorded: false,
    };
  }

  private record(ctx: RequestContext, decision: Decision, reason: string, status: number, bytesIn: number, bytesOut: number): void {
    if (ctx.recorded) return;
    ctx.recorded = true;
    const entry: DecisionEntry = {
      time: ctx.time,
      run_id: ctx.ticket?.run_id ?? null,
      session_id: ctx.ticket?.session_id ?? null,
      host: ctx.destination?.host ?? null,
      port: ctx.destination?.port ?? null,
      method: ctx.method,
      decision,
      reason,
      status,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      duration_ms: Math.round((performance.now() - ctx.started) * 1000) / 1000,
    };
    try {
      this.options.onDecision?.(entry);
    } catch {
      // A failing sink must not take the broker down; the log reports its own errors.
    }
  }

  private adopt(socket: net.Socket): void {
    this.detached.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.detached.delete(socket));
    if (this.closing) reset(socket);
  }

  private trackSession(sessionId: string, socket: net.Socket): void {
    let set = this.bySession.get(sessionId);
    if (!set) {
      set = new Set();
      this.bySession.set(sessionId, set);
    }
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.bySession.get(sessionId) === set) this.bySession.delete(sessionId);
    });
  }

  private dropSession(sessionId: string): void {
    this.hub.closeSession(sessionId);
    for (const socket of [...(this.bySession.get(sessionId) ?? [])]) reset(socket);
  }

  private diagnostic(line: string): void {
    this.options.onDiagnostic?.(line);
  }
}

export function createBroker(options: BrokerOptions): Broker {
  return new Broker(options);
}

export function formatAddress(address: BrokerAddress): string {
  if (address.kind === 'unix') return address.path;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

interface AbsoluteTarget {
  destination: Destination;
  path: string;
  hostHeader: string;
}

/** `http://host[:port]/path?query` → destination and origin-form path. Anything else is refused. */
function parseAbsoluteUrl(url: string): AbsoluteTarget | HostProblem {
  const match = /^http:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (!match) return 'malformed';
  const authority = match[1]!;
  if (authority.includes('@') || authority === '') return 'malformed';
  const destination = parseAuthority(authority, 80);
  if (typeof destination === 'string') return destination;
  let path = match[2]!;
  if (path === '') path = '/';
  else if (path.startsWith('?')) path = `/${path}`;
  const host = destination.kind === 'ipv6' ? `[${destination.host}]` : destination.host;
  return { destination, path, hostHeader: destination.port === 80 ? host : `${host}:${destination.port}` };
}

/** Raw headers minus hop-by-hop ones (and those the Connection header names). */
function forwardHeaders(raw: string[], chunked: boolean): string[] {
  const dropped = new Set(HOP_BY_HOP);
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') {
      for (const token of raw[i + 1]!.split(',')) dropped.add(token.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!dropped.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  if (chunked) out.push('Transfer-Encoding', 'chunked');
  return out;
}

function problemStatus(problem: HostProblem): number {
  return problem === 'ip_noncanonical' ? 403 : 400;
}

function problemReason(problem: HostProblem): string {
  return problem === 'ip_noncanonical' ? 'ip_noncanonical' : 'malformed_request';
}

function tunnelReason(result: SpliceResult): string {
  switch (result.outcome) {
    case 'closed':
      return 'allowed';
    case 'near_error':
      return 'client_reset';
    case 'far_error':
      return 'upstream_reset';
    case 'far_aborted':
      return 'provider_lost';
    case 'idle_timeout':
      return 'idle_timeout';
  }
}

/** Writes a complete response on a raw socket and closes it (after a grace period to drain). */
function writeRaw(socket: net.Socket, status: number, reason: string): void {
  if (socket.destroyed) return;
  const body = `swarm proxy: ${reason}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    `X-Swarm-Reason: ${reason}`,
  ];
  if (status === 407) lines.push('Proxy-Authenticate: Basic realm="swarm"');
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // Drain whatever else the client sends, and do not wait forever for its FIN.
  socket.resume();
  socket.setTimeout(2_000, () => socket.destroy());
}

function abortResponse(res: http.ServerResponse): void {
  const socket = res.socket;
  if (socket) reset(socket);
  else res.destroy();
}

function hasStartedResponse(socket: net.Socket): boolean {
  const message = (socket as net.Socket & { _httpMessage?: http.ServerResponse | null })._httpMessage;
  return Boolean(message?.headersSent);
}

async function prepareSocketPath(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new SwarmError('BROKER_LISTEN_FAILED', `socket path is longer than ${MAX_SOCKET_PATH} bytes: ${socketPath}`, {
      details: { path: socketPath },
      hint: 'use a shorter path (for example under /tmp)',
    });
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new SwarmError('BROKER_LISTEN_FAILED', `${socketPath} exists and is not a socket`, { details: { path: socketPath } });
  }
  // A socket nobody answers on is left over from a crashed broker; a live one is not ours to take.
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new SwarmError('BROKER_LISTEN_FAILED', `another process is listening on ${socketPath}`, { details: { path: socketPath } });
  }
  fs.rmSync(socketPath, { force: true });
}
