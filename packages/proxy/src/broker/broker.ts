/**
 * The net_cap broker: an HTTP proxy for absolute-form plain HTTP requests and CONNECT tunnels that
 * every step's egress must go through. Each request authenticates with a ticket; every request
 * gets an explicit answer (407 credentials, 403 policy, 400 malformed, 502/504 upstream) and one
 * decision line. Listens on TCP and/or Unix sockets; providers (client_exit) register on the same
 * listeners. In direct mode a name is resolved once and connected to by address (see resolve.ts),
 * optionally through an upstream proxy; every connection of a session ends when its ticket expires
 * or the session is revoked.
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
import { AddressRefused, resolveDestination, systemLookup, type HostLookup } from '../resolve.js';
import { RevocationList } from '../revocation.js';
import { reset, splice, type SpliceResult } from '../splice.js';
import type { PublicTicket } from '../ticket.js';
import { UpstreamError, dialAddresses, dialTcp, upstreamErrorFor } from '../upstream.js';
import { dialViaProxy, parseUpstreamProxy, upstreamCarries, type UpstreamProxy } from '../upstream-proxy.js';
import { TicketBook } from './auth.js';
import { CheckedAddressAgent, type CheckedRequestOptions } from './checked-agent.js';
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
  /** Resolves allowlisted names in direct mode (default: the system resolver). */
  lookup?: HostLookup;
  /**
   * `http://[user:pass@]host:port`: the broker reaches each checked destination address through
   * `CONNECT <ip>:<port>` on this proxy instead of connecting itself (direct mode).
   */
  upstreamProxy?: string;
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
  /** The address connected to (or refused), once a name has been resolved. */
  address: string | null;
  /** Set when the broker itself ended the connection (ticket expired, session revoked). */
  endReason: string | null;
  recorded: boolean;
}

/** A request or tunnel of a session: the sockets to close when its ticket ends. */
interface LiveConnection {
  sessionId: string;
  /** When its ticket ends, in milliseconds by the broker's clock. */
  expiresAtMs: number;
  ctx: RequestContext | null;
  sockets: Map<net.Socket, () => void>;
  timer: NodeJS.Timeout | null;
}

