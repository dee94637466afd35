/**
 * The GitHub API as a worker on a runner reaches it: HTTPS (http.ts) against GITHUB_API_URL with
 * the job's token (read-only: contents and actions). No gh is needed on the runner. Errors carry
 * the same codes and details as gh.ts's.
 */
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';
import type { ApiRequestOptions, ApiResponse, GithubApi } from './api.js';
import './errors.js';
import { HttpTimeoutError, httpRequest, type HttpResponse } from './http.js';

export class RunnerApi implements GithubApi {
  constructor(
    private readonly apiUrl: string,
    private readonly token: string,
  ) {}

  async request(method: string, path: string, options: ApiRequestOptions = {}): Promise<ApiResponse> {
    const attempts = options.retry ? 4 : 1;
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.once(method, path, options, attempt);
      } catch (error) {
        last = error;
        if (!(error instanceof SwarmError) || !error.retryable || attempt === attempts) throw error;
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt * (0.5 + Math.random()))));
      }
    }
    throw last;
  }

  async download(path: string, file: string, options: { timeoutMs?: number; retry?: boolean } = {}): Promise<{ status: number; bytes: number }> {
    const response = await this.request('GET', path, { accept: 'application/octet-stream', timeoutMs: options.timeoutMs, retry: options.retry });
    fs.writeFileSync(file, response.body, { mode: 0o600 });
    return { status: response.status, bytes: response.body.length };
  }

  private async once(method: string, path: string, options: ApiRequestOptions, attempt: number): Promise<ApiResponse> {
    const url = new URL(`${this.apiUrl.replace(/\/$/, '')}/${path.replace(/^\//, '')}`);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
    const details = { method, path: url.pathname + url.search, attempts: attempt };
    let response: HttpResponse;
    try {
      response = await httpRequest(url, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept: options.accept ?? 'application/vnd.github+json',
          'x-github-api-version': '2022-11-28',
          'user-agent': 'swarm-worker',
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
        redirect: 'follow',
        timeoutMs: options.timeoutMs ?? 30_000,
      });
    } catch (cause) {
      const timedOut = cause instanceof HttpTimeoutError;
      throw new SwarmError(timedOut ? 'GH_COMMAND_TIMEOUT' : 'GH_TRANSPORT_FAILED', `${method} ${url.pathname}: ${timedOut ? 'timed out' : (cause as Error).message}`, { retryable: true, details, cause });
    }
    const { body, headers } = response;
    const requestId = headers['x-github-request-id'] ?? null;
    if (response.status >= 400) {
      let message = '';
      try {
        message = String((JSON.parse(body.toString('utf8')) as { message?: unknown }).message ?? '').slice(0, 300);
      } catch {
        // not JSON
      }
      const status = response.status;
      const code = status === 401 ? 'GH_AUTH_FAILED' : status === 404 ? 'GH_NOT_FOUND' : status === 429 || (status === 403 && /rate limit/i.test(message)) ? 'GH_RATE_LIMITED' : status === 403 ? 'GH_FORBIDDEN' : 'GH_HTTP_ERROR';
      throw new SwarmError(code, `${method} ${url.pathname}: HTTP ${status}${message ? ` ${message}` : ''}`, {
        retryable: status >= 500 || code === 'GH_RATE_LIMITED',
        details: { ...details, category: 'backend', http_status: status, github_request_id: requestId },
      });
    }
    return { status: response.status, headers, body, requestId };
  }
}
