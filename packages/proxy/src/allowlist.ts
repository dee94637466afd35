/**
 * Egress allowlists. An entry is an exact host (`api.example.com`), a suffix wildcard
 * (`*.example.com`, which matches names below the suffix but not the bare suffix itself), or an IP
 * literal (`127.0.0.1`, `[::1]`), each with an optional `:port` (no port = any port). Names compare
 * case-insensitively with a trailing dot removed. A destination given as an IP address is allowed
 * only by that same address listed literally; wildcards never match addresses.
 */
import net from 'node:net';
import { SwarmError } from '@swarm/core';
import './errors.js';

export type DestinationKind = 'name' | 'ipv4' | 'ipv6';

/** A destination the broker was asked to reach, in normal form. */
export interface Destination {
  kind: DestinationKind;
  /** Lowercase name without trailing dot, dotted-quad IPv4, or compressed IPv6 without brackets. */
  host: string;
  port: number;
}

export interface HostPattern {
  /** The entry in normal form (what tickets and logs carry). */
  text: string;
  kind: 'exact' | 'suffix' | 'ipv4' | 'ipv6';
  /** The name, the suffix (without `*.`), or the address. */
  host: string;
  port: number | null;
}

/** Why a host string could not be turned into a destination. */
export type HostProblem = 'malformed' | 'ip_noncanonical';

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Parses and normalises one allowlist entry; throws EGRESS_ALLOWLIST_INVALID. */
export function parseHostPattern(entry: string): HostPattern {
  const raw = entry.trim();
  const fail = (why: string): never => {
    throw new SwarmError('EGRESS_ALLOWLIST_INVALID', `invalid allowlist entry ${JSON.stringify(entry)}: ${why}`, {
      details: { entry },
      hint: 'use host, *.suffix or an IP literal, each with an optional :port (e.g. api.example.com:443)',
    });
  };
  if (raw === '') fail('empty');
  const split = splitHostPort(raw, false);
  if (!split) return fail('bad host:port form');
  const port = split.port;
  if (split.host.startsWith('*.')) {
    const suffix = normalizeName(split.host.slice(2));
    if (!suffix || classifyNumeric(suffix) !== 'name') return fail('a wildcard needs a domain suffix');
    return { text: `*.${suffix}${portSuffix(port)}`, kind: 'suffix', host: suffix, port };
  }
  if (split.bracketed) {
    const v6 = canonicalIpv6(split.host);
    if (!v6) return fail('not an IPv6 address');
    return { text: `[${v6}]${portSuffix(port)}`, kind: 'ipv6', host: v6, port };
  }
  const name = normalizeName(split.host);
  if (!name) return fail('not a host name');
  const numeric = classifyNumeric(name);
  if (numeric === 'ipv4') return { text: `${name}${portSuffix(port)}`, kind: 'ipv4', host: name, port };
  if (numeric === 'noncanonical') return fail('IP addresses must be written as canonical dotted quads');
  return { text: `${name}${portSuffix(port)}`, kind: 'exact', host: name, port };
}

/** Parses, normalises, de-duplicates and sorts a list of entries. */
export function normalizeAllowlist(entries: readonly string[]): string[] {
  return [...new Set(entries.map((e) => parseHostPattern(e).text))].sort();
}

export class Allowlist {
  readonly patterns: readonly HostPattern[];

  constructor(entries: readonly string[]) {
    this.patterns = entries.map(parseHostPattern);
  }

  get entries(): string[] {
    return this.patterns.map((p) => p.text);
  }

  allows(destination: Destination): boolean {
    return this.patterns.some((p) => patternMatches(p, destination));
  }
}

export function patternMatches(pattern: HostPattern, destination: Destination): boolean {
  if (pattern.port !== null && pattern.port !== destination.port) return false;
  switch (pattern.kind) {
    case 'exact':
      return destination.kind === 'name' && destination.host === pattern.host;
    case 'suffix':
      return destination.kind === 'name' && destination.host.endsWith(`.${pattern.host}`);
    case 'ipv4':
    case 'ipv6':
      return destination.kind === pattern.kind && destination.host === pattern.host;
  }
}

/**
 * Turns the host and port of a request target into a destination. Numeric host forms other than a
 * canonical dotted quad (`127.1`, `0x7f.0.0.1`, `2130706433`) are refused rather than resolved,
 * so an address can never slip past the allowlist as a "name".
 */
export function parseDestination(host: string, port: number): Destination | HostProblem {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return 'malformed';
  if (host.startsWith('[') && host.endsWith(']')) {
    const v6 = canonicalIpv6(host.slice(1, -1));
    return v6 ? { kind: 'ipv6', host: v6, port } : 'malformed';
  }
  const name = normalizeName(host);
  if (!name) return 'malformed';
  const numeric = classifyNumeric(name);
  if (numeric === 'ipv4') return { kind: 'ipv4', host: name, port };
  if (numeric === 'noncanonical') return 'ip_noncanonical';
  return { kind: 'name', host: name, port };
}

/**
 * Parses `host:port` authority form. CONNECT targets must name the port; for absolute-form HTTP
 * URLs pass the scheme's default port.
 */
export function parseAuthority(authority: string, defaultPort?: number): Destination | HostProblem {
  const split = splitHostPort(authority, defaultPort === undefined);
  if (!split) return 'malformed';
  const port = split.port ?? defaultPort;
  if (port === undefined) return 'malformed';
  return parseDestination(split.bracketed ? `[${split.host}]` : split.host, port);
}

/** How a destination is written in logs and summaries: `host:port`, IPv6 in brackets. */
export function formatDestination(destination: Destination): string {
  return destination.kind === 'ipv6' ? `[${destination.host}]:${destination.port}` : `${destination.host}:${destination.port}`;
}

function portSuffix(port: number | null): string {
  return port === null ? '' : `:${port}`;
}

interface SplitHostPort {
  host: string;
  port: number | null;
  bracketed: boolean;
}

function splitHostPort(text: string, requirePort: boolean): SplitHostPort | null {
  let host: string;
  let portText: string | undefined;
  let bracketed = false;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return null;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return null;
    portText = rest === '' ? undefined : rest.slice(1);
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(':')) return null;
    } else {
      host = text;
    }
  }
  if (host === '') return null;
  if (portText === undefined) return requirePort ? null : { host, port: null, bracketed };
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host, port, bracketed };
}

/** Lowercase ASCII DNS name without trailing dot, or null when it is not one. */
function normalizeName(text: string): string | null {
  let name = text.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name === '' || name.length > 253) return null;
  for (const label of name.split('.')) {
    if (!LABEL_RE.test(label)) return null;
  }
  return name;
}

/**
 * A name whose last label is numeric (or hex) is what resolvers read as an IPv4 address in one of
 * its many spellings; only the canonical dotted quad is accepted as an address.
 */
function classifyNumeric(name: string): 'name' | 'ipv4' | 'noncanonical' {
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (!/^(0x[0-9a-f]*|[0-9]+)$/.test(last)) return 'name';
  return net.isIPv4(name) ? 'ipv4' : 'noncanonical';
}

function canonicalIpv6(text: string): string | null {
  if (!net.isIPv6(text) || text.includes('%')) return null;
  try {
    const host = new URL(`http://[${text}]/`).hostname;
    return host.slice(1, -1);
  } catch {
    return null;
  }
}