/** Longest delay a Node timer takes; later expiries are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
  private readonly agent: CheckedAddressAgent;
  private readonly servers: Array<{ server: http.Server; address: BrokerAddress }> = [];
  /** Sockets taken over from the HTTP server (tunnels, providers), closed by close(). */
  private readonly detached = new Set<net.Socket>();
  private readonly bySession = new Map<string, Set<LiveConnection>>();
  private readonly lookup: HostLookup;
  private readonly upstreamProxy: UpstreamProxy | null;
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
    this.stopWatchingRevocations = this.revocations.onRevoke((sessionId) => this.dropSession(sessionId, 'closed_revoked'));
    this.lookup = options.lookup ?? systemLookup;
    this.upstreamProxy = options.upstreamProxy ? parseUpstreamProxy(options.upstreamProxy) : null;
    this.agent = new CheckedAddressAgent(this.timeouts.connectMs, { keepAlive: true, maxFreeSockets: 64, timeout: 4_000, scheduling: 'lifo' });
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
    this.dropSession(sessionId, 'closed_revoked');
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
    for (const set of this.bySession.values()) for (const live of set) this.release(live);
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
    const live = this.watchConnection(ticket, ctx);
    this.addSocket(live, req.socket);
    res.on('close', () => this.release(live));
    let upstream: UpstreamConnection | null = null;
    let checked: string[] | null = null;
    try {
      if (ticket.route_mode === 'client_exit') {
        upstream = await this.hub.openTunnel(ticket.session_id, target.destination, this.timeouts.connectMs);
      } else {
        const addresses = await resolveDestination(target.destination, this.allowlistOf(ticket), this.lookup);
        if (this.usesUpstream(addresses)) {
          upstream = { socket: await this.dialProxied(ctx, addresses, target.destination.port) };
        } else {
          // The pooled agent tries these in turn when it needs a new connection (checked-agent.ts).
          checked = addresses.map((a) => a.address);
        }
      }
    } catch (error) {
      this.refuseUpstream(ctx, error, (status, reason, decision) => this.reply(res, ctx, status, reason, decision));
      return;
    }
    if (res.destroyed) {
      if (upstream) reset(upstream.socket);
      this.record(ctx, 'allowed', ctx.endReason ?? 'client_closed', 499, 0, 0);
      return;
    }
    if (upstream) this.addSocket(live, upstream.socket);
    this.forward(req, res, ctx, target, upstream, checked);
  }

  /** Answers a failed resolution or connect: 403 for a refused address, else 502/504. */
  private refuseUpstream(ctx: RequestContext, error: unknown, refuse: (status: number, reason: string, decision: Decision) => void): void {
    if (error instanceof AddressRefused) ctx.address = error.address;
    const failure = upstreamErrorFor(error);
    refuse(failure.status, failure.reason, failure.status === 403 ? 'denied' : 'allowed');
  }

  private usesUpstream(addresses: readonly { address: string }[]): boolean {
    return upstreamCarries(this.upstreamProxy, addresses);
  }

  private dialProxied(ctx: RequestContext, addresses: readonly { address: string }[], port: number): Promise<net.Socket> {
    const proxy = this.upstreamProxy!;
    return dialAddresses(
      addresses.map((a) => a.address),
      port,
      this.timeouts.connectMs,
      (address, p, timeoutMs) => {
        ctx.address = address;
        return dialViaProxy(proxy, address, p, timeoutMs);
      },
    );
  }

  private forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    target: AbsoluteTarget,
    upstream: UpstreamConnection | null,
    checked: readonly string[] | null,
  ): void {
    const destination = target.destination;
    const headers = forwardHeaders(req.rawHeaders, req.headers['transfer-encoding'] !== undefined);
    headers.push('Host', target.hostHeader);
    const options: http.RequestOptions = {
      host: checked?.[0] ?? destination.host,
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
    } else {
      options.agent = this.agent;
      const onDial = (address: string): void => {
        ctx.address = address;
      };
      Object.assign(options, { checkedAddresses: checked ?? [], onDial } satisfies Omit<CheckedRequestOptions, keyof http.RequestOptions>);
    }
    let bytesOut = 0;
    let bytesIn = 0;
    const upstreamRequest = http.request(options);
    // A provider's data connection (or a proxied one) arrives paused; the HTTP client does not resume it itself.
    if (upstream) upstreamRequest.once('socket', (socket) => socket.resume());
    // A pooled socket was connected for an earlier request: name the address it really reaches.
    else upstreamRequest.once('socket', (socket) => (ctx.address = socket.remoteAddress ?? ctx.address));
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
        this.record(ctx, 'allowed', ctx.endReason ?? 'client_closed', res.headersSent ? res.statusCode : 499, bytesIn, bytesOut);
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
    const live = this.watchConnection(ticket, ctx);
    this.addSocket(live, socket);
    let upstream: UpstreamConnection;
    try {
      upstream = await this.openUpstream(ticket, destination, ctx);
    } catch (error) {
      this.refuseUpstream(ctx, error, (status, reason, decision) => this.refuseRaw(socket, ctx, status, reason, decision));
      return;
    }
    const far = upstream.socket;
    this.adopt(far);
    this.addSocket(live, far);
    if (socket.destroyed || this.closing) {
      reset(far);
      this.record(ctx, 'allowed', ctx.endReason ?? 'client_closed', 499, 0, 0);
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
    this.record(ctx, 'allowed', ctx.endReason ?? tunnelReason(result), 200, result.bytesIn, result.bytesOut + head.length);
    this.tunnelCount -= 1;
  }

  private async openUpstream(ticket: PublicTicket, destination: Destination, ctx: RequestContext): Promise<UpstreamConnection> {
    if (ticket.route_mode === 'client_exit') {
      return this.hub.openTunnel(ticket.session_id, destination, this.timeouts.connectMs);
    }
    // direct: resolve once, check every address, connect to a checked address (never the name).
    const addresses = await resolveDestination(destination, this.allowlistOf(ticket), this.lookup);
    if (this.usesUpstream(addresses)) return { socket: await this.dialProxied(ctx, addresses, destination.port) };
    const reader = createFastReader();
    const socket = await dialAddresses(
      addresses.map((a) => a.address),
      destination.port,
      this.timeouts.connectMs,
      (address, port, timeoutMs) => {
        ctx.address = address;
        return dialTcp(address, port, timeoutMs, reader);
      },
    );
    return { socket, reader };
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
    this.addSocket(this.watchConnection(auth.ticket, null), socket);
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
      address: null,
      endReason: null,
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
      ...(ctx.address !== null ? { address: ctx.address } : {}),
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

  /**
   * Registers a request or tunnel of the ticket's session, closed when the ticket expires (by the
   * broker's clock) or the session is revoked. Released when its last socket closes.
   */
  private watchConnection(ticket: PublicTicket, ctx: RequestContext | null): LiveConnection {
    const live: LiveConnection = {
      sessionId: ticket.session_id,
      expiresAtMs: ticket.expires_at_unix * 1000,
      ctx,
      sockets: new Map(),
      timer: null,
    };
    let set = this.bySession.get(ticket.session_id);
    if (!set) {
      set = new Set();
      this.bySession.set(ticket.session_id, set);
    }
    set.add(live);
    const arm = (): void => {
      const left = live.expiresAtMs - this.clock.now();
      if (left <= 0) {
        live.timer = null;
        this.expireDue(live.sessionId);
        return;
      }
      // Re-check on firing: the broker's clock, not the timer, says when the ticket is over.
      live.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      live.timer.unref();
    };
    arm();
    return live;
  }

  private addSocket(live: LiveConnection, socket: net.Socket): void {
    if (live.sockets.has(socket) || !this.bySession.get(live.sessionId)?.has(live)) {
      if (live.ctx?.endReason) reset(socket);
      return;
    }
    const onClose = (): void => {
      live.sockets.delete(socket);
      if (live.sockets.size === 0) this.release(live);
    };
    live.sockets.set(socket, onClose);
    socket.once('close', onClose);
  }

  private release(live: LiveConnection): void {
    if (live.timer) clearTimeout(live.timer);
    live.timer = null;
    // Keep-alive client sockets outlive a request: take our listeners off them.
    for (const [socket, onClose] of live.sockets) socket.removeListener('close', onClose);
    live.sockets.clear();
    const set = this.bySession.get(live.sessionId);
    if (!set) return;
    set.delete(live);
    if (set.size === 0) this.bySession.delete(live.sessionId);
  }

  private endConnection(live: LiveConnection, reason: 'closed_expired' | 'closed_revoked'): void {
    // Marked as ended, so a socket added later (an upstream still connecting) is reset on arrival.
    if (live.ctx) live.ctx.endReason ??= reason;
    const sockets = [...live.sockets.keys()];
    this.release(live);
    for (const socket of sockets) reset(socket);
  }

  /**
   * Ends every connection of the session whose ticket is over. All are marked first: a tunnel
   * that its provider's end resets is then recorded as expired, not as an upstream failure.
   */
  private expireDue(sessionId: string): void {
    const now = this.clock.now();
    const due = [...(this.bySession.get(sessionId) ?? [])].filter((live) => live.expiresAtMs <= now);
    for (const live of due) if (live.ctx) live.ctx.endReason ??= 'closed_expired';
    for (const live of due) this.endConnection(live, 'closed_expired');
  }

  private dropSession(sessionId: string, reason: 'closed_expired' | 'closed_revoked'): void {
    this.hub.closeSession(sessionId);
    const set = this.bySession.get(sessionId);
    if (!set || set.size === 0) return;
    this.diagnostic(`session ${sessionId}: closing ${set.size} connection(s) (${reason})`);
    for (const live of [...set]) this.endConnection(live, reason);
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
