/**
 * The pooled HTTP agent for plain requests in direct mode. Each request carries its destination's
 * checked addresses (see resolve.ts); a new connection tries them in turn, as a tunnel does, and
 * never resolves a name. Sockets are pooled by that address list and port, so a socket is only
 * reused by a request whose own check produced every address it may be connected to.
 */
import http from 'node:http';
import type net from 'node:net';
import type stream from 'node:stream';
import { dialAddresses, dialTcp } from '../upstream.js';

export interface CheckedRequestOptions extends http.RequestOptions {
  /** The destination's checked addresses, in the order to try them. */
  checkedAddresses: readonly string[];
  /** Told each address as a new connection tries it (for the decision line). */
  onDial?: (address: string) => void;
}

export class CheckedAddressAgent extends http.Agent {
  constructor(
    private readonly connectMs: number,
    options: http.AgentOptions,
  ) {
    super(options);
  }

  override getName(options?: http.ClientRequestArgs): string {
    const checked = options as CheckedRequestOptions;
    return `${checked.checkedAddresses.join(',')}|${checked.port}`;
  }

  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: stream.Duplex) => void,
  ): stream.Duplex | null | undefined {
    const { checkedAddresses, port, onDial } = options as CheckedRequestOptions;
    // The agent takes the socket through the callback when none is returned here.
    dialAddresses(checkedAddresses, Number(port), this.connectMs, (address, p, timeoutMs) => {
      onDial?.(address);
      return dialTcp(address, p, timeoutMs);
    }).then(
      (socket: net.Socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as unknown as stream.Duplex),
    );
    return undefined;
  }
}
