/**
 * IP addresses as bytes: parsing, CIDR containment, and which special-use range an address is in
 * (loopback, private, link-local, ...). The broker uses the class to refuse names that resolve to
 * addresses inside the operator's own machine or network.
 */
import net from 'node:net';

export type IpFamily = 4 | 6;

export interface IpBytes {
  family: IpFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

/** `public`, or the special-use range an address belongs to. */
export type AddressClass = 'public' | 'loopback' | 'private' | 'link_local' | 'multicast' | 'unspecified' | 'reserved';

/** Parses a dotted quad or an IPv6 address (a `%zone` suffix is dropped); null when it is neither. */
export function parseIp(text: string): IpBytes | null {
  const zone = text.indexOf('%');
  const address = zone >= 0 ? text.slice(0, zone) : text;
  if (net.isIPv4(address)) return { family: 4, bytes: Uint8Array.from(address.split('.').map(Number)) };
  if (!net.isIPv6(address)) return null;
  return { family: 6, bytes: parseIpv6(address) };
}

function parseIpv6(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let body = text;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.slice(lastColon + 1).includes('.')) {
    // An embedded dotted quad fills the last 32 bits.
    tail = body
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = body.includes('::') ? body.split('::') : [body, undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (tail.length === 4) bytes.set(tail, 12);
  return bytes;
}

/** True when the first `prefix` bits of `address` equal those of `network` (same family). */
export function inPrefix(address: IpBytes, network: IpBytes, prefix: number): boolean {
  if (address.family !== network.family) return false;
  const whole = Math.floor(prefix / 8);
  for (let i = 0; i < whole; i += 1) if (address.bytes[i] !== network.bytes[i]) return false;
  const bits = prefix % 8;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (address.bytes[whole]! & mask) === (network.bytes[whole]! & mask);
}

/** True when no bit below the prefix is set (`10.0.0.0/8`, not `10.1.0.0/8`). */
export function isNetworkAddress(network: IpBytes, prefix: number): boolean {
  for (let bit = prefix; bit < network.bytes.length * 8; bit += 1) {
    if ((network.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

interface Range {
  network: IpBytes;
  prefix: number;
  class: Exclude<AddressClass, 'public'>;
}

function range(cidr: string, cls: Range['class']): Range {
  const [address, prefix] = cidr.split('/');
  return { network: parseIp(address!)!, prefix: Number(prefix), class: cls };
}

interface Tables {
  v4: Range[];
  v6: Range[];
  /** IPv6 prefixes whose addresses carry an IPv4 address that packets end up at. */
  embedding: Array<{ network: IpBytes; prefix: number; offset: number }>;
  v4Compatible: IpBytes;
}

let built: Tables | undefined;

/**
 * Built on first use, not at load: parsing the IPv6 ranges compiles Node's IPv6 pattern (5 ms),
 * which a run whose step opens no connection never needs.
 */
function tables(): Tables {
  built ??= {
    v4: [
      range('0.0.0.0/8', 'unspecified'),
      range('10.0.0.0/8', 'private'),
      range('100.64.0.0/10', 'private'),
      range('127.0.0.0/8', 'loopback'),
      range('169.254.0.0/16', 'link_local'),
      range('172.16.0.0/12', 'private'),
      range('192.0.0.0/24', 'reserved'),
      range('192.168.0.0/16', 'private'),
      range('198.18.0.0/15', 'reserved'),
      range('224.0.0.0/4', 'multicast'),
      range('240.0.0.0/4', 'reserved'),
    ],
    v6: [
      range('::/128', 'unspecified'),
      range('::1/128', 'loopback'),
      range('64:ff9b:1::/48', 'private'),
      range('100::/64', 'reserved'),
      range('fc00::/7', 'private'),
      range('fe80::/10', 'link_local'),
      range('fec0::/10', 'private'),
      range('ff00::/8', 'multicast'),
    ],
    embedding: [
      { network: parseIp('::ffff:0:0')!, prefix: 96, offset: 12 }, // IPv4-mapped
      { network: parseIp('64:ff9b::')!, prefix: 96, offset: 12 }, // NAT64
      { network: parseIp('2002::')!, prefix: 16, offset: 2 }, // 6to4
    ],
    v4Compatible: parseIp('::')!,
  };
  return built;
}

/** Which special-use range an address is in; an address that does not parse is `reserved`. */
export function classifyAddress(address: string | IpBytes): AddressClass {
  const ip = typeof address === 'string' ? parseIp(address) : address;
  if (!ip) return 'reserved';
  const t = tables();
  for (const r of ip.family === 4 ? t.v4 : t.v6) if (inPrefix(ip, r.network, r.prefix)) return r.class;
  if (ip.family === 6) {
    for (const e of t.embedding) {
      if (inPrefix(ip, e.network, e.prefix)) return classifyAddress({ family: 4, bytes: ip.bytes.slice(e.offset, e.offset + 4) });
    }
    // Deprecated IPv4-compatible form (::a.b.c.d): some stacks still route it to a.b.c.d.
    if (inPrefix(ip, t.v4Compatible, 96)) return 'reserved';
  }
  return 'public';
}
