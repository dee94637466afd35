/**
 * The broker's own way out on networks that only allow traffic through a corporate HTTP proxy:
 * each connection to an (already checked) destination address is a `CONNECT <ip>:<port>` tunnel
 * through that proxy. Also where the proxy URL comes from (config, then the operator's
 * environment) and how it is shown without its password.
 */
import net from 'node:net';
import { classifyAddress, parseIp } from './ip-address.js';
import { SwarmError } from '@swarm/core';
import { UpstreamError, upstreamErrorFor } from './upstream.js';
import './errors.js';
import { responseHeadReader } from './http-head.js';

export interface UpstreamProxy {
  host: string;
  port: number;
  /** `Proxy-Authorization` value when the URL carries credentials. */
  authorization: string | null;
}

export interface UpstreamProxySetting {
  url: string;
  source: 'config' | 'env';
  /** For `env`: the variable it came from. */
  variable?: string;
}

/** Proxy variables taken from the operator's environment, in order of preference. */
const PROXY_ENV = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY'] as const;

/** Parses `http://[user:pass@]host[:port]`; throws EGRESS_UPSTREAM_PROXY_INVALID. */
export function parseUpstreamProxy(text: string): UpstreamProxy {
  const fail = (why: string): never => {
    // The message never repeats the URL: it may hold a password.
    throw new SwarmError('EGRESS_UPSTREAM_PROXY_INVALID', `invalid upstream proxy URL: ${why}`, {
      details: { proxy: redactUpstreamProxy(text) },
      hint: 'use http://host:port or http://user:password@host:port',
    });
  };
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return fail('not a URL');
  }
  if (url.protocol !== 'http:') return fail(`scheme ${url.protocol} is not supported (only http://)`);
  if (url.hostname === '') return fail('no host');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') return fail('a proxy URL has no path, query or fragment');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 80 : Number(url.port);
  let authorization: string | null = null;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return fail('bad percent-encoding in the credentials');
    }
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }
  return { host, port, authorization };
}

/**
 * The upstream proxy to use: the setting when given, else the operator's HTTPS_PROXY,
 * https_proxy, then HTTP_PROXY (no other variable, and no NO_PROXY: the broker only ever connects
 * to checked destinations). Validates the URL (EGRESS_UPSTREAM_PROXY_INVALID); null when none.
 */
export function resolveUpstreamProxy(settingValue: string | undefined, env: NodeJS.ProcessEnv): UpstreamProxySetting | null {
  let found: UpstreamProxySetting | null = null;
  if (settingValue !== undefined && settingValue.trim() !== '') {
    found = { url: settingValue.trim(), source: 'config' };
  } else {
    for (const variable of PROXY_ENV) {
      const value = env[variable]?.trim();
      if (value) {
        found = { url: value, source: 'env', variable };
        break;
      }
    }
  }
  if (found) parseUpstreamProxy(found.url);
  return found;
}

/** The URL with any password replaced by `***` (and unparseable text not shown at all). */
export function redactUpstreamProxy(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return '(unparseable URL)';
  }
  const user = url.username === '' ? '' : `${url.username}${url.password === '' ? '' : ':***'}@`;
  return `${url.protocol}//${user}${url.host}`;
}

/** One line for `doctor`: where the broker's traffic goes out, never with a password. */
export function describeUpstreamProxy(setting: UpstreamProxySetting | null): string {
  if (!setting) return 'direct (no upstream proxy)';
  const from = setting.source === 'config' ? 'egress.upstream_proxy' : (setting.variable ?? 'environment');
  return `via ${redactUpstreamProxy(setting.url)} (from ${from})`;
}

/** Opens a tunnel to `address:port` through the proxy; failures are UpstreamErrors (502/504). */
export function dialViaProxy(proxy: UpstreamProxy, address: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: proxy.host, port: proxy.port, allowHalfOpen: true, noDelay: true });
    const readHead = responseHeadReader();
    let settled = false;
    const settle = (error: UpstreamError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      if (error) {
        socket.destroy();
        reject(error);
      }
    };
    const timer = setTimeout(() => settle(new UpstreamError(504, 'upstream_timeout')), timeoutMs);
    const onData = (chunk: Buffer): void => {
      const head = readHead(chunk);
      if (head === null) return;
      if (head.kind !== 'head') return settle(new UpstreamError(502, 'upstream_proxy_error'));
      if (head.status < 200 || head.status > 299) return settle(proxyRefusal(head.status));
      settle(null);
      socket.pause();
      if (head.rest.length > 0) socket.unshift(head.rest);
      socket.removeListener('error', onError);
      resolve(socket);
    };
    const onError = (error: Error): void => {
      const failure = upstreamErrorFor(error);
      // Failing to reach the proxy itself is told apart from the destination failing behind it.
      settle(failure.status === 504 ? failure : new UpstreamError(502, 'upstream_proxy_unreachable', { cause: error }));
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.once('end', () => settle(new UpstreamError(502, 'upstream_proxy_error')));
    socket.once('connect', () => {
      const authority = net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
      const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
      if (proxy.authorization) lines.push(`Proxy-Authorization: ${proxy.authorization}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  });
}

/** What the proxy's refusal means for the client: its own gateway answers map onto ours. */
function proxyRefusal(status: number): UpstreamError {
  if (status === 407) return new UpstreamError(502, 'upstream_proxy_auth');
  if (status === 504) return new UpstreamError(504, 'upstream_timeout');
  return new UpstreamError(502, 'upstream_proxy_refused');
}

/**
 * Whether the upstream proxy carries a connection to these checked addresses: every one but
 * those to this machine's own loopback (an IP entry the operator allowlisted), which a proxy
 * elsewhere would take for its own. A proxy on this machine's loopback (cntlm, px) reaches them,
 * so it carries them too.
 */
export function upstreamCarries(proxy: UpstreamProxy | null, addresses: readonly { address: string }[]): boolean {
  if (proxy === null) return false;
  if (isLoopbackHost(proxy.host)) return true;
  return !addresses.every((a) => classifyAddress(a.address) === 'loopback');
}

function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare.toLowerCase() === 'localhost' || (parseIp(bare) !== null && classifyAddress(bare) === 'loopback');
}
