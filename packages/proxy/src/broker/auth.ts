/**
 * Who is asking: turns a Proxy-Authorization header into a checked ticket, or into the status and
 * reason the broker answers with (407 for credentials, 403 for a revoked or expired ticket).
 */
import { unixSeconds, type Clock } from '@swarm/core';
import {
  checkTicketSecret,
  decodeTicketToken,
  isTicketToken,
  verifyTicket,
  type PublicTicket,
} from '../ticket.js';
import type { RevocationList } from '../revocation.js';

export type AuthResult =
  | { ok: true; ticket: PublicTicket }
  | { ok: false; status: 407 | 403; reason: string; ticket: PublicTicket | null };

const SESSION_RE = /^[A-Za-z0-9_-]{8,128}$/;
const TOKEN_CACHE_LIMIT = 1024;
/** Longest Authorization value worth decoding; the header limit bounds it anyway. */
const MAX_CREDENTIALS = 8192;

export class TicketBook {
  private readonly admitted = new Map<string, PublicTicket>();
  private readonly tokens = new Map<string, PublicTicket>();

  constructor(
    private readonly brokerKey: Uint8Array,
    private readonly clock: Clock,
    private readonly revocations: RevocationList,
  ) {}

  /** Verifies a ticket's MAC and remembers it, so clients may authenticate with its session id. */
  admit(ticket: unknown): PublicTicket {
    const verified = verifyTicket(ticket, this.brokerKey);
    this.admitted.set(verified.session_id, verified);
    return verified;
  }

  authenticate(header: string | undefined): AuthResult {
    const credentials = parseBasic(header);
    if (!credentials) return { ok: false, status: 407, reason: header ? 'malformed_credentials' : 'missing_credentials', ticket: null };
    const ticket = this.lookup(credentials.user);
    if (!ticket) return { ok: false, status: 407, reason: isTicketToken(credentials.user) ? 'invalid_ticket' : 'unknown_session', ticket: null };
    if (!checkTicketSecret(ticket, credentials.secret, this.brokerKey)) {
      return { ok: false, status: 407, reason: 'bad_credentials', ticket };
    }
    if (this.revocations.has(ticket.session_id)) return { ok: false, status: 403, reason: 'revoked', ticket };
    if (unixSeconds(this.clock) >= ticket.expires_at_unix) return { ok: false, status: 403, reason: 'expired', ticket };
    return { ok: true, ticket };
  }

  private lookup(user: string): PublicTicket | null {
    if (!isTicketToken(user)) return SESSION_RE.test(user) ? (this.admitted.get(user) ?? null) : null;
    const cached = this.tokens.get(user);
    if (cached) return cached;
    let ticket: PublicTicket;
    try {
      ticket = verifyTicket(decodeTicketToken(user), this.brokerKey);
    } catch {
      return null;
    }
    if (this.tokens.size >= TOKEN_CACHE_LIMIT) this.tokens.clear();
    this.tokens.set(user, ticket);
    return ticket;
  }
}

export function parseBasic(header: string | undefined): { user: string; secret: string } | null {
  if (!header || header.length > MAX_CREDENTIALS) return null;
  const match = /^basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}
