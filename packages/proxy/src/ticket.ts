/**
 * Proxy tickets: the short-lived egress credential of one run, minted from the run's net_cap.
 *
 * - `session_id` derives from the net_cap chain key and the run id, so it names the run's session
 *   without revealing the key.
 * - `mac` is HMAC-SHA256 under the broker key over the canonical ticket without `mac` and
 *   `secret`, so a broker checks a presented ticket without any shared database.
 * - `secret` is HMAC-SHA256 under the broker key over the mac: the broker recomputes it from the
 *   ticket instead of storing it, and every minted ticket has its own secret.
 *
 * The client presents `Proxy-Authorization: Basic base64(user:secret)` where `user` is either the
 * session id (for a ticket the broker was given) or the ticket token `v1.<base64url(ticket)>`
 * (self-contained: the broker verifies the MAC on the spot).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  SwarmError,
  canonicalBytes,
  decodeBase64UrlStrict,
  fsyncDir,
  keysDir,
  readBoundedFile,
  swarmHome,
  validateDocument,
  writeFileAtomic,
  type RouteMode,
} from '@swarm/core';
import { normalizeAllowlist } from './allowlist.js';
import './errors.js';

export const TICKET_SCHEMA_VERSION = 'swarm-ticket-v1';
export const BROKER_KEY_FILE = 'broker.key';
const TOKEN_PREFIX = 'v1.';
const CHAIN_KEY_RE = /^[0-9a-f]{64}$/;
/** Tickets and broker keys are well under a kilobyte; a bigger file (or /dev/zero) is refused unread. */
const MAX_TICKET_FILE_BYTES = 64 * 1024;

/** A ticket without its secret: what the broker checks and what may be shown. */
export interface PublicTicket {
  schema_version: typeof TICKET_SCHEMA_VERSION;
  session_id: string;
  run_id: string;
  allowlist: string[];
  route_mode: RouteMode;
  issued_at_unix: number;
  expires_at_unix: number;
  key_id: string;
  mac: string;
}

/** A ticket as minted, holding the secret the client authenticates with. */
export interface Ticket extends PublicTicket {
  secret: string;
}

export interface MintTicketInput {
  /** The run's net_cap chain key, 64 lowercase hex digits. */
  netCapChainKey: string;
  runId: string;
  allowlist: readonly string[];
  routeMode: RouteMode;
  issuedAtUnix: number;
  expiresAtUnix: number;
  brokerKey: Uint8Array;
}

export function mintTicket(input: MintTicketInput): Ticket {
  if (!CHAIN_KEY_RE.test(input.netCapChainKey)) {
    throw new SwarmError('CAPABILITY_MALFORMED', 'a net_cap chain key is 64 lowercase hex digits');
  }
  checkBrokerKey(input.brokerKey);
  if (input.runId.trim() === '') throw new SwarmError('INVALID_ARGUMENT', 'a ticket needs a run id');
  if (input.routeMode !== 'direct' && input.routeMode !== 'client_exit') {
    throw new SwarmError('INVALID_ARGUMENT', `unknown route mode ${JSON.stringify(input.routeMode)}`, {
      hint: 'use direct or client_exit',
    });
  }
  if (!Number.isInteger(input.issuedAtUnix) || !Number.isInteger(input.expiresAtUnix) || input.issuedAtUnix < 0) {
    throw new SwarmError('INVALID_ARGUMENT', 'ticket times are whole Unix seconds');
  }
  if (input.expiresAtUnix <= input.issuedAtUnix) {
    throw new SwarmError('TICKET_EXPIRED', 'a ticket must expire after it is issued', {
      details: { issued_at_unix: input.issuedAtUnix, expires_at_unix: input.expiresAtUnix },
    });
  }
  const unsigned = {
    schema_version: TICKET_SCHEMA_VERSION,
    session_id: deriveSessionId(input.netCapChainKey, input.runId),
    run_id: input.runId,
    allowlist: normalizeAllowlist(input.allowlist),
    route_mode: input.routeMode,
    issued_at_unix: input.issuedAtUnix,
    expires_at_unix: input.expiresAtUnix,
    key_id: brokerKeyId(input.brokerKey),
  } as const;
  const mac = ticketMac(unsigned, input.brokerKey);
  return { ...unsigned, allowlist: [...unsigned.allowlist], mac, secret: ticketSecret(mac, input.brokerKey) };
}

