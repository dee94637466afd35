/**
 * A ticket's connections end with the ticket: at its expiry, and at once when its session is
 * revoked (by the API or the revocation file). Each test first shows the connection alive and
 * usable, so its closing is the broker's doing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationList, connectProvider } from '@swarm/proxy';
import { basic, connectTunnel, nowUnix, proxyRequest, startBroker, startEchoServer, startOrigin, waitFor, type Origin } from './helpers.js';
import type net from 'node:net';

let origin: Origin;
let echo: { port: number; close(): Promise<void> };

beforeAll(async () => {
  origin = await startOrigin();
  echo = await startEchoServer();
});

afterAll(async () => {
  await origin.close();
  await echo.close();
});

/** Writes a line through an open tunnel and waits for the echo (bounded). */
function echoes(socket: net.Socket, text: string): Promise<boolean> {
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => done(false), 2_000);
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('latin1');
      if (got.includes(text)) done(true);
    };
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      resolve(ok);
    };
    socket.on('data', onData);
    socket.resume();
    socket.write(text);
  });
}

function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('tunnels end with their ticket', () => {
  it('closes a CONNECT tunnel when its ticket expires, and leaves a live ticket’s tunnel open', async () => {
    const b = await startBroker([`127.0.0.1:${echo.port}`]);
    try {
      const short = b.mint({ runId: 'short', expiresAtUnix: nowUnix() + 2 });
      b.broker.admit(short);
      const dying = await connectTunnel(b.port, `127.0.0.1:${echo.port}`, basic(short.session_id, short.secret));
      const living = await connectTunnel(b.port, `127.0.0.1:${echo.port}`, b.auth);
      dying.socket.on('error', () => {});
      expect([dying.status, living.status]).toEqual([200, 200]);
      expect(await echoes(dying.socket, 'before expiry\n')).toBe(true);
      expect(await closedWithin(dying.socket, 4_000)).toBe(true);
      expect(await echoes(living.socket, 'still here\n')).toBe(true);
      living.socket.destroy();
      await waitFor(() => b.decisions.some((d) => d.run_id === 'short'));
      expect(b.decisions.find((d) => d.run_id === 'short')).toMatchObject({ method: 'CONNECT', reason: 'closed_expired', status: 200 });
    } finally {
      await b.close();
    }
  }, 10_000);

  it('closes an in-flight plain request at once when the session is revoked', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`]);
    try {
      let settled = false;
      const pending = proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hang`, b.auth, { timeoutMs: 8_000 }).then(
        () => 'answered',
        (error: NodeJS.ErrnoException) => error.code ?? 'error',
      );
      void pending.then(() => (settled = true));
      await waitFor(() => b.broker.stats().requests === 1);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled).toBe(false);
      const started = Date.now();
      b.broker.revoke(b.ticket.session_id);
      expect(await pending).toBe('ECONNRESET');
      expect(Date.now() - started).toBeLessThan(2_000);
      await waitFor(() => b.decisions.length === 1);
      expect(b.decisions[0]).toMatchObject({ method: 'GET', decision: 'allowed', reason: 'closed_revoked' });
    } finally {
      await b.close();
    }
  }, 10_000);

  it('closes an in-flight plain request when its ticket expires', async () => {
    const b = await startBroker([`127.0.0.1:${origin.port}`]);
    try {
      const short = b.mint({ runId: 'short-http', expiresAtUnix: nowUnix() + 2 });
      b.broker.admit(short);
      const started = Date.now();
      const outcome = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hang`, basic(short.session_id, short.secret), { timeoutMs: 8_000 }).then(
        () => 'answered',
        (error: NodeJS.ErrnoException) => error.code ?? 'error',
      );
      expect(outcome).toBe('ECONNRESET');
      expect(Date.now() - started).toBeGreaterThan(500);
      await waitFor(() => b.decisions.length === 1);
      expect(b.decisions[0]).toMatchObject({ run_id: 'short-http', reason: 'closed_expired' });
    } finally {
      await b.close();
    }
  }, 10_000);

  it('closes tunnels revoked through the file, and a deleted file does not lift the revocation', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-revoke-'));
    const file = path.join(dir, 'revoked');
    fs.writeFileSync(file, '');
    const revocations = new RevocationList({ file, pollMs: 50 });
    revocations.watch();
    const b = await startBroker([`127.0.0.1:${echo.port}`, `127.0.0.1:${origin.port}`], { revocations });
    try {
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${echo.port}`, b.auth);
      tunnel.socket.on('error', () => {});
      expect(await echoes(tunnel.socket, 'open\n')).toBe(true);
      fs.appendFileSync(file, `${b.ticket.session_id}\n`);
      expect(await closedWithin(tunnel.socket, 3_000)).toBe(true);
      fs.rmSync(file);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const res = await proxyRequest(b.port, `http://127.0.0.1:${origin.port}/hello`, b.auth);
      expect([res.status, res.headers['x-swarm-reason']]).toEqual([403, 'revoked']);
      expect(b.decisions.find((d) => d.method === 'CONNECT')).toMatchObject({ reason: 'closed_revoked' });
    } finally {
      revocations.close();
      await b.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 10_000);
});

describe('providers end with their ticket', () => {
  it('closes a provider’s control connection and tunnels at expiry by the broker’s clock, and not before', async () => {
    const expiresAtUnix = nowUnix() + 600;
    // The broker's clock stands one second before expiry until the test moves it on.
    let now = (expiresAtUnix - 1) * 1000;
    const clock = { now: () => now, fixed: true };
    const b = await startBroker([`127.0.0.1:${echo.port}`], { routeMode: 'client_exit', clock });
    const ticket = b.mint({ runId: 'exit-short', routeMode: 'client_exit', expiresAtUnix });
    b.broker.admit(ticket);
    const auth = basic(ticket.session_id, ticket.secret);
    const provider = await connectProvider({ broker: { host: '127.0.0.1', port: b.port }, ticket });
    let lost: unknown = 'open';
    void provider.closed.then((error) => (lost = error));
    try {
      const first = await connectTunnel(b.port, `127.0.0.1:${echo.port}`, auth);
      expect(first.status).toBe(200);
      expect(await echoes(first.socket, 'through the provider\n')).toBe(true);
      first.socket.destroy();
      // Longer than the one second the broker's timer waits: it fires, sees time left, and re-arms.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect([lost, b.broker.stats().providers]).toEqual(['open', 1]);
      const tunnel = await connectTunnel(b.port, `127.0.0.1:${echo.port}`, auth);
      tunnel.socket.on('error', () => {});
      expect(tunnel.status).toBe(200);
      expect(await echoes(tunnel.socket, 'still before expiry\n')).toBe(true);

      now = expiresAtUnix * 1000;
      const outcome = await Promise.race([provider.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 4_000))]);
      expect(outcome).toMatchObject({ code: 'PROVIDER_DISCONNECTED' });
      expect(await closedWithin(tunnel.socket, 2_000)).toBe(true);
      await waitFor(() => b.broker.stats().providers === 0, 2_000);
      await waitFor(() => b.decisions.filter((d) => d.run_id === 'exit-short').length === 2);
      expect(b.decisions.filter((d) => d.run_id === 'exit-short').map((d) => d.reason)).toEqual(['allowed', 'closed_expired']);
      const after = await proxyRequest(b.port, `http://127.0.0.1:${echo.port}/`, auth);
      expect([after.status, after.headers['x-swarm-reason']]).toEqual([403, 'expired']);
    } finally {
      await provider.close();
      await b.close();
    }
  }, 15_000);
});
