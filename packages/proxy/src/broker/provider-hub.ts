/**
 * The broker's side of client_exit: the providers registered per session, and the tunnels they
 * are asked to open. See provider-protocol.ts for the wire format.
 */
import crypto from 'node:crypto';
import type net from 'node:net';
import type { Destination } from '../allowlist.js';
import type { FastReader } from '../fast-read.js';
import { classifyAddress, parseIp } from '../ip-address.js';
import { readLines, sendLine } from '../provider-protocol.js';
import { AddressRefused } from '../resolve.js';
import { reset } from '../splice.js';
import type { PublicTicket } from '../ticket.js';
import { UpstreamError } from '../upstream.js';

/** A connection towards the destination, and how to tell a finished far side from a dead one. */
export interface UpstreamConnection {
  socket: net.Socket;
  farEndIsClean?: () => Promise<boolean>;
  /** Set when the socket was opened with a fast reader (see fast-read.ts). */
  reader?: FastReader;
}

/** How long a data connection's end may wait for the provider's `eof` announcement. */
const EOF_GRACE_MS = 5_000;
const REASON_RE = /^[a-z_]{1,40}$/;

interface Link {
  sessionId: string;
  runId: string;
  socket: net.Socket;
  closed: boolean;
  pending: Map<string, PendingTunnel>;
  active: Map<string, ActiveTunnel>;
}

export interface PendingTunnel {
  id: string;
  link: Link;
  resolve(connection: UpstreamConnection): void;
  reject(error: UpstreamError): void;
  timer: NodeJS.Timeout;
}

interface ActiveTunnel {
  socket: net.Socket;
  closed: boolean;
  received: number;
  eofBytes: number | null;
  waiters: Array<(clean: boolean) => void>;
}

export class ProviderHub {
  private readonly links = new Map<string, Link[]>();
  private readonly pending = new Map<string, PendingTunnel>();

  constructor(private readonly diagnostic: (line: string) => void) {}

