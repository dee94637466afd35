/**
 * Egress allowlists. An entry is an exact host (`api.example.com`), a suffix wildcard
 * (`*.example.com`, which matches names below the suffix but not the bare suffix itself), an IP
 * literal (`127.0.0.1`, `[::1]`) or a CIDR block (`10.0.0.0/8`, `[fd00::/8]`), each with an
 * optional `:port` (no port = any port). Names compare case-insensitively with a trailing dot
 * removed. A destination given as an IP address is allowed only by an IP or CIDR entry covering
 * it; wildcards never match addresses.
 */
import net from 'node:net';
import { SwarmError } from '@swarm/core';
import { inPrefix, isNetworkAddress, parseIp, type IpBytes } from './ip-address.js';
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
  kind: 'exact' | 'suffix' | 'ipv4' | 'ipv6' | 'cidr4' | 'cidr6';
  /** The name, the suffix (without `*.`), the address, or the network address of a CIDR block. */
  host: string;
  port: number | null;
  /** CIDR entries: the prefix length. */
  prefix?: number;
}

/** Shorter CIDR prefixes are refused: there is no allow-everything entry. */
export const MIN_CIDR_PREFIX = 8;

/** Why a host string could not be turned into a destination. */
export type HostProblem = 'malformed' | 'ip_noncanonical';

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Parses and normalises one allowlist entry; throws EGRESS_ALLOWLIST_INVALID. */
export function parseHostPattern(entry: string): HostPattern {
  const raw = entry.trim();
  const fail = (why: string): never => {
    throw new SwarmError('EGRESS_ALLOWLIST_INVALID', `invalid allowlist entry ${JSON.stringify(entry)}: ${why}`, {
      details: { entry },
      hint: 'use host, *.suffix, an IP literal or a CIDR block, each with an optional :port (e.g. api.example.com:443, 10.0.0.0/8, [fd00::/8]:443)',
    });
  };
  if (raw === '') fail('empty');
  const split = splitHostPort(raw, false);
  if (!split) return fail('bad host:port form');
  const port = split.port;
  if (split.host.includes('/')) return parseCidr(split.host, split.bracketed, port, fail);
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

function parseCidr(text: string, bracketed: boolean, port: number | null, fail: (why: string) => never): HostPattern {
  const slash = text.indexOf('/');
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = bracketed ? 6 : 4;
  const max = family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) return fail('bad CIDR prefix length');
  const prefix = Number(prefixText);
  if (prefix < MIN_CIDR_PREFIX) return fail(`a CIDR prefix must be at least /${MIN_CIDR_PREFIX}`);
  const host = family === 4 ? (net.isIPv4(addressText) ? addressText : null) : canonicalIpv6(addressText);
  if (!host) return fail(family === 4 ? 'CIDR blocks need a canonical dotted quad (IPv6 blocks go in brackets)' : 'not an IPv6 address');
  if (!isNetworkAddress(parseIp(host)!, prefix)) return fail('a CIDR block must be written with its network address (no bits below the prefix)');
  // A full-length block is one address: written as the plain literal, so both spellings compare equal.
  if (prefix === max) return family === 4 ? { text: `${host}${portSuffix(port)}`, kind: 'ipv4', host, port } : { text: `[${host}]${portSuffix(port)}`, kind: 'ipv6', host, port };
  const body = `${host}/${prefix}`;
  return { text: `${family === 6 ? `[${body}]` : body}${portSuffix(port)}`, kind: family === 4 ? 'cidr4' : 'cidr6', host, port, prefix };
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

  /**
   * True when an IP or CIDR entry covers this address and port: the operator named the address
   * itself, so it may be reached even when it is loopback or private.
   */
  coversAddress(address: string, port: number): boolean {
    const ip = parseIp(address);
    return ip !== null && this.patterns.some((p) => (p.port === null || p.port === port) && patternCovers(p, ip));
  }
}

function patternCovers(pattern: HostPattern, ip: IpBytes): boolean {
  switch (pattern.kind) {
    case 'ipv4':
    case 'ipv6':
    case 'cidr4':
    case 'cidr6': {
      const network = parseIp(pattern.host);
      const full = pattern.kind === 'ipv4' || pattern.kind === 'cidr4' ? 32 : 128;
      return network !== null && inPrefix(ip, network, pattern.prefix ?? full);
    }
    default:
      return false;
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
    case 'cidr4':
    case 'cidr6': {
      if (destination.kind === 'name') return false;
      const ip = parseIp(destination.host);
      return ip !== null && patternCovers(pattern, ip);
    }
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
