import { registerErrorCodes } from '@swarm/core';

/** The proxy package's error codes (listed in docs/errors.md with every other package's). */
registerErrorCodes('proxy', {
  NET_CAP_MISSING: {
    category: 'input',
    description: 'No net_cap token was given: pipe it on standard input or set SWARM_NET_CAP (never on the command line).',
  },
  EGRESS_ALLOWLIST_INVALID: {
    category: 'input',
    description: 'An egress allowlist entry is not a host, *.suffix, IP literal or CIDR block with an optional :port.',
  },
  EGRESS_UPSTREAM_PROXY_INVALID: {
    category: 'input',
    description: 'The upstream proxy for the broker (egress.upstream_proxy, HTTPS_PROXY or HTTP_PROXY) is not an http://[user:pass@]host:port URL.',
  },
  TICKET_INVALID: {
    category: 'input',
    description: 'A proxy ticket is malformed, was minted with another broker key, or its MAC does not match.',
  },
  TICKET_EXPIRED: { category: 'policy', description: 'A proxy ticket is past its expiry (or its expiry is not in the future when minted).' },
  TICKET_REVOKED: { category: 'policy', description: 'A proxy ticket belongs to a revoked session.' },
  BROKER_KEY_INVALID: {
    category: 'input',
    description: 'The broker key file is malformed (not 32 bytes) or readable by other users.',
  },
  BROKER_LISTEN_FAILED: {
    category: 'input',
    description: 'The broker cannot listen on the requested address or socket (in use, not permitted, path too long).',
  },
  PROVIDER_REJECTED: {
    category: 'policy',
    description: 'The broker refused the provider: bad credentials, expired or revoked ticket, or a ticket not in client_exit mode.',
  },
  PROVIDER_CONNECT_FAILED: {
    category: 'backend',
    description: 'The provider cannot reach the broker.',
    retryable: true,
  },
  PROVIDER_DISCONNECTED: {
    category: 'backend',
    description: 'The provider lost its control connection to the broker.',
    retryable: true,
  },
});
