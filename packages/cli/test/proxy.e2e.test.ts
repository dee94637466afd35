/**
 * `swarm proxy ticket | broker | provider` through the built binary (run `npm run build` first),
 * on loopback only, with SWARM_HOME in a temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCapability, validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const NET_CAP = encodeCapability({ version: 1, kind: 'net_cap', state_id: 'state-1', ratchet_step: 3, chain_key: '7e'.repeat(32) });
const STATE_CAP = encodeCapability({ version: 1, kind: 'state_cap', state_id: 'state-1', ratchet_step: 3, chain_key: '7e'.repeat(32) });

let home: string;
let work: string;
let origin: http.Server;
let originPort: number;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function swarm(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, SWARM_HOME: home, NO_COLOR: '1', ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

function envelope(result: Result): { status: string; data: Record<string, unknown>; error?: { code: string } } {
  const lines = result.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  const parsed = JSON.parse(lines[0]!) as { status: string; data: Record<string, unknown>; error?: { code: string } };
  expect(validateDocument('output', parsed).errors).toEqual([]);
  return parsed;
}

/** A long-running swarm command; resolves once a stderr line matches. */
function startLong(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray; stdout: () => string; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, SWARM_HOME: home, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready: ${stderr}`));
    }, 15_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      const match = ready.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, stdout: () => stdout, stderr: () => stderr });
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before ready: ${stderr}`));
    });
  });
}

function exited(child: ChildProcess, timeoutMs = 10_000): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function curl(args: string[], timeoutMs = 20_000): Promise<Result & { status: number }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '15', '-w', '\n%{http_code}', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, status: Number(stdout.trim().split('\n').pop()) });
    });
  });
}

async function mintTicketFile(name: string, extra: string[]): Promise<{ file: string; ticket: Record<string, unknown>; user: string }> {
  const file = path.join(work, name);
  const result = await swarm(['proxy', 'ticket', '--run-id', name, '--out', file, '--json', ...extra], { env: { SWARM_NET_CAP: NET_CAP } });
  expect(result.code).toBe(0);
  const ticket = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { file, ticket, user: envelope(result).data.proxy_user as string };
}

beforeAll(async () => {
  expect(fs.existsSync(path.join(path.dirname(BIN), '..', 'dist', 'main.js')), 'run `npm run build` first').toBe(true);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-home-'));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-work-'));
  const chunk = Buffer.alloc(64 * 1024, 120);
  origin = http.createServer((req, res) => {
    if (req.url === '/slow') {
      // 64 MiB announced, sent slowly: long enough to be cut off in the middle.
      res.writeHead(200, { 'content-length': 64 * 1024 * 1024 });
      const timer = setInterval(() => res.write(chunk), 20);
      res.on('close', () => clearInterval(timer));
      return;
    }
    res.end('hello');
  });
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  originPort = (origin.address() as net.AddressInfo).port;
});

