/**
 * `swarm proxy ticket`: mint a ticket from a net_cap token read from standard input or the
 * SWARM_NET_CAP variable (never from the command line, where other users could read it).
 */
import {
  SwarmError,
  assertCapabilityLive,
  decodeCapability,
  systemClock,
  unixSeconds,
  type Clock,
  type RouteMode,
} from '@swarm/core';
import { normalizeAllowlist } from './allowlist.js';
import {
  defaultBrokerKeyFile,
  encodeTicketToken,
  loadOrCreateBrokerKey,
  mintTicket,
  redactTicket,
  writeTicketFile,
  type PublicTicket,
  type Ticket,
} from './ticket.js';
import './errors.js';

export const DEFAULT_TICKET_TTL_S = 3_600;
export const MAX_TICKET_TTL_S = 7 * 24 * 3_600;
const MAX_TOKEN_BYTES = 64 * 1024;

export interface MintTicketCommandOptions {
  runId: string;
  allowHosts: string[];
  ttlSeconds?: number;
  routeMode?: string;
  /** The broker key file (default: $SWARM_HOME/keys/broker.key, created on first use). */
  keyFile?: string;
  /** Write the ticket with its secret to this file (0600). */
  out?: string;
  /** Put the secret in the result. */
  reveal?: boolean;
  env: NodeJS.ProcessEnv;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  clock?: Clock;
}

export interface MintTicketCommandResult {
  /** The ticket; `secret` only with reveal. */
  ticket: PublicTicket | Ticket;
  /** The Basic user name that carries the whole ticket, for brokers that were not given it. */
  proxy_user: string;
  secret_revealed: boolean;
  out: string | null;
  key_file: string;
}

export async function mintTicketFromNetCap(options: MintTicketCommandOptions): Promise<MintTicketCommandResult> {
  const clock = options.clock ?? systemClock;
  const ttl = options.ttlSeconds ?? DEFAULT_TICKET_TTL_S;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TICKET_TTL_S) {
    throw new SwarmError('INVALID_ARGUMENT', `--ttl must be a whole number of seconds from 1 to ${MAX_TICKET_TTL_S}`, { details: { ttl } });
  }
  const routeMode = (options.routeMode ?? 'direct') as RouteMode;
  if (routeMode !== 'direct' && routeMode !== 'client_exit') {
    throw new SwarmError('INVALID_ARGUMENT', `--route-mode must be direct or client_exit, got ${JSON.stringify(options.routeMode)}`);
  }
  if (options.runId.trim() === '') throw new SwarmError('INVALID_ARGUMENT', '--run-id must not be empty');
  // Check what the command line says before reading the token.
  const allowlist = normalizeAllowlist(options.allowHosts);
  const token = await readNetCap(options.env, options.stdin);
  const capability = decodeCapability(token, 'net_cap');
  const now = unixSeconds(clock);
  assertCapabilityLive(capability, now);
  const keyFile = options.keyFile ?? defaultBrokerKeyFile(options.env);
  const brokerKey = loadOrCreateBrokerKey(keyFile);
  const ticket = mintTicket({
    netCapChainKey: capability.chain_key,
    runId: options.runId,
    allowlist,
    routeMode,
    issuedAtUnix: now,
    expiresAtUnix: now + ttl,
    brokerKey,
  });
  if (options.out) writeTicketFile(options.out, ticket);
  return {
    ticket: options.reveal ? ticket : redactTicket(ticket),
    proxy_user: encodeTicketToken(ticket),
    secret_revealed: Boolean(options.reveal),
    out: options.out ?? null,
    key_file: keyFile,
  };
}

async function readNetCap(env: NodeJS.ProcessEnv, stdin: MintTicketCommandOptions['stdin']): Promise<string> {
  const fromEnv = env.SWARM_NET_CAP?.trim();
  if (fromEnv) return fromEnv;
  const missing = new SwarmError('NET_CAP_MISSING', 'no net_cap token: pipe it on standard input or set SWARM_NET_CAP', {
    hint: 'for example: swarm proxy ticket --run-id r1 --allow-host api.example.com:443 < net_cap.token',
  });
  if (stdin.isTTY) throw missing;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_TOKEN_BYTES) throw new SwarmError('CAPABILITY_MALFORMED', 'the net_cap token on standard input is too long');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') throw missing;
  return text;
}
