// swarm's own HTTP client (runner API, OIDC): trust of a deferred NODE_EXTRA_CA_CERTS file, and
// redirects, timeouts and bounds as fetch handled them. Loopback servers only.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deferExtraCaCerts } from '@swarm/core';
import { makeTempDir, testPki } from '@swarm/test-utils';
import { HttpAnswerRefused, HttpTimeoutError, httpRequest } from './http.js';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;
const seen: Array<{ server: string; method: string; url: string; authorization?: string; body: string }> = [];

async function listen(server: http.Server, name: string, handler: Handler): Promise<string> {
  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ server: name, method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `${server instanceof https.Server ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let secure: https.Server;
let plain: http.Server;
let other: http.Server;
let secureUrl: string;
let plainUrl: string;
let otherUrl: string;

beforeAll(async () => {
  const pki = testPki();
  secure = https.createServer({ key: pki.key, cert: pki.cert });
  secureUrl = await listen(secure, 'secure', (_req, _body, res) => res.end('{"ok":true}'));
  other = http.createServer();
  otherUrl = await listen(other, 'other', (_req, body, res) => res.end(`other:${body}`));
  plain = http.createServer();
  plainUrl = await listen(plain, 'plain', (req, body, res) => {
    const url = new URL(req.url!, plainUrl);
    const to = url.searchParams.get('to');
    if (url.pathname === '/redirect') {
      res.writeHead(Number(url.searchParams.get('status')), { location: to === 'other' ? `${otherUrl}/landed` : '/landed' });
      return res.end();
    }
    if (url.pathname === '/loop') {
      res.writeHead(302, { location: '/loop' });
      return res.end();
    }
    if (url.pathname === '/silent') return; // never answers
    if (url.pathname === '/big') return res.end(Buffer.alloc(64 * 1024, 1));
    if (url.pathname === '/cut') {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    res.end(`${req.method} ${url.pathname}:${body}`);
  });
});

afterAll(async () => {
  for (const server of [secure, plain, other]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

afterEach(() => {
  deferExtraCaCerts('');
  seen.length = 0;
});

describe('trust of a deferred NODE_EXTRA_CA_CERTS file', () => {
  it('without the file (as a launcher-started process would be if it were not handed over) the test CA is not trusted', async () => {
    const error = await httpRequest(new URL(`${secureUrl}/x`)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as NodeJS.ErrnoException).code)).toMatch(/UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
    expect(seen).toEqual([]);
  });

  it('with the file handed over, the server it signed is trusted', async () => {
    deferExtraCaCerts(testPki().caFile);
    const response = await httpRequest(new URL(`${secureUrl}/x`));
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ ok: true });
  });

  it('a file that cannot be read is ignored with a warning, as Node ignores it at start; the test CA stays untrusted', async () => {
    const tmp = makeTempDir('swarm-ca-');
    const missing = path.join(tmp.dir, 'missing.pem');
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      deferExtraCaCerts(missing);
      const error = await httpRequest(new URL(`${secureUrl}/x`)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.join('\n')).toContain(`Ignoring extra certs from \`${missing}\``);
    } finally {
      process.off('warning', onWarning);
    }
    expect(fs.existsSync(missing)).toBe(false);
    tmp.cleanup();
  });
});

describe('redirects, as fetch follows them', () => {
  it('307 keeps the method and body; a same-origin redirect keeps the authorization', async () => {
    const r = await httpRequest(new URL(`${plainUrl}/redirect?status=307`), { method: 'POST', body: 'payload', headers: { authorization: 'Bearer same' } });
    expect(r.body.toString()).toBe('POST /landed:payload');
    expect(r.url.pathname).toBe('/landed');
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer same', 'Bearer same']);
  });

  it('303, and 302 after a POST, become a GET without a body', async () => {
    for (const status of [303, 302]) {
      const r = await httpRequest(new URL(`${plainUrl}/redirect?status=${status}`), { method: 'POST', body: 'payload', headers: { 'content-type': 'application/json' } });
      expect(r.body.toString()).toBe('GET /landed:');
    }
  });

  it('a redirect to another origin drops the authorization (as fetch does), so a blob host never sees the token', async () => {
    const r = await httpRequest(new URL(`${plainUrl}/redirect?status=302&to=other`), { headers: { authorization: 'Bearer secret', accept: 'application/octet-stream' } });
    expect(r.body.toString()).toBe('other:');
    expect(seen.map((s) => [s.server, s.authorization])).toEqual([
      ['plain', 'Bearer secret'],
      ['other', undefined],
    ]);
  });

  it("redirect: 'error' refuses to follow; an endless loop stops after 20", async () => {
    await expect(httpRequest(new URL(`${plainUrl}/redirect?status=302`), { redirect: 'error' })).rejects.toBeInstanceOf(HttpAnswerRefused);
    expect(seen).toHaveLength(1);
    await expect(httpRequest(new URL(`${plainUrl}/loop`))).rejects.toThrow(/more than 20 redirects/);
    expect(seen).toHaveLength(1 + 21);
  });
});

describe('bounds', () => {
  it('a server that never answers fails with a TimeoutError after the timeout', async () => {
    const t0 = Date.now();
    const error = await httpRequest(new URL(`${plainUrl}/silent`), { timeoutMs: 300 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(HttpTimeoutError);
    expect((error as Error).name).toBe('TimeoutError');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('a body over the bound is refused; within it, it is whole', async () => {
    await expect(httpRequest(new URL(`${plainUrl}/big`), { maxBodyBytes: 1024 })).rejects.toBeInstanceOf(HttpAnswerRefused);
    expect((await httpRequest(new URL(`${plainUrl}/big`), { maxBodyBytes: 64 * 1024 })).body.length).toBe(64 * 1024);
  });

  it('an answer cut short is an error, not a short body', async () => {
    await expect(httpRequest(new URL(`${plainUrl}/cut`))).rejects.toThrow();
  });
});