afterAll(async () => {
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
  fs.rmSync(home, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

describe('swarm proxy ticket', () => {
  it('mints from SWARM_NET_CAP with the secret left out', async () => {
    const result = await swarm(['proxy', 'ticket', '--run-id', 'r1', '--allow-host', 'API.example.com.', '--allow-host', '*.cdn.example:443', '--json'], {
      env: { SWARM_NET_CAP: NET_CAP },
    });
    expect(result.code).toBe(0);
    const data = envelope(result).data as { ticket: Record<string, unknown>; secret_revealed: boolean; proxy_user: string };
    expect(validateDocument('ticket', data.ticket).valid).toBe(true);
    expect(data.ticket.secret).toBeUndefined();
    expect(data.secret_revealed).toBe(false);
    expect(data.ticket.allowlist).toEqual(['*.cdn.example:443', 'api.example.com']);
    expect(data.ticket.run_id).toBe('r1');
    expect(fs.statSync(path.join(home, 'keys', 'broker.key')).mode & 0o777).toBe(0o600);
  });

  it('mints from standard input; --reveal shows the secret and --out writes it 0600', async () => {
    const file = path.join(work, 'r2.ticket');
    const quiet = await swarm(['proxy', 'ticket', '--run-id', 'r2', '--out', file, '--json'], { input: `${NET_CAP}\n` });
    expect(quiet.code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const written = JSON.parse(fs.readFileSync(file, 'utf8')) as { secret: string; session_id: string };
    expect(written.secret).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(quiet.stdout + quiet.stderr).not.toContain(written.secret);
    const revealed = await swarm(['proxy', 'ticket', '--run-id', 'r2', '--reveal', '--json'], { input: NET_CAP });
    const data = envelope(revealed).data as { ticket: { secret: string; session_id: string } };
    expect(data.ticket.session_id).toBe(written.session_id);
    expect(typeof data.ticket.secret).toBe('string');
  });

  it.each([
    [[], {}, '', 2, 'NET_CAP_MISSING'],
    [[], {}, 'not-a-token!', 2, 'CAPABILITY_MALFORMED'],
    [[], {}, STATE_CAP, 6, 'CAPABILITY_KIND_MISMATCH'],
    [['--allow-host', 'bad host'], {}, NET_CAP, 2, 'EGRESS_ALLOWLIST_INVALID'],
    [['--ttl', '0'], {}, NET_CAP, 2, 'INVALID_ARGUMENT'],
    [['--route-mode', 'sideways'], {}, NET_CAP, 2, 'INVALID_ARGUMENT'],
    [['--net-cap', NET_CAP], {}, '', 2, 'USAGE'],
  ] as const)('refuses %j (stdin %j) with exit %i', async (extra, env, input, code, errorCode) => {
    const result = await swarm(['proxy', 'ticket', '--run-id', 'bad', ...extra, '--json'], { env, input });
    expect(result.code).toBe(code);
    expect(envelope(result).error?.code).toBe(errorCode);
  });
});

describe('swarm proxy broker', () => {
  it('serves ticket holders, refuses the rest, logs decisions, and stops on SIGTERM', async () => {
    const { file, ticket, user } = await mintTicketFile('b1', ['--allow-host', `127.0.0.1:${originPort}`]);
    const log = path.join(work, 'b1-egress.log');
    const broker = await startLong(['proxy', 'broker', '--listen', '127.0.0.1:0', '--ticket', file, '--log', log, '--json'], /broker listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(broker.match[1]);
    try {
      const secret = ticket.secret as string;
      const ok = await curl(['-x', `http://127.0.0.1:${port}`, '--proxy-user', `${user}:${secret}`, `http://127.0.0.1:${originPort}/`]);
      expect(ok.status).toBe(200);
      // An admitted ticket (--ticket) also accepts the bare session id as the user name.
      const tunnel = await curl(['-p', '-x', `http://127.0.0.1:${port}`, '--proxy-user', `${ticket.session_id as string}:${secret}`, `http://127.0.0.1:${originPort}/`]);
      expect(tunnel.status).toBe(200);
      const denied = await curl(['-x', `http://127.0.0.1:${port}`, '--proxy-user', `${user}:${secret}`, `http://localhost:${originPort}/`]);
      expect(denied.status).toBe(403);
      const wrong = await curl(['-x', `http://127.0.0.1:${port}`, '--proxy-user', `${user}:nope`, `http://127.0.0.1:${originPort}/`]);
      expect(wrong.status).toBe(407);
      expect(fs.existsSync(file)).toBe(true);
    } finally {
      broker.child.kill('SIGTERM');
    }
    expect(await exited(broker.child)).toBe(0);
    const data = envelope({ code: 0, stdout: broker.stdout(), stderr: '' }).data;
    expect(data).toMatchObject({ requests: 4, allowed: 2, denied: 2 });
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(fs.readFileSync(log, 'utf8')).not.toContain(ticket.secret as string);
    expect(broker.stderr()).not.toContain(ticket.secret as string);
  });

  it('needs somewhere to listen', async () => {
    const result = await swarm(['proxy', 'broker', '--json']);
    expect(result.code).toBe(2);
    expect(envelope(result).error?.code).toBe('INVALID_ARGUMENT');
  });
});

describe('swarm proxy provider', () => {
  it('supplies the exit for a client_exit session; killing it mid-transfer fails the client', async () => {
    const { file, ticket, user } = await mintTicketFile('p1', ['--allow-host', `127.0.0.1:${originPort}`, '--route-mode', 'client_exit']);
    const broker = await startLong(['proxy', 'broker', '--listen', '127.0.0.1:0'], /broker listening on 127\.0\.0\.1:(\d+)/);
    const port = Number(broker.match[1]);
    const proxy = ['-x', `http://127.0.0.1:${port}`, '--proxy-user', `${user}:${ticket.secret as string}`];
    try {
      const none = await curl([...proxy, `http://127.0.0.1:${originPort}/`]);
      expect(none.status).toBe(502);
      const provider = await startLong(['proxy', 'provider', '--broker', `127.0.0.1:${port}`, '--ticket', file], /provider registered/);
      try {
        const ok = await curl(['-p', ...proxy, `http://127.0.0.1:${originPort}/`]);
        expect(ok.status).toBe(200);
        expect(ok.stdout.startsWith('hello')).toBe(true);
        const transfer = curl(['-p', ...proxy, '-o', '/dev/null', `http://127.0.0.1:${originPort}/slow`], 30_000);
        await new Promise((resolve) => setTimeout(resolve, 700));
        const killedAt = Date.now();
        provider.child.kill('SIGKILL');
        const result = await transfer;
        expect(result.code).not.toBe(0);
        // Well under the broker's grace for a late clean-end notice: the lost control
        // connection alone must fail the tunnel (a half-open control socket once hid it).
        expect(Date.now() - killedAt).toBeLessThan(3_000);
      } finally {
        provider.child.kill('SIGKILL');
      }
    } finally {
      broker.child.kill('SIGINT');
    }
    expect(await exited(broker.child)).toBe(0);
  });

  it('is refused for a direct-mode ticket and fails without a broker', async () => {
    const { file } = await mintTicketFile('p2', ['--allow-host', `127.0.0.1:${originPort}`]);
    const refused = await swarm(['proxy', 'provider', '--broker', '127.0.0.1:9', '--ticket', file, '--json']);
    expect(refused.code).toBe(6);
    expect(envelope(refused).error?.code).toBe('PROVIDER_REJECTED');
    const exit = await mintTicketFile('p3', ['--route-mode', 'client_exit']);
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const deadPort = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const unreachable = await swarm(['proxy', 'provider', '--broker', `127.0.0.1:${deadPort}`, '--ticket', exit.file, '--json']);
    expect(unreachable.code).toBe(4);
    expect(envelope(unreachable).error?.code).toBe('PROVIDER_CONNECT_FAILED');
  });
});
