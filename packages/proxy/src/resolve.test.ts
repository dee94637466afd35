import { describe, expect, it } from 'vitest';
import { Allowlist, parseDestination, type Destination } from './allowlist.js';
import { AddressRefused, resolveDestination, type HostLookup } from './resolve.js';
import { UpstreamError } from './upstream.js';

function dest(host: string, port = 443): Destination {
  const d = parseDestination(host, port);
  if (typeof d === 'string') throw new Error(host);
  return d;
}

const answers =
  (...addresses: string[]): HostLookup =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

async function refusal(promise: Promise<unknown>): Promise<{ reason: string; address?: string } | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    if (error instanceof AddressRefused) return { reason: error.reason, address: error.address };
    if (error instanceof UpstreamError) return { reason: error.reason };
    throw error;
  }
}

describe('resolving a checked name', () => {
  it('passes public answers through and refuses any internal one', async () => {
    const list = new Allowlist(['svc.example.com']);
    // Control: the same name and list go through when the answer is public.
    expect(await resolveDestination(dest('svc.example.com'), list, answers('93.184.216.34'))).toEqual([{ address: '93.184.216.34', family: 4 }]);
    expect(await refusal(resolveDestination(dest('svc.example.com'), list, answers('93.184.216.34', '10.0.0.5')))).toEqual({
      reason: 'resolved_to_private',
      address: '10.0.0.5',
    });
    expect(await refusal(resolveDestination(dest('svc.example.com'), list, answers('::ffff:169.254.169.254')))).toMatchObject({ reason: 'resolved_to_private' });
  });

  it('lets an internal answer through when an IP or CIDR entry covers it (and its port)', async () => {
    const lookup = answers('10.20.30.40');
    expect(await resolveDestination(dest('db.corp'), new Allowlist(['db.corp', '10.0.0.0/8']), lookup)).toHaveLength(1);
    expect(await resolveDestination(dest('db.corp', 5432), new Allowlist(['db.corp', '10.20.30.40:5432']), lookup)).toHaveLength(1);
    expect(await refusal(resolveDestination(dest('db.corp'), new Allowlist(['db.corp', '10.0.0.0/8:5432']), lookup))).toMatchObject({ reason: 'resolved_to_private' });
    expect(await refusal(resolveDestination(dest('db.corp'), new Allowlist(['db.corp', '11.0.0.0/8']), lookup))).toMatchObject({ reason: 'resolved_to_private' });
  });

  it('maps lookup failures and empty answers to upstream_dns', async () => {
    const list = new Allowlist(['gone.example.com']);
    const failing: HostLookup = async () => {
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    expect(await refusal(resolveDestination(dest('gone.example.com'), list, failing))).toEqual({ reason: 'upstream_dns' });
    expect(await refusal(resolveDestination(dest('gone.example.com'), list, answers()))).toEqual({ reason: 'upstream_dns' });
  });
});