  /** Takes over an upgraded control connection for the ticket's session. */
  register(ticket: PublicTicket, socket: net.Socket, head: Buffer): void {
    const link: Link = {
      sessionId: ticket.session_id,
      runId: ticket.run_id,
      socket,
      closed: false,
      pending: new Map(),
      active: new Map(),
    };
    socket.setKeepAlive(true, 10_000);
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    // A provider that ends its side is gone (the socket is half-open capable, so say it).
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.drop(link));
    readLines(
      socket,
      (message) => this.onMessage(link, message),
      () => socket.destroy(),
      head,
    );
    const list = this.links.get(link.sessionId) ?? [];
    list.push(link);
    this.links.set(link.sessionId, list);
    sendLine(socket, { type: 'ready', session_id: link.sessionId, run_id: link.runId });
    this.diagnostic(`provider registered for session ${link.sessionId} (run ${link.runId})`);
  }

  providers(sessionId: string): number {
    return this.links.get(sessionId)?.length ?? 0;
  }

  get totalProviders(): number {
    let total = 0;
    for (const list of this.links.values()) total += list.length;
    return total;
  }

  /** Asks the session's newest provider to open a tunnel; resolves with its data connection. */
  openTunnel(sessionId: string, destination: Destination, timeoutMs: number): Promise<UpstreamConnection> {
    const list = this.links.get(sessionId);
    const link = list?.[list.length - 1];
    if (!link) return Promise.reject(new UpstreamError(502, 'no_provider'));
    const id = crypto.randomBytes(16).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(id)) return;
        link.pending.delete(id);
        sendLine(link.socket, { type: 'cancel', id });
        reject(new UpstreamError(504, 'upstream_timeout'));
      }, timeoutMs);
      const tunnel: PendingTunnel = { id, link, resolve, reject, timer };
      this.pending.set(id, tunnel);
      link.pending.set(id, tunnel);
      sendLine(link.socket, { type: 'open', id, host: destination.host, port: destination.port });
    });
  }

  /** The pending tunnel a data connection claims, if it exists and belongs to this session. */
  claim(sessionId: string, id: string): PendingTunnel | null {
    const tunnel = this.pending.get(id);
    if (!tunnel || tunnel.link.sessionId !== sessionId || tunnel.link.closed) return null;
    this.pending.delete(id);
    tunnel.link.pending.delete(id);
    clearTimeout(tunnel.timer);
    return tunnel;
  }

  /** Hands a claimed tunnel its data connection (already switched to raw bytes). */
  activate(tunnel: PendingTunnel, socket: net.Socket): void {
    const { link, id } = tunnel;
    const active: ActiveTunnel = { socket, closed: false, received: 0, eofBytes: null, waiters: [] };
    link.active.set(id, active);
    socket.on('data', (chunk: Buffer) => {
      active.received += chunk.length;
    });
    socket.pause();
    socket.on('close', () => {
      active.closed = true;
      // A clean end may still be waiting for its `eof` line on the control connection.
      if (active.waiters.length === 0) link.active.delete(id);
    });
    tunnel.resolve({ socket, farEndIsClean: () => this.waitForEof(link, id, active) });
  }

  /** Closes every provider of a session (revocation). */
  closeSession(sessionId: string): void {
    for (const link of [...(this.links.get(sessionId) ?? [])]) link.socket.destroy();
  }

  closeAll(): void {
    for (const list of [...this.links.values()]) for (const link of [...list]) link.socket.destroy();
  }

  private waitForEof(link: Link, id: string, tunnel: ActiveTunnel): Promise<boolean> {
    if (tunnel.eofBytes !== null) return Promise.resolve(tunnel.eofBytes === tunnel.received);
    if (link.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (clean: boolean): void => {
        clearTimeout(timer);
        if (tunnel.closed) link.active.delete(id);
        resolve(clean);
      };
      const timer = setTimeout(() => {
        tunnel.waiters = tunnel.waiters.filter((w) => w !== settle);
        settle(false);
      }, EOF_GRACE_MS);
      timer.unref();
      tunnel.waiters.push(settle);
    });
  }

  private onMessage(link: Link, message: Record<string, unknown>): void {
    const id = typeof message.id === 'string' ? message.id : '';
    if (message.type === 'fail') {
      const tunnel = link.pending.get(id);
      if (!tunnel) return;
      this.pending.delete(id);
      link.pending.delete(id);
      clearTimeout(tunnel.timer);
      const status = message.status === 403 || message.status === 504 ? message.status : 502;
      const reason = typeof message.reason === 'string' && REASON_RE.test(message.reason) ? message.reason : 'provider_error';
      tunnel.reject(status === 403 && reason === 'resolved_to_private' ? refusedAddress(message.address) : new UpstreamError(status, reason));
    } else if (message.type === 'eof') {
      const tunnel = link.active.get(id);
      if (!tunnel || typeof message.bytes !== 'number') return;
      tunnel.eofBytes = message.bytes;
      for (const waiter of tunnel.waiters.splice(0)) waiter(message.bytes === tunnel.received);
    }
  }

  private drop(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    const list = (this.links.get(link.sessionId) ?? []).filter((l) => l !== link);
    if (list.length > 0) this.links.set(link.sessionId, list);
    else this.links.delete(link.sessionId);
    for (const tunnel of link.pending.values()) {
      this.pending.delete(tunnel.id);
      clearTimeout(tunnel.timer);
      tunnel.reject(new UpstreamError(502, 'provider_lost'));
    }
    link.pending.clear();
    // The provider is gone: its tunnels end as errors, never as clean, truncated successes.
    for (const tunnel of link.active.values()) {
      for (const waiter of tunnel.waiters.splice(0)) waiter(false);
      reset(tunnel.socket);
    }
    this.diagnostic(`provider for session ${link.sessionId} disconnected`);
  }
}

/** The provider's internal-address refusal, with its address when it sent a well-formed one. */
function refusedAddress(address: unknown): UpstreamError {
  if (typeof address !== 'string' || address.length > 64 || parseIp(address) === null) return new UpstreamError(403, 'resolved_to_private');
  return new AddressRefused(address, classifyAddress(address));
}
