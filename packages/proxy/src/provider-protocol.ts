/**
 * The client_exit wire protocol between a broker and a provider.
 *
 * The provider dials OUT to the broker's ordinary proxy address and upgrades an HTTP request:
 * - control: `GET /swarm/v1/provider` with `Upgrade: swarm-provider/1` and the ticket's
 *   Proxy-Authorization; after `101` both sides exchange JSON lines.
 * - data: for each tunnel the broker asks for (`open`), the provider connects upstream, then opens
 *   one more connection `GET /swarm/v1/tunnel/<id>` with `Upgrade: swarm-tunnel/1`; after `101`
 *   it carries that tunnel's raw bytes. One TCP connection per tunnel keeps flow control per tunnel.
 * A clean upstream end is announced on the control connection (`eof` with the byte count) before
 * the data connection is half-closed; a data connection that ends without a matching `eof` means
 * the provider died, and the broker resets the client instead of pretending the transfer finished.
 */
import type net from 'node:net';
import { StringDecoder } from 'node:string_decoder';

export const PROVIDER_PATH = '/swarm/v1/provider';
export const TUNNEL_PATH_PREFIX = '/swarm/v1/tunnel/';
export const PROVIDER_PROTOCOL = 'swarm-provider/1';
export const TUNNEL_PROTOCOL = 'swarm-tunnel/1';
export const TUNNEL_ID_RE = /^[0-9a-f]{32}$/;

/** Messages the broker sends. */
export type BrokerMessage =
  | { type: 'ready'; session_id: string; run_id: string }
  | { type: 'open'; id: string; host: string; port: number }
  | { type: 'cancel'; id: string };

/** Messages the provider sends. */
export type ProviderMessage =
  /** `address`: with `resolved_to_private`, the internal address the name resolved to (for the decision line). */
  | { type: 'fail'; id: string; status: 403 | 502 | 504; reason: string; address?: string }
  | { type: 'eof'; id: string; bytes: number };

const MAX_LINE = 4096;

export function sendLine(socket: net.Socket, message: BrokerMessage | ProviderMessage): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(message)}\n`);
}

/** Splits a socket's bytes into JSON lines; calls `onInvalid` (once) on an over-long or non-JSON line. */
export function readLines(
  socket: net.Socket,
  onMessage: (message: Record<string, unknown>) => void,
  onInvalid: () => void,
  initial: Buffer = Buffer.alloc(0),
): void {
  let buffer = '';
  let broken = false;
  // Decoded here rather than with setEncoding: the HTTP server forbids that on upgraded sockets.
  const decoder = new StringDecoder('utf8');
  const onData = (chunk: Buffer): void => {
    if (broken) return;
    buffer += decoder.write(chunk);
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = null;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        broken = true;
        onInvalid();
        return;
      }
      onMessage(parsed as Record<string, unknown>);
    }
    if (buffer.length > MAX_LINE) {
      broken = true;
      onInvalid();
    }
  };
  socket.on('data', onData);
  if (initial.length > 0) onData(initial);
  socket.resume();
}
