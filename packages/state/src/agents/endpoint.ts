/** An agent's endpoint from its base-URL variable: the URL, and the allowlist entry that reaches it. */
import { SwarmError } from '@swarm/core';
import type { AgentEndpoint } from './types.js';

export function endpointFrom(env: Readonly<Record<string, string>>, variable: string, defaultUrl: string, example: string): AgentEndpoint {
  const baseUrl = (env[variable] ?? '').trim() || defaultUrl;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    url = new URL('invalid:');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    // The value is not quoted: it may have been granted as a secret.
    throw new SwarmError('INVALID_ARGUMENT', `${variable} is not an http(s) URL`, {
      details: { variable },
      hint: `give the base URL of the API, e.g. ${defaultUrl} or ${example}`,
    });
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const isIp = /^\d+\.\d+\.\d+\.\d+$/.test(url.hostname) || url.hostname.startsWith('[');
  // A name on its scheme's port is allowed by name; an address, or any other port, with its port.
  const allowHost = isIp || url.port !== '' ? `${url.hostname}:${port}` : url.hostname;
  return { baseUrl, allowHost };
}