/** The session id of a run: HMAC(chain key, run id), 32 base64url characters. */
export function deriveSessionId(netCapChainKey: string, runId: string): string {
  return crypto
    .createHmac('sha256', Buffer.from(netCapChainKey, 'hex'))
    .update(`swarm-ticket-session-v1\0${runId}`)
    .digest('base64url')
    .slice(0, 32);
}

/** A short public name for a broker key, so a broker can tell a ticket minted for another one. */
export function brokerKeyId(brokerKey: Uint8Array): string {
  return `bk_${crypto.createHash('sha256').update('swarm-broker-key-id\0').update(brokerKey).digest('hex').slice(0, 16)}`;
}

export function ticketMac(ticket: Omit<PublicTicket, 'mac'> | PublicTicket, brokerKey: Uint8Array): string {
  const { mac: _mac, secret: _secret, ...body } = ticket as Ticket;
  return crypto
    .createHmac('sha256', brokerKey)
    .update('swarm-ticket-v1\n')
    .update(canonicalBytes(body))
    .digest('base64url');
}

export function ticketSecret(mac: string, brokerKey: Uint8Array): string {
  return crypto.createHmac('sha256', brokerKey).update(`swarm-ticket-secret-v1\0${mac}`).digest('base64url');
}

/** Checks shape, key id and MAC of an untrusted ticket; throws TICKET_INVALID. Expiry is checked separately. */
export function verifyTicket(document: unknown, brokerKey: Uint8Array): PublicTicket {
  const report = validateDocument('ticket', document);
  if (!report.valid) {
    throw new SwarmError('TICKET_INVALID', 'ticket does not match the ticket schema', { details: { errors: report.errors } });
  }
  const ticket = document as Partial<Ticket>;
  if (typeof ticket.key_id !== 'string') throw new SwarmError('TICKET_INVALID', 'ticket has no key_id');
  if (!constantTimeEqual(ticket.key_id, brokerKeyId(brokerKey))) {
    throw new SwarmError('TICKET_INVALID', 'ticket was minted for another broker key', {
      details: { key_id: ticket.key_id },
      hint: 'mint the ticket with the key file the broker uses (--key-file)',
    });
  }
  const { secret: _secret, ...rest } = ticket as Ticket;
  const publicTicket = rest as PublicTicket;
  if (!constantTimeEqual(publicTicket.mac, ticketMac(publicTicket, brokerKey))) {
    throw new SwarmError('TICKET_INVALID', 'ticket MAC does not match');
  }
  if (publicTicket.expires_at_unix <= publicTicket.issued_at_unix) {
    throw new SwarmError('TICKET_INVALID', 'ticket expires before it is issued');
  }
  try {
    if (normalizeAllowlist(publicTicket.allowlist).join('\n') !== publicTicket.allowlist.join('\n')) {
      throw new SwarmError('TICKET_INVALID', 'ticket allowlist is not in normal form');
    }
  } catch (error) {
    if (error instanceof SwarmError && error.code === 'TICKET_INVALID') throw error;
    throw new SwarmError('TICKET_INVALID', 'ticket allowlist holds an invalid entry', { cause: error });
  }
  return publicTicket;
}

/** Constant-time check of a presented secret against the one the broker recomputes. */
export function checkTicketSecret(ticket: PublicTicket, secret: string, brokerKey: Uint8Array): boolean {
  return constantTimeEqual(secret, ticketSecret(ticket.mac, brokerKey));
}

export function assertTicketLive(ticket: PublicTicket, nowUnix: number): void {
  if (nowUnix >= ticket.expires_at_unix) {
    throw new SwarmError('TICKET_EXPIRED', `ticket expired at ${ticket.expires_at_unix}`, {
      details: { session_id: ticket.session_id, expires_at_unix: ticket.expires_at_unix },
    });
  }
}

export function redactTicket(ticket: Ticket | PublicTicket): PublicTicket {
  const { secret: _secret, ...rest } = ticket as Ticket;
  return { ...rest, allowlist: [...rest.allowlist] };
}

/** The self-contained Basic user name for a ticket: `v1.` + base64url(canonical public ticket). */
export function encodeTicketToken(ticket: Ticket | PublicTicket): string {
  return `${TOKEN_PREFIX}${canonicalBytes(redactTicket(ticket)).toString('base64url')}`;
}

