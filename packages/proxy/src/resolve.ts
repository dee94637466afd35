/**
 * From a checked destination to the addresses the broker may connect to. A name is resolved once
 * here, and every address it resolves to must be public unless an IP or CIDR entry of the
 * allowlist covers it; the caller then connects to those addresses, never to the name, so a
 * second (rebound) resolution cannot send the connection elsewhere.
 */
import dns from 'node:dns';
import type { Allowlist, Destination } from './allowlist.js';
import { classifyAddress, type AddressClass } from './ip-address.js';
import { UpstreamError, upstreamErrorFor } from './upstream.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a name to all its addresses (injectable, so tests never touch real DNS). */
export type HostLookup = (name: string) => Promise<ResolvedAddress[]>;

export const systemLookup: HostLookup = async (name) => {
  const found = await dns.promises.lookup(name, { all: true, verbatim: true });
  return found.map((entry) => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }));
};

/** A refusal of an address, with the address and its class for the decision line. */
export class AddressRefused extends UpstreamError {
  constructor(
    readonly address: string,
    readonly addressClass: AddressClass,
  ) {
    super(403, 'resolved_to_private');
    this.name = 'AddressRefused';
  }
}

/**
 * The addresses to connect to, in resolver order. Throws AddressRefused when any address is not
 * allowed (one internal answer is enough to refuse: it is how rebinding and split-horizon attacks
 * look), or an UpstreamError for a failed lookup.
 */
export async function resolveDestination(destination: Destination, allowlist: Allowlist, lookup: HostLookup): Promise<ResolvedAddress[]> {
  if (destination.kind !== 'name') {
    // A literal address got past the allowlist only through an IP or CIDR entry covering it.
    return [{ address: destination.host, family: destination.kind === 'ipv6' ? 6 : 4 }];
  }
  let found: ResolvedAddress[];
  try {
    found = await lookup(destination.host);
  } catch (error) {
    throw upstreamErrorFor(error);
  }
  if (found.length === 0) throw new UpstreamError(502, 'upstream_dns');
  for (const entry of found) {
    const cls = classifyAddress(entry.address);
    if (cls !== 'public' && !allowlist.coversAddress(entry.address, destination.port)) throw new AddressRefused(entry.address, cls);
  }
  return found;
}
