/**
 * The HTTP client of swarm's own requests to GitHub (the runner API, the Actions OIDC issuer and
 * its keys): node:http and node:https rather than fetch, because only they take a TLS context, and
 * a process the `swarm` launcher started trusts NODE_EXTRA_CA_CERTS through one (see
 * @swarm/core tls-trust.ts). Redirects are followed as fetch follows them, or refused. Errors name
 * the origin only: a path redirected to may carry a download's credential.
 */
import http from 'node:http';
import type https from 'node:https';
import type tls from 'node:tls';
import { tlsSecureContext } from '@swarm/core';

export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** For the whole exchange, redirects and body included. Default 30 s. */
  timeoutMs?: number;
  /** 'follow' (at most 20, as fetch), or 'error': a redirect is an error. Default 'follow'. */
  redirect?: 'follow' | 'error';
  /** A larger body is an error. Default: no limit. */
  maxBodyBytes?: number;
}

export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: URL;
}

/** Thrown when the exchange outlives its timeout; `name` is fetch's, 'TimeoutError'. */
export class HttpTimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** The answer came but is not taken: a redirect where none is followed, or a body over the bound. */
export class HttpAnswerRefused extends Error {}

const MAX_REDIRECTS = 20;
/** Not sent on to another origin (fetch's rule). */
const ORIGIN_BOUND = ['authorization', 'proxy-authorization', 'cookie'];

export async function httpRequest(url: URL, options: HttpRequestOptions = {}): Promise<HttpResponse> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let method = (options.method ?? 'GET').toUpperCase();
  let headers = { ...options.headers };
  let body = options.body;
  let current = url;
  for (let redirects = 0; ; redirects++) {
    const response = await exchange(current, method, headers, body, deadline, options.maxBodyBytes);
    const location = response.headers.location;
    if (![301, 302, 303, 307, 308].includes(response.status) || location === undefined) return response;
    if (options.redirect === 'error') throw new HttpAnswerRefused(`${current.origin} redirected to another URL, which is not followed`);
    if (redirects === MAX_REDIRECTS) throw new Error(`${url.origin}${url.pathname}: more than ${MAX_REDIRECTS} redirects`);
    const next = new URL(location, current);
    if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new Error(`${current.origin} redirected to a ${next.protocol} URL`);
    if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
      method = 'GET';
      body = undefined;
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-/i.test(k)));
    }
    if (next.origin !== current.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !ORIGIN_BOUND.includes(k.toLowerCase())));
    current = next;
  }
}

/** node:https (and with it node:tls) is loaded on the first HTTPS request, not at every start. */
const httpsModule = () => process.getBuiltinModule('node:https');

/** One keep-alive agent per trust: an agent's pool does not tell connections of other contexts apart. */
const agents = new WeakMap<tls.SecureContext, https.Agent>();
function agentFor(context: tls.SecureContext): https.Agent {
  let agent = agents.get(context);
  if (!agent) agents.set(context, (agent = new (httpsModule().Agent)({ keepAlive: true })));
  return agent;
}

function exchange(url: URL, method: string, headers: Record<string, string>, body: string | Buffer | undefined, deadline: number, maxBodyBytes: number | undefined): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return reject(new Error(`${url.protocol} is not an HTTP URL`));
    const payload = body === undefined ? undefined : Buffer.from(body);
    const requestHeaders = { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) };
    const secureContext = secure ? tlsSecureContext() : undefined;
    const agent = secureContext ? agentFor(secureContext) : undefined;
    const request = (secure ? httpsModule() : http).request(url, { method, headers: requestHeaders, ...(secureContext ? { secureContext, agent } : {}) });
    // The first cause wins: destroying the request also fails the response, with a vaguer error.
    let cause: Error | null = null;
    const abort = (error: Error) => {
      cause ??= error;
      request.destroy(error);
    };
    const timer = setTimeout(() => abort(new HttpTimeoutError(`${method} ${url.origin}: timed out`)), Math.max(0, deadline - Date.now()));
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(cause ?? error);
    };
    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (maxBodyBytes !== undefined && size > maxBodyBytes) abort(new HttpAnswerRefused(`${url.origin} answered more than ${maxBodyBytes} bytes`));
        else chunks.push(chunk);
      });
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) fail(new Error(`${url.origin}: the connection closed before the answer was whole`));
      });
      response.on('end', () => {
        clearTimeout(timer);
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
        resolve({ status: response.statusCode ?? 0, headers: out, body: Buffer.concat(chunks), url });
      });
    });
    request.end(payload);
  });
}
