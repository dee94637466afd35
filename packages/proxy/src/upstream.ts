/**
 * Connecting to a destination, shared by the broker (direct mode) and the provider (client_exit):
 * a TCP connection to a checked address with a connect timeout, and failures turned into the
 * status the client gets (502 for refused or unreachable, 504 for a timeout).
 */
import net from 'node:net';
import type { FastReader } from './fast-read.js';

export class UpstreamError extends Error {
  constructor(
    readonly status: 403 | 502 | 504,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
    this.name = 'UpstreamError';
  }
}

/**
 * Opens a TCP connection (half-open allowed, Nagle off); rejects with an UpstreamError. With a
 * reader, incoming bytes go to the reader's sink instead of 'data' events.
 */
export function dialTcp(host: string, port: number, timeoutMs: number, reader?: FastReader): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true, ...(reader ? { onread: reader.onread } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError(504, 'upstream_timeout'));
    }, timeoutMs);
    const onError = (error: Error): void => {
      clearTimeout(timer);
      reject(upstreamErrorFor(error));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

/**
 * Connects to the first of `addresses` that answers, all within one connect timeout. Each address
 * must already have been checked (see resolve.ts): no name is resolved here.
 */
export async function dialAddresses(
  addresses: readonly string[],
  port: number,
  timeoutMs: number,
  dial: (address: string, port: number, timeoutMs: number) => Promise<net.Socket>,
): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  let last: UpstreamError = new UpstreamError(502, 'upstream_dns');
  for (const address of addresses) {
    const left = deadline - Date.now();
    if (left <= 0) throw new UpstreamError(504, 'upstream_timeout');
    try {
      return await dial(address, port, left);
    } catch (error) {
      last = upstreamErrorFor(error);
    }
  }
  throw last;
}

export function upstreamErrorFor(error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return new UpstreamError(502, 'upstream_refused', { cause: error });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'EAI_NODATA':
      return new UpstreamError(502, 'upstream_dns', { cause: error });
    case 'ETIMEDOUT':
      return new UpstreamError(504, 'upstream_timeout', { cause: error });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new UpstreamError(502, 'upstream_unreachable', { cause: error });
    case 'ECONNRESET':
    case 'EPIPE':
      return new UpstreamError(502, 'upstream_reset', { cause: error });
    default:
      return new UpstreamError(502, 'upstream_error', { cause: error });
  }
}
