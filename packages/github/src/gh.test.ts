// GhClient against the REAL gh (Debian's 2.23 at /usr/bin/gh) talking GHES-style HTTPS to a
// loopback server started here. Stub binaries only for "gh missing" and "gh hangs".
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { xsalsa20poly1305, hsalsa } from '@noble/ciphers/salsa.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isSwarmError, type SwarmError } from '@swarm/core';
import { makeTempDir } from '@swarm/test-utils';
import { testPki } from '@swarm/test-utils';
import { GhClient, ghEnv, type GhClientOptions, type GhErrorDetails } from './gh.js';

const GH = '/usr/bin/gh';
const hasGh = fs.existsSync(GH);
const realGh = hasGh ? 'GhClient with the real gh' : `GhClient with the real gh (SKIPPED: ${GH} is not installed; apt-get install -y gh)`;

interface Hit {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}
type Route = (hit: Hit, res: ServerResponse, count: number) => void;

async function caught(promise: Promise<unknown>): Promise<SwarmError> {
  try {
    await promise;
  } catch (error) {
    if (isSwarmError(error)) return error;
    throw error;
  }
  throw new Error('expected a SwarmError');
}

const details = (error: SwarmError) => error.details as GhErrorDetails;

/**
 * No member of the process group runs. kill(-pid, 0) alone is not enough here: this machine's
 * init reaps orphans late, so a child killed with its group stays a zombie (dead) for a while.
 */
function groupGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  return !fs.readdirSync('/proc').some((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pid && state !== 'Z';
    } catch {
      return false;
    }
  });
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-github-request-id': 'CAFE:0001', ...headers });
  res.end(text);
}

describe('ghEnv', () => {
  it('keeps the caller env, adds the plain-output variables, drops colour forcing and debug', () => {
    const env = ghEnv({ GH_HOST: 'ghe.example:8443', KEEP: 'x', NO_COLOR: '0', CLICOLOR_FORCE: '1', GH_FORCE_TTY: '1', GH_DEBUG: 'api', DEBUG: '1' });
    expect(env).toEqual({ GH_HOST: 'ghe.example:8443', KEEP: 'x', NO_COLOR: '1', GH_PROMPT_DISABLED: '1', GH_NO_UPDATE_NOTIFIER: '1', GH_PAGER: 'cat', CLICOLOR: '0' });
  });
});

