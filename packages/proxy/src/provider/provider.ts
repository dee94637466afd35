/**
 * The client_exit provider: connects OUT to a broker, registers for the session of the ticket it
 * holds, and opens the tunnels the broker asks for from this machine, one outbound data
 * connection per tunnel. It applies the ticket's allowlist itself too, so a broker cannot make it
 * reach anything the ticket does not allow, and the broker's internal-address rule (resolve.ts):
 * a name is resolved once, internal answers are refused unless an IP or CIDR entry covers them,
 * and only a checked address is connected to.
 */
import net from 'node:net';
import { SwarmError, systemClock, unixSeconds, type Clock } from '@swarm/core';
import { Allowlist, parseDestination } from '../allowlist.js';
import {
  PROVIDER_PATH,
  PROVIDER_PROTOCOL,
  TUNNEL_ID_RE,
  TUNNEL_PATH_PREFIX,
  TUNNEL_PROTOCOL,
  readLines,
  sendLine,
  type ProviderMessage,
} from '../provider-protocol.js';
import { createFastReader } from '../fast-read.js';
import { AddressRefused, resolveDestination, systemLookup, type HostLookup } from '../resolve.js';
import { reset, splice } from '../splice.js';
import { basicCredentials, encodeTicketToken, type Ticket } from '../ticket.js';
import { dialAddresses, dialTcp, upstreamErrorFor } from '../upstream.js';
import '../errors.js';
import { responseHeadReader } from '../http-head.js';

export type BrokerTarget = { host: string; port: number } | { path: string };

export interface ProviderOptions {
  broker: BrokerTarget;
  /** The session's ticket, with its secret (route mode client_exit). */
  ticket: Ticket;
  /** Connect timeout towards destinations and the broker. */
  connectTimeoutMs?: number;
  /** Tunnel inactivity before it is closed. */
  idleMs?: number;
  clock?: Clock;
  /** Resolves allowlisted names (default: the system resolver). */
  lookup?: HostLookup;
  onDiagnostic?: (line: string) => void;
}

export interface ProviderStats {
  /** Tunnels open now. */
  tunnels: number;
  opened: number;
  failed: number;
}


export class Provider {
  readonly sessionId: string;
  readonly runId: string;
  /** Settles when the control connection ends: null after close(), else why it was lost. */
  readonly closed: Promise<SwarmError | null>;
  private readonly authorization: string;
  private readonly allowlist: Allowlist;
  private readonly cancelled = new Set<string>();
  private readonly sockets = new Set<net.Socket>();
  private readonly counts: ProviderStats = { tunnels: 0, opened: 0, failed: 0 };
  private closing = false;

  private constructor(
    private readonly options: ProviderOptions,
    private readonly control: net.Socket,
    authorization: string,
  ) {
    this.sessionId = options.ticket.session_id;
    this.runId = options.ticket.run_id;
    this.authorization = authorization;
    this.allowlist = new Allowlist(options.ticket.allowlist);
    this.closed = new Promise((resolve) => {
      control.on('close', () => {
        for (const socket of [...this.sockets]) reset(socket);
        resolve(
          this.closing
            ? null
            : new SwarmError('PROVIDER_DISCONNECTED', 'the broker closed the provider connection', {
                details: { session_id: this.sessionId },
              }),
        );
      });
    });
  }

