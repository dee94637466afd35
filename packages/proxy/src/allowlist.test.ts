import { describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { Allowlist, normalizeAllowlist, parseAuthority, parseDestination, parseHostPattern, type Destination } from './allowlist.js';

function dest(host: string, port = 443): Destination {
  const d = parseDestination(host, port);
  if (typeof d === 'string') throw new Error(`not a destination: ${host} (${d})`);
  return d;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as SwarmError).code;
  }
  return undefined;
}

describe('allowlist entries', () => {
  it('normalises case, trailing dots, IPv6 spelling; sorts and de-duplicates', () => {
    expect(normalizeAllowlist(['Example.COM.', 'example.com', '*.Foo.org:443', '[0:0::1]:8080', '10.0.0.1'])).toEqual([
      '*.foo.org:443',
      '10.0.0.1',
      '[::1]:8080',
      'example.com',
    ]);
  });

  it.each(['', '*', '*.', 'a b', 'host:0', 'host:65536', 'host:-1', '*.10.0.0.1', '127.1', '0x7f.0.0.1', '2130706433', '[::1', 'ex@mple.com', 'a..b', 'ünïcode.example'])(
    'refuses %j with EGRESS_ALLOWLIST_INVALID',
    (entry) => {
      expect(codeOf(() => parseHostPattern(entry))).toBe('EGRESS_ALLOWLIST_INVALID');
    },
  );
});

describe('matching', () => {
  const list = new Allowlist(['api.example.com', '*.cdn.example.net', 'pinned.example.org:8443', '127.0.0.1:3000', '[::1]']);

  it('matches exact names on any port when no port is given, case-insensitively with a trailing dot', () => {
    expect(list.allows(dest('api.example.com', 443))).toBe(true);
    expect(list.allows(dest('API.Example.COM.', 80))).toBe(true);
    expect(list.allows(dest('other.example.com'))).toBe(false);
    expect(list.allows(dest('api.example.com.evil.test'))).toBe(false);
  });

  it('*.suffix matches names below the suffix but not the bare suffix', () => {
    expect(list.allows(dest('a.cdn.example.net'))).toBe(true);
    expect(list.allows(dest('a.b.cdn.example.net'))).toBe(true);
    expect(list.allows(dest('cdn.example.net'))).toBe(false);
    expect(list.allows(dest('xcdn.example.net'))).toBe(false);
  });

  it('a port in the entry restricts the port', () => {
    expect(list.allows(dest('pinned.example.org', 8443))).toBe(true);
    expect(list.allows(dest('pinned.example.org', 443))).toBe(false);
  });

  it('IP destinations need the same address listed literally', () => {
    expect(list.allows(dest('127.0.0.1', 3000))).toBe(true);
    expect(list.allows(dest('127.0.0.1', 3001))).toBe(false);
    expect(list.allows(dest('127.0.0.2', 3000))).toBe(false);
    expect(list.allows(dest('[::1]', 1))).toBe(true);
    expect(list.allows(dest('[0:0:0:0:0:0:0:1]', 1))).toBe(true);
  });

  it('wildcards cannot name addresses', () => {
    expect(codeOf(() => new Allowlist(['*.1']))).toBe('EGRESS_ALLOWLIST_INVALID');
    expect(codeOf(() => new Allowlist(['*.0.0.1']))).toBe('EGRESS_ALLOWLIST_INVALID');
  });

  it('the empty allowlist allows nothing', () => {
    expect(new Allowlist([]).allows(dest('example.com'))).toBe(false);
  });
});

describe('destinations', () => {
  it('refuses numeric spellings of addresses instead of resolving them', () => {
    expect(parseDestination('127.1', 80)).toBe('ip_noncanonical');
    expect(parseDestination('0x7f.0.0.1', 80)).toBe('ip_noncanonical');
    expect(parseDestination('2130706433', 80)).toBe('ip_noncanonical');
    expect(parseDestination('127.000.0.1', 80)).toBe('ip_noncanonical');
  });

  it('parses CONNECT authorities and requires the port', () => {
    expect(parseAuthority('Example.com:443')).toEqual({ kind: 'name', host: 'example.com', port: 443 });
    expect(parseAuthority('[::1]:8080')).toEqual({ kind: 'ipv6', host: '::1', port: 8080 });
    expect(parseAuthority('example.com')).toBe('malformed');
    expect(parseAuthority('example.com', 80)).toEqual({ kind: 'name', host: 'example.com', port: 80 });
    expect(parseAuthority('example.com:0')).toBe('malformed');
    expect(parseAuthority('::1:80')).toBe('malformed');
    expect(parseAuthority('[fe80::1%25eth0]:80')).toBe('malformed');
    expect(parseAuthority('a b:80')).toBe('malformed');
  });
});

describe('CIDR entries', () => {
  it('normalises CIDR blocks, with brackets for IPv6 and an optional port', () => {
    expect(normalizeAllowlist(['10.0.0.0/8', '10.0.0.0/8:443', '[FD00::/8]', '[fd00:0::/8]:443', '192.168.1.7/32', '[::1/128]:80'])).toEqual([
      '10.0.0.0/8',
      '10.0.0.0/8:443',
      '192.168.1.7',
      '[::1]:80',
      '[fd00::/8]',
      '[fd00::/8]:443',
    ]);
  });

  it.each(['10.0.0.0/7', '0.0.0.0/0', '[::/0]', '10.1.0.0/8', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', 'fd00::/8', '[fd00::/129]', '10.0/8', 'example.com/8', '*.example.com/8'])(
    'refuses %j with EGRESS_ALLOWLIST_INVALID',
    (entry) => {
      expect(codeOf(() => parseHostPattern(entry))).toBe('EGRESS_ALLOWLIST_INVALID');
    },
  );

  it('covers addresses inside the block only, and only on its port when it has one', () => {
    const list = new Allowlist(['10.0.0.0/8', '172.16.0.0/12:443', '[fd00::/8]']);
    expect(list.allows(dest('10.200.3.4', 22))).toBe(true);
    expect(list.allows(dest('11.0.0.1', 22))).toBe(false);
    expect(list.allows(dest('172.31.0.1', 443))).toBe(true);
    expect(list.allows(dest('172.31.0.1', 80))).toBe(false);
    expect(list.allows(dest('172.32.0.1', 443))).toBe(false);
    expect(list.allows(dest('[fdab::1]', 80))).toBe(true);
    expect(list.allows(dest('[fe80::1]', 80))).toBe(false);
    // A block never matches a name, even one that looks like it is inside.
    expect(list.allows(dest('ten.example.com', 22))).toBe(false);
    expect(list.coversAddress('10.9.9.9', 1)).toBe(true);
    expect(list.coversAddress('172.16.0.1', 80)).toBe(false);
    expect(new Allowlist(['api.example.com']).coversAddress('10.9.9.9', 1)).toBe(false);
  });
});