describe.skipIf(!hasGh)(realGh, () => {
  const pki = hasGh ? testPki() : undefined;
  let server: https.Server;
  let port: number;
  let route: Route;
  const hits: Hit[] = [];
  let tmp: ReturnType<typeof makeTempDir>;
  let env: NodeJS.ProcessEnv;
  let sleeps: number[];
  let spawned: Array<{ pid: number; args: readonly string[] }>;
  const token = `ghp_${crypto.randomBytes(18).toString('hex')}`;

  beforeAll(async () => {
    server = https.createServer({ key: pki!.key, cert: pki!.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const hit = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
        hits.push(hit);
        route(hit, res, hits.length);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  beforeEach(() => {
    hits.length = 0;
    route = (_hit, res) => json(res, 500, { message: 'no route' });
    tmp = makeTempDir('swarm-gh-');
    fs.mkdirSync(path.join(tmp.dir, 'home'));
    env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: path.join(tmp.dir, 'home'),
      GH_CONFIG_DIR: path.join(tmp.dir, 'gh'),
      GH_HOST: `localhost:${port}`,
      GH_ENTERPRISE_TOKEN: token,
      SSL_CERT_FILE: pki!.caFile,
    };
    sleeps = [];
    spawned = [];
  });
  afterEach(() => {
    server.closeAllConnections();
    tmp.cleanup();
  });

  const client = (opts: Partial<GhClientOptions> = {}) =>
    new GhClient({
      repo: 'o/r',
      bin: GH,
      env,
      retry: { minTimeout: 10, maxTimeout: 20 },
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onSpawn: (pid, args) => spawned.push({ pid, args }),
      ...opts,
    });

  it('GETs JSON from /api/v3 with the pinned API version, a query and lowercased headers', async () => {
    route = (_hit, res) => json(res, 200, { id: 1, full_name: 'o/r' }, { 'X-RateLimit-Remaining': '4999' });
    const res = await client().request('GET', 'repos/o/r/actions/runs', { query: { per_page: 100, created: '>=2024-01-01T00:00:00Z', event: 'workflow_dispatch' } });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ id: 1, full_name: 'o/r' });
    expect(res.requestId).toBe('CAFE:0001');
    expect(res.headers['x-ratelimit-remaining']).toBe('4999');
    expect(hits).toHaveLength(1);
    const url = new URL(hits[0]!.url, 'https://x');
    expect(url.pathname).toBe('/api/v3/repos/o/r/actions/runs');
    expect(Object.fromEntries(url.searchParams)).toEqual({ per_page: '100', created: '>=2024-01-01T00:00:00Z', event: 'workflow_dispatch' });
    expect(hits[0]!.headers.accept).toBe('application/vnd.github+json');
    expect(hits[0]!.headers['x-github-api-version']).toBe('2022-11-28');
    expect(hits[0]!.headers.authorization).toBe(`token ${token}`);
  });

  it('reads plain JSON even when the caller env forces colour and a TTY', async () => {
    route = (_hit, res) => json(res, 200, { nested: { a: [1, 2] } });
    env = { ...env, CLICOLOR_FORCE: '1', GH_FORCE_TTY: '1' };
    expect((await client().request('GET', '/repos/o/r')).json()).toEqual({ nested: { a: [1, 2] } });
  });

  it('returns a 204 with an empty body', async () => {
    route = (_hit, res) => {
      res.writeHead(204, { 'x-github-request-id': 'CAFE:0204' });
      res.end();
    };
    const res = await client().request('DELETE', 'repos/o/r/actions/runs/7');
    expect(res.status).toBe(204);
    expect(res.body.length).toBe(0);
    expect(res.requestId).toBe('CAFE:0204');
    expect(hits[0]!.method).toBe('DELETE');
  });

  it('sends a JSON body verbatim on stdin, never on argv', async () => {
    route = (_hit, res) => json(res, 200, { workflow_run_id: 99 });
    const envelope = `sealed:${crypto.randomBytes(40).toString('base64url')}`;
    const body = { ref: 'swarm-pin-abc', inputs: { request_id: 'req-1', envelope }, return_run_details: true };
    const res = await client().request('POST', 'repos/o/r/actions/workflows/swarm-run.yml/dispatches', { body });
    expect(res.json()).toEqual({ workflow_run_id: 99 });
    expect(hits[0]!.method).toBe('POST');
    expect(hits[0]!.body.toString('utf8')).toBe(JSON.stringify(body));
    expect(spawned).toHaveLength(1);
    expect(spawned[0]!.args).toEqual([
      'api', '-i', '-X', 'POST', 'repos/o/r/actions/workflows/swarm-run.yml/dispatches',
      '-H', 'Accept: application/vnd.github+json', '-H', 'X-GitHub-Api-Version: 2022-11-28', '--input', '-',
    ]);
    expect(spawned[0]!.args.join(' ')).not.toContain(envelope);
  });

  it('sends a raw body byte for byte', async () => {
    route = (_hit, res) => json(res, 201, { sha: 'x' });
    const raw = crypto.randomBytes(4096);
    const res = await client().request('POST', 'repos/o/r/git/blobs', { rawBody: raw, headers: { 'Content-Type': 'application/octet-stream' } });
    expect(res.status).toBe(201);
    expect(hits[0]!.body.equals(raw)).toBe(true);
    expect(hits[0]!.headers['content-type']).toBe('application/octet-stream');
  });

  it('retries a 502 exactly 4 times when idempotent, reporting 5 attempts', async () => {
    route = (_hit, res) => json(res, 502, { message: 'Server Error' }, { 'x-github-request-id': 'CAFE:0502' });
    const error = await caught(client().requestIdempotent('GET', 'repos/o/r/actions/runs/1'));
    expect(error.code).toBe('GH_HTTP_ERROR');
    expect(error.retryable).toBe(true);
    expect(hits).toHaveLength(5);
    expect(details(error)).toMatchObject({ category: 'backend', http_status: 502, github_request_id: 'CAFE:0502', method: 'GET', path: 'repos/o/r/actions/runs/1', attempts: 5 });
  });

  it('recovers when a retried 502 is followed by a 200', async () => {
    route = (_hit, res, n) => (n < 3 ? json(res, 502, { message: 'Server Error' }) : json(res, 200, { ok: true }));
    const res = await client().request('GET', 'repos/o/r', { retry: true });
    expect(res.json()).toEqual({ ok: true });
    expect(hits).toHaveLength(3);
  });

  it('never retries a call the caller did not mark (a dispatch POST), retries a marked POST (cancel)', async () => {
    route = (_hit, res) => json(res, 502, { message: 'Server Error' });
    const error = await caught(client().request('POST', 'repos/o/r/actions/workflows/1/dispatches', { body: { ref: 'x' } }));
    expect(error.code).toBe('GH_HTTP_ERROR');
    expect(error.retryable).toBe(true);
    expect(details(error).attempts).toBe(1);
    expect(hits).toHaveLength(1);
    const cancel = await caught(client().request('POST', 'repos/o/r/actions/runs/1/cancel', { retry: true }));
    expect(details(cancel).attempts).toBe(5);
    expect(hits).toHaveLength(6);
  });

  it('maps 401 to GH_AUTH_FAILED and does not retry it', async () => {
    route = (_hit, res) => json(res, 401, { message: 'Bad credentials' });
    const error = await caught(client().requestIdempotent('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_AUTH_FAILED');
    expect(hits).toHaveLength(1);
    expect(details(error)).toMatchObject({ http_status: 401, attempts: 1, github_message: 'Bad credentials' });
  });

  it('waits Retry-After seconds after a 429, then succeeds', async () => {
    route = (_hit, res, n) => (n === 1 ? json(res, 429, { message: 'Too many requests' }, { 'Retry-After': '1' }) : json(res, 200, { ok: 1 }));
    const res = await client().requestIdempotent('GET', 'repos/o/r');
    expect(res.json()).toEqual({ ok: 1 });
    expect(hits).toHaveLength(2);
    expect(sleeps).toEqual([1000]);
  });

  it('treats a 403 secondary limit as a rate limit (≥ 60 s without Retry-After), a plain 403 as forbidden', async () => {
    route = (_hit, res, n) =>
      n === 1 ? json(res, 403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' }) : json(res, 200, {});
    await client().requestIdempotent('GET', 'repos/o/r');
    expect(hits).toHaveLength(2);
    expect(sleeps).toEqual([60_000]);

    hits.length = 0;
    route = (_hit, res) => json(res, 403, { message: 'Resource not accessible by integration' });
    const error = await caught(client().requestIdempotent('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_FORBIDDEN');
    expect(error.retryable).toBe(false);
    expect(hits).toHaveLength(1);
  });

  it('waits for a primary limit reset within maxRateLimitWaitMs, fails at once beyond it', async () => {
    const date = new Date();
    const serverSeconds = Math.floor(date.getTime() / 1000);
    let reset = serverSeconds + 3600;
    route = (_hit, res, n) =>
      n === 1
        ? json(res, 403, { message: 'API rate limit exceeded for user ID 1.' }, { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(reset), Date: date.toUTCString() })
        : json(res, 200, {});
    const error = await caught(client().requestIdempotent('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(hits).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(details(error)).toMatchObject({ http_status: 403, rate_limit: 'primary', rate_limit_reset: reset, attempts: 1 });

    hits.length = 0;
    reset = serverSeconds + 5;
    await client().requestIdempotent('GET', 'repos/o/r');
    expect(hits).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
    // Measured against the server's Date header (second resolution), plus one second of slack.
    expect(sleeps[0]).toBeGreaterThanOrEqual(5000);
    expect(sleeps[0]).toBeLessThanOrEqual(7000);
  });

  it('maps 404 to GH_NOT_FOUND and other 4xx to a non-retryable GH_HTTP_ERROR that never echoes the body sent', async () => {
    route = (_hit, res) => json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const notFound = await caught(client().requestIdempotent('GET', 'repos/o/r/actions/artifacts/5'));
    expect(notFound.code).toBe('GH_NOT_FOUND');
    expect(hits).toHaveLength(1);

    hits.length = 0;
    const ref = `no-such-ref-${crypto.randomBytes(6).toString('hex')}`;
    route = (hit, res) => json(res, 422, { message: `No ref found for: ${JSON.parse(hit.body.toString()).ref}` });
    const invalid = await caught(client().request('POST', 'repos/o/r/actions/workflows/1/dispatches', { body: { ref } }));
    expect(invalid.code).toBe('GH_HTTP_ERROR');
    expect(invalid.retryable).toBe(false);
    expect(details(invalid).http_status).toBe(422);
    expect(invalid.message).not.toContain(ref);
    expect(JSON.stringify(invalid.details)).not.toContain(ref);
    expect(invalid.message).not.toContain(token);
  });

  it('kills the process group of a gh whose server stalls (GH_COMMAND_TIMEOUT, retryable)', async () => {
    route = () => {}; // never answers
    const error = await caught(client({ timeoutMs: 1000 }).request('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_COMMAND_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(spawned).toHaveLength(1);
    expect(groupGone(spawned[0]!.pid)).toBe(true);
    expect(hits).toHaveLength(1);
  });

  it('treats a success whose body is cut short as a transport failure', async () => {
    route = (_hit, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"a":"' + 'x'.repeat(400));
      setTimeout(() => res.destroy(), 20);
    };
    const error = await caught(client().request('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_TRANSPORT_FAILED');
    expect(error.retryable).toBe(true);
    expect(details(error).http_status).toBe(200);
  });

  it('refuses an answer over maxResponseBytes and stops gh', async () => {
    route = (_hit, res) => json(res, 200, { big: 'x'.repeat(200_000) });
    const error = await caught(client({ maxResponseBytes: 64 * 1024 }).request('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_RESPONSE_INVALID');
    expect(groupGone(spawned[0]!.pid)).toBe(true);
    // The control: the same answer fits the default budget.
    expect((await client().request('GET', 'repos/o/r')).json()).toMatchObject({ big: expect.any(String) });
  });

  it('reports GH_TRANSPORT_FAILED when gh cannot connect or does not trust the certificate', async () => {
    const closed = https.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    env = { ...env, GH_HOST: `localhost:${closedPort}` };
    const refused = await caught(client().request('GET', 'repos/o/r'));
    expect(refused.code).toBe('GH_TRANSPORT_FAILED');
    expect(details(refused).http_status).toBeNull();

    env = { ...env, GH_HOST: `localhost:${port}`, SSL_CERT_FILE: path.join(tmp.dir, 'no-ca.pem') };
    fs.writeFileSync(env.SSL_CERT_FILE!, '');
    const untrusted = await caught(client().request('GET', 'repos/o/r'));
    expect(untrusted.code).toBe('GH_TRANSPORT_FAILED');
    expect(untrusted.message).not.toContain(token);
  });

  it('reports GH_AUTH_FAILED when gh has no credentials at all (its exit code 4, nothing sent)', async () => {
    // No GH_HOST and no token: gh refuses before any request (so nothing leaves this machine).
    env = { PATH: env.PATH, HOME: env.HOME, GH_CONFIG_DIR: env.GH_CONFIG_DIR };
    const error = await caught(client().requestIdempotent('GET', 'user'));
    expect(error.code).toBe('GH_AUTH_FAILED');
    expect(details(error)).toMatchObject({ http_status: null, attempts: 1 });
    expect(hits).toHaveLength(0);
  });

  it('downloads 2 MiB of binary through a 302 to another host into a file', async () => {
    const blob = crypto.randomBytes(2 * 1024 * 1024);
    route = (hit, res) => {
      if (hit.url === '/api/v3/repos/o/r/actions/artifacts/5/zip') {
        res.writeHead(302, { location: `https://127.0.0.1:${port}/_blob/5?sig=abc` });
        res.end();
      } else if (hit.url === '/_blob/5?sig=abc') {
        res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(blob.length) });
        res.end(blob);
      } else json(res, 404, { message: 'Not Found' });
    };
    const out = path.join(tmp.dir, 'artifact.zip');
    const result = await client().download(client().repoPath('actions/artifacts/5/zip'), out, { timeoutMs: 20_000 });
    expect(result).toMatchObject({ status: 200, bytes: blob.length, sha256: crypto.createHash('sha256').update(blob).digest('hex') });
    expect(fs.readFileSync(out).equals(blob)).toBe(true);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    expect(hits.map((h) => h.url)).toEqual(['/api/v3/repos/o/r/actions/artifacts/5/zip', '/_blob/5?sig=abc']);

    const small = path.join(tmp.dir, 'small.zip');
    const tooBig = await caught(client().download('repos/o/r/actions/artifacts/5/zip', small, { maxBytes: 1024 * 1024 }));
    expect(tooBig.code).toBe('GH_RESPONSE_INVALID');
    expect(fs.existsSync(small)).toBe(false);

    const missing = await caught(client().download('repos/o/r/actions/artifacts/6/zip', small, { retry: true }));
    expect(missing.code).toBe('GH_NOT_FOUND');
    expect(fs.existsSync(small)).toBe(false);
  });

  it('never writes a download through a symlink', async () => {
    route = (_hit, res) => {
      res.writeHead(200, { 'content-type': 'application/zip' });
      res.end('zip bytes');
    };
    const target = path.join(tmp.dir, 'target');
    fs.writeFileSync(target, 'keep');
    const link = path.join(tmp.dir, 'link.zip');
    fs.symlinkSync(target, link);
    await expect(client().download('repos/o/r/actions/artifacts/5/zip', link)).rejects.toThrow();
    expect(fs.readFileSync(target, 'utf8')).toBe('keep');
    // The control: a plain path works.
    expect((await client().download('repos/o/r/actions/artifacts/5/zip', path.join(tmp.dir, 'plain.zip'))).bytes).toBe(9);
  });

  describe('setSecret', () => {
    const secretKey = crypto.randomBytes(32);
    const publicKey = x25519.getPublicKey(secretKey);

    function openSealed(box: Buffer): string {
      const epk = box.subarray(0, 32);
      const shared = x25519.getSharedSecret(secretKey, epk);
      const sigma = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
      const out = new Uint32Array(8);
      hsalsa(sigma, new Uint32Array(shared.buffer.slice(shared.byteOffset, shared.byteOffset + 32)), new Uint32Array(4), out);
      const nonce = blake2b(Buffer.concat([epk, publicKey]), { dkLen: 24 });
      return Buffer.from(xsalsa20poly1305(new Uint8Array(out.buffer), nonce).decrypt(box.subarray(32))).toString('utf8');
    }

    const secretsRoute: Route = (hit, res) => {
      if (hit.method === 'GET' && /\/secrets\/public-key$/.test(hit.url)) return json(res, 200, { key_id: '3380204578043523366', key: Buffer.from(publicKey).toString('base64') });
      if (hit.method === 'PUT' && /\/secrets\/[A-Z_]+$/.test(hit.url)) return json(res, 201, {});
      json(res, 404, { message: 'Not Found' });
    };

    it('sends the value on stdin; the server gets only the sealed value', async () => {
      route = secretsRoute;
      const value = `runner-key-${crypto.randomBytes(24).toString('base64url')}`;
      await client().setSecret('SWARM_RUNNER_KEY', value);
      const put = hits.find((h) => h.method === 'PUT')!;
      expect(put.url).toBe('/api/v3/repos/o/r/actions/secrets/SWARM_RUNNER_KEY');
      const sent = JSON.parse(put.body.toString('utf8')) as { encrypted_value: string; key_id: string };
      expect(sent.key_id).toBe('3380204578043523366');
      expect(openSealed(Buffer.from(sent.encrypted_value, 'base64'))).toBe(value);
      expect(put.body.toString('utf8')).not.toContain(value);
      expect(spawned[0]!.args).toEqual(['secret', 'set', 'SWARM_RUNNER_KEY', '-R', 'o/r']);
      expect(spawned[0]!.args.join(' ')).not.toContain(value);
    });

    it('sets an environment secret with --env', async () => {
      route = secretsRoute;
      await client().setSecret('SWARM_RUNNER_KEY', 'v4lue-for-env', { environment: 'swarm' });
      expect(hits.map((h) => `${h.method} ${h.url}`)).toEqual([
        'GET /api/v3/repos/o/r/environments/swarm/secrets/public-key',
        'PUT /api/v3/repos/o/r/environments/swarm/secrets/SWARM_RUNNER_KEY',
      ]);
      expect(spawned[0]!.args).toEqual(['secret', 'set', 'SWARM_RUNNER_KEY', '-R', 'o/r', '--env', 'swarm']);
    });

    it('classifies a failure from gh stderr without quoting the value', async () => {
      route = (_hit, res) => json(res, 404, { message: 'Not Found' });
      const value = `value-${crypto.randomBytes(12).toString('hex')}`;
      const error = await caught(client().setSecret('SWARM_RUNNER_KEY', value));
      expect(error.code).toBe('GH_NOT_FOUND');
      expect(details(error).http_status).toBe(404);
      expect(hits).toHaveLength(1); // not retried
      expect(error.message).not.toContain(value);
      expect(JSON.stringify(error.details)).not.toContain(value);

      hits.length = 0;
      route = (_hit, res) => json(res, 502, { message: 'Server Error' });
      const flaky = await caught(client().setSecret('SWARM_RUNNER_KEY', value));
      expect(flaky.code).toBe('GH_HTTP_ERROR');
      expect(flaky.retryable).toBe(true);
      expect(hits).toHaveLength(5);
    });

    it('refuses names and values gh would store altered', async () => {
      await expect(client().setSecret('bad-name', 'v')).rejects.toThrow(TypeError);
      await expect(client().setSecret('GITHUB_TOKEN', 'v')).rejects.toThrow(TypeError);
      await expect(client().setSecret('OK', 'ends in newline\n')).rejects.toThrow(TypeError);
      await expect(client().setSecret('OK', '')).rejects.toThrow(TypeError);
      await expect(client().setSecret('OK', 'v', { environment: '--repo' })).rejects.toThrow(TypeError);
      expect(spawned).toHaveLength(0);
    });
  });

  it('reads gh --version', async () => {
    const v = await client().version();
    expect(v.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(v.major).toBeGreaterThanOrEqual(2);
  });

  it('reports only whether gh auth status succeeds', async () => {
    route = (hit, res) => {
      if (hit.url === '/api/v3/') return json(res, 200, {}, { 'X-OAuth-Scopes': 'repo, read:org, workflow' });
      if (hit.url === '/api/graphql') return json(res, 200, { data: { viewer: { login: 'operator' } } });
      return json(res, 200, { login: 'operator' }, { 'X-OAuth-Scopes': 'repo, read:org, workflow' });
    };
    expect(await client().authStatusOk(`localhost:${port}`)).toBe(true);
    route = (_hit, res) => json(res, 401, { message: 'Bad credentials' });
    expect(await client().authStatusOk(`localhost:${port}`)).toBe(false);
    await expect(client().authStatusOk('-h')).rejects.toThrow(TypeError);
  });
});

describe('GhClient with a stub gh', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    tmp = makeTempDir('swarm-gh-stub-');
  });
  afterEach(() => tmp.cleanup());

  it('reports GH_CLI_UNAVAILABLE when SWARM_GH_BIN does not exist', async () => {
    const gh = new GhClient({ repo: 'o/r', env: { PATH: '/usr/bin:/bin', SWARM_GH_BIN: '/nonexistent/gh' } });
    const error = await caught(gh.request('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_CLI_UNAVAILABLE');
    expect(error.details).toMatchObject({ errno: 'ENOENT', bin: '/nonexistent/gh' });
    expect((await caught(gh.version())).code).toBe('GH_CLI_UNAVAILABLE');
    expect((await caught(gh.setSecret('NAME', 'value'))).code).toBe('GH_CLI_UNAVAILABLE');
  });

  it('reports GH_CLI_UNAVAILABLE for a bin that is not executable', async () => {
    const bin = path.join(tmp.dir, 'gh');
    fs.writeFileSync(bin, '#!/bin/sh\n', { mode: 0o644 });
    const error = await caught(new GhClient({ repo: 'o/r', bin, env: {} }).request('GET', 'repos/o/r'));
    expect(error.code).toBe('GH_CLI_UNAVAILABLE');
  });

  it('kills a hanging gh that ignores SIGTERM, group and all (GH_COMMAND_TIMEOUT)', async () => {
    const bin = path.join(tmp.dir, 'gh');
    // Ignores TERM (the sleep child inherits that), so only the SIGKILL after the grace ends it.
    fs.writeFileSync(bin, "#!/bin/sh\ntrap '' TERM\nsleep 30 &\nwait\nsleep 30\n", { mode: 0o755 });
    const pids: number[] = [];
    const gh = new GhClient({ repo: 'o/r', env: { PATH: '/usr/bin:/bin', SWARM_GH_BIN: bin }, timeoutMs: 300, killGraceMs: 300, onSpawn: (pid) => pids.push(pid) });
    const started = Date.now();
    const pending = caught(gh.request('GET', 'repos/o/r'));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(groupGone(pids[0]!)).toBe(false); // the probe sees the running group
    const error = await pending;
    expect(error.code).toBe('GH_COMMAND_TIMEOUT');
    expect(error.retryable).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(groupGone(pids[0]!)).toBe(true);

    const secret = await caught(gh.setSecret('NAME', 'value', { retry: false }));
    expect(secret.code).toBe('GH_COMMAND_TIMEOUT');
    expect(groupGone(pids[1]!)).toBe(true);
  });

  it('refuses a repository that is not owner/name', () => {
    for (const repo of ['o', 'o/r/x', '-o/r', 'o r/x', '']) {
      expect(() => new GhClient({ repo, env: {} })).toThrow(expect.objectContaining({ code: 'GH_REPO_INVALID' }));
    }
    expect(() => new GhClient({ repo: 'octo-org/repo.name_1', env: {} })).not.toThrow();
  });

  it('refuses paths and headers that would change what gh is asked', async () => {
    const gh = new GhClient({ repo: 'o/r', env: { SWARM_GH_BIN: '/nonexistent/gh' } });
    for (const p of ['--hostname=x', 'repos/{owner}/{repo}', 'repos/o/r?x=1', 'repos/o/../x', 'repos/o r', 'repos//x', '']) {
      await expect(gh.request('GET', p)).rejects.toThrow(TypeError);
    }
    await expect(gh.request('GET', 'repos/o/r', { headers: { Authorization: 'token x' } })).rejects.toThrow(TypeError);
    await expect(gh.request('GET', 'repos/o/r', { headers: { 'X-A': 'a\r\nX-B: b' } })).rejects.toThrow(TypeError);
    // The control: a plain path reaches the (missing) binary.
    expect((await caught(gh.request('GET', '/repos/o/r/actions/runs/1'))).code).toBe('GH_CLI_UNAVAILABLE');
  });
});