export function isTicketToken(user: string): boolean {
  return user.startsWith(TOKEN_PREFIX);
}

/** Decodes a ticket token's JSON (unverified); throws TICKET_INVALID. */
export function decodeTicketToken(token: string): unknown {
  if (!isTicketToken(token)) throw new SwarmError('TICKET_INVALID', 'not a ticket token');
  const bytes = decodeBase64UrlStrict(token.slice(TOKEN_PREFIX.length), 'TICKET_INVALID');
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SwarmError('TICKET_INVALID', 'ticket token does not hold JSON');
  }
}

/** `Basic base64(user:secret)` for a Proxy-Authorization header. */
export function basicCredentials(user: string, secret: string): string {
  return `Basic ${Buffer.from(`${user}:${secret}`, 'utf8').toString('base64')}`;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = crypto.createHash('sha256').update(a).digest();
  const right = crypto.createHash('sha256').update(b).digest();
  return crypto.timingSafeEqual(left, right) && a.length === b.length;
}

/** Reads a ticket file (with its secret), checking only its shape: the broker checks the MAC. */
export function readTicketFile(file: string): Ticket {
  // Errors of the bounded reader (FILE_NOT_FOUND, FILE_NOT_REGULAR, FILE_TOO_LARGE) are input errors as they are.
  const text = readBoundedFile(file, { what: 'ticket file', maxBytes: MAX_TICKET_FILE_BYTES }).toString('utf8');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new SwarmError('TICKET_INVALID', `ticket file ${file} is not JSON`, { details: { path: file }, cause });
  }
  const report = validateDocument('ticket', document);
  if (!report.valid) {
    throw new SwarmError('TICKET_INVALID', `ticket file ${file} is not a ticket`, { details: { path: file, errors: report.errors } });
  }
  const ticket = document as Partial<Ticket>;
  if (typeof ticket.secret !== 'string' || typeof ticket.key_id !== 'string') {
    throw new SwarmError('TICKET_INVALID', `ticket file ${file} has no secret (write it with --out)`, { details: { path: file } });
  }
  return ticket as Ticket;
}

/** Writes a ticket with its secret, readable by the owner only. */
export function writeTicketFile(file: string, ticket: Ticket): void {
  writeFileAtomic(file, `${JSON.stringify(ticket, null, 2)}\n`, { mode: 0o600 });
}

export function defaultBrokerKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(keysDir(swarmHome(env)), BROKER_KEY_FILE);
}

/** Reads a 32-byte broker key, refusing files other users can read. */
export function loadBrokerKey(file: string): Buffer {
  let key: Buffer;
  try {
    key = readBoundedFile(file, {
      what: 'broker key file',
      maxBytes: MAX_TICKET_FILE_BYTES,
      inspect: (stat) => {
        if ((stat.mode & 0o077) !== 0) {
          throw new SwarmError('BROKER_KEY_INVALID', `${file} is readable by others`, { details: { path: file }, hint: `chmod 600 ${file}` });
        }
      },
    });
  } catch (error) {
    if (error instanceof SwarmError && (error.code === 'FILE_NOT_REGULAR' || error.code === 'FILE_TOO_LARGE')) {
      throw new SwarmError('BROKER_KEY_INVALID', `${file} is not a broker key file: ${error.message}`, { details: { path: file, cause_code: error.code }, cause: error });
    }
    throw error;
  }
  if (key.length !== 32) throw new SwarmError('BROKER_KEY_INVALID', `${file} must hold exactly 32 bytes`, { details: { path: file } });
  return key;
}

/** The broker key at `file`, created (0600, exclusive create) on first use. */
export function loadOrCreateBrokerKey(file: string): Buffer {
  if (!fs.existsSync(file)) {
    const dir = path.dirname(file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, 'wx', 0o600);
      fs.writeFileSync(fd, crypto.randomBytes(32));
      fs.fsyncSync(fd);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SwarmError('IO_WRITE_FAILED', `cannot create broker key ${file}`, { details: { path: file }, cause });
      }
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    fsyncDir(dir);
  }
  return loadBrokerKey(file);
}

function checkBrokerKey(key: Uint8Array): void {
  if (key.length < 32) throw new SwarmError('BROKER_KEY_INVALID', 'a broker key is at least 32 bytes');
}