  /** Connects and registers; resolves once the broker has accepted the provider. */
  static async connect(options: ProviderOptions): Promise<Provider> {
    if (options.ticket.route_mode !== 'client_exit') {
      throw new SwarmError('PROVIDER_REJECTED', 'a provider needs a ticket minted with route mode client_exit', {
        details: { route_mode: options.ticket.route_mode },
      });
    }
    const authorization = basicCredentials(encodeTicketToken(options.ticket), options.ticket.secret);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    const { socket, head } = await upgradeConnection(options.broker, PROVIDER_PATH, PROVIDER_PROTOCOL, authorization, timeoutMs);
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.destroy());
    socket.setKeepAlive(true, 10_000);
    socket.setNoDelay(true);
    const provider = new Provider(options, socket, authorization);
    await provider.handshake(head, timeoutMs);
    return provider;
  }

  stats(): ProviderStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.control.destroy();
    await this.closed;
  }

  private handshake(head: Buffer, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        this.control.destroy();
        reject(new SwarmError('PROVIDER_CONNECT_FAILED', 'the broker did not confirm the provider registration'));
      }, timeoutMs);
      readLines(
        this.control,
        (message) => {
          if (message.type === 'ready' && !ready) {
            ready = true;
            clearTimeout(timer);
            this.diagnostic(`provider registered for session ${this.sessionId} (run ${this.runId})`);
            resolve();
          } else if (message.type === 'open') {
            void this.openTunnel(message);
          } else if (message.type === 'cancel' && typeof message.id === 'string') {
            this.cancelled.add(message.id);
          }
        },
        () => this.control.destroy(),
        head,
      );
      this.control.once('close', () => {
        clearTimeout(timer);
        if (!ready) reject(new SwarmError('PROVIDER_CONNECT_FAILED', 'the broker closed the connection during registration'));
      });
    });
  }

  private async openTunnel(message: Record<string, unknown>): Promise<void> {
    const id = typeof message.id === 'string' && TUNNEL_ID_RE.test(message.id) ? message.id : null;
    if (!id) return;
    const fail = (status: 403 | 502 | 504, reason: string, address?: string): void => {
      this.counts.failed += 1;
      this.send({ type: 'fail', id, status, reason, ...(address !== undefined ? { address } : {}) });
    };
    const destination =
      typeof message.host === 'string' && typeof message.port === 'number' ? parseDestination(message.host, message.port) : 'malformed';
    if (typeof destination === 'string') return fail(502, 'provider_bad_request');
    if (!this.allowlist.allows(destination)) return fail(403, 'provider_denied');
    if (unixSeconds(this.options.clock ?? systemClock) >= this.options.ticket.expires_at_unix) return fail(403, 'expired');
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    let upstream: net.Socket;
    const reader = createFastReader();
    try {
      // This machine is the exit, so its loopback and LAN are what a step must not reach by name.
      const addresses = await resolveDestination(destination, this.allowlist, this.options.lookup ?? systemLookup);
      upstream = await dialAddresses(
        addresses.map((a) => a.address),
        destination.port,
        timeoutMs,
        (address, port, left) => dialTcp(address, port, left, reader),
      );
    } catch (error) {
      if (error instanceof AddressRefused) return fail(error.status, error.reason, error.address);
      const failure = upstreamErrorFor(error);
      return fail(failure.status, failure.reason);
    }
    this.hold(upstream);
    if (this.cancelled.delete(id) || this.control.destroyed) {
      upstream.destroy();
      return;
    }
    let data: net.Socket;
    let head: Buffer;
    try {
      ({ socket: data, head } = await upgradeConnection(
        this.options.broker,
        `${TUNNEL_PATH_PREFIX}${id}`,
        TUNNEL_PROTOCOL,
        this.authorization,
        timeoutMs,
      ));
    } catch {
      upstream.destroy();
      return fail(502, 'provider_error');
    }
    this.hold(data);
    if (head.length > 0) data.unshift(head);
    data.setNoDelay(true);
    this.counts.opened += 1;
    this.counts.tunnels += 1;
    await splice(data, upstream, {
      idleMs: this.options.idleMs ?? 600_000,
      farReader: reader,
      // Announce the clean end (with the byte count) before half-closing the data connection.
      farEndIsClean: () => {
        this.send({ type: 'eof', id, bytes: upstream.bytesRead });
        return Promise.resolve(true);
      },
    });
    this.counts.tunnels -= 1;
  }

  private send(message: ProviderMessage): void {
    sendLine(this.control, message);
  }

  private hold(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => this.sockets.delete(socket));
  }

  private diagnostic(line: string): void {
    this.options.onDiagnostic?.(line);
  }
}

export function connectProvider(options: ProviderOptions): Promise<Provider> {
  return Provider.connect(options);
}

/** Parses `host:port`, `[v6]:port` or a Unix socket path (anything with a `/`). */
export function parseBrokerTarget(text: string): BrokerTarget {
  const value = text.trim();
  if (value.includes('/')) return { path: value };
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new SwarmError('INVALID_ARGUMENT', `broker address must be host:port or a Unix socket path, got ${JSON.stringify(text)}`);
  }
  return { host: match[1] ?? match[2]!, port };
}

/**
 * Opens a connection to the broker and switches it to `protocol` with an HTTP/1.1 upgrade.
 * Resolves with the raw socket and any bytes that followed the 101 head.
 */
function upgradeConnection(
  target: BrokerTarget,
  path: string,
  protocol: string,
  authorization: string,
  timeoutMs: number,
): Promise<{ socket: net.Socket; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in target
        ? net.connect({ path: target.path, allowHalfOpen: true })
        : net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    const readHead = responseHeadReader();
    let settled = false;
    const finish = (error: SwarmError | null, result?: { socket: net.Socket; head: Buffer }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        resolve(result!);
      }
    };
    const timer = setTimeout(
      () => finish(new SwarmError('PROVIDER_CONNECT_FAILED', `the broker did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      const answer = readHead(chunk);
      if (answer === null) return;
      if (answer.kind === 'too_long') return finish(new SwarmError('PROVIDER_CONNECT_FAILED', 'the broker sent an over-long answer'));
      const status = answer.kind === 'head' ? answer.status : 0;
      const reason = answer.kind === 'head' ? (/\r\nx-swarm-reason:[ \t]*([a-z_]+)/i.exec(answer.text)?.[1] ?? null) : null;
      if (answer.kind === 'head' && status === 101) {
        socket.pause();
        finish(null, { socket, head: answer.rest });
      } else if (status === 407 || status === 403) {
        finish(
          new SwarmError('PROVIDER_REJECTED', `the broker refused the provider (${status}${reason ? ` ${reason}` : ''})`, {
            details: { status, reason },
          }),
        );
      } else {
        finish(new SwarmError('PROVIDER_CONNECT_FAILED', `the broker answered ${status || 'something unexpected'}`, { details: { status, reason } }));
      }
    };
    socket.on('data', onData);
    socket.once('error', (cause: NodeJS.ErrnoException) =>
      finish(
        new SwarmError('PROVIDER_CONNECT_FAILED', `cannot reach the broker (${cause.code ?? cause.message})`, {
          details: { errno: cause.code ?? null },
          cause,
        }),
      ),
    );
    socket.once('close', () => finish(new SwarmError('PROVIDER_CONNECT_FAILED', 'the broker closed the connection')));
    socket.once('connect', () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: swarm-broker\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nProxy-Authorization: ${authorization}\r\n\r\n`,
      );
    });
  });
}
