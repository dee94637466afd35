/**
 * The egress sandbox end to end: createEgressProvider().open(), then real `curl` runs through
 * wrap() with the session's environment. Needs Linux user + network namespaces, curl, and the
 * built launcher (`npm run build`); these are checked up front so a missing piece fails loudly.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EgressSession } from '@swarm/core';
import { createEgressProvider, findSandboxTools, probeSandbox, summarizeEgressLog } from '@swarm/proxy';
import { CHAIN_KEY, patternBytes, sha256, startOrigin, type Origin } from './helpers.js';
import { explainUnshareFailure } from '../src/sandbox/probe.js';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** curl inside the session's sandbox; prints the HTTP status last. */
function curl(session: EgressSession, args: string[]): Promise<Run> {
  return run(session.wrap(['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]), session.env);
}

function statusOf(result: Run): number {
  return Number(result.stdout.trim().split('\n').pop());
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

let origin: Origin;
let workDir: string;

beforeAll(async () => {
  expect(hasCurl, 'curl must be installed for the sandbox tests').toBe(true);
  expect(typeof findSandboxTools(), 'unshare, ip and the built launcher (npm run build) are needed').toBe('object');
  origin = await startOrigin();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-sandbox-test-'));
});

afterAll(async () => {
  await origin.close();
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('probeSandbox', () => {
  it('really makes a namespace, bridges a Unix socket in, and cannot reach the host loopback', async () => {
    const probe = await probeSandbox(process.env);
    expect(probe).toMatchObject({ ok: true, kind: 'netns' });
  });

  it('explains a refused unshare with a hint', () => {
    const result = explainUnshareFailure('unshare: unshare failed: Operation not permitted\n');
    expect(result.ok).toBe(false);
    expect(result.kind).toBeNull();
    expect(result.hint).toBeTruthy();
    expect(explainUnshareFailure('', Object.assign(new Error('spawn unshare ENOENT'), { code: 'ENOENT' })).ok).toBe(false);
  });
});

describe('a step in the egress sandbox', () => {
  let now = Date.now();
  const clock = { now: () => now, fixed: false };
  let session: EgressSession;
  let runDir: string;

  beforeAll(async () => {
    // A long run directory: the broker's socket must still fit the Unix path limit.
    runDir = path.join(workDir, 'r'.repeat(120), 'run-1');
    session = await createEgressProvider({ clock }).open({
      runId: 'run-1',
      runDir,
      allowlist: [`127.0.0.1:${origin.port}`],
      routeMode: 'direct',
      netCapChainKey: CHAIN_KEY,
      expiresAtUnix: Math.floor(now / 1000) + 600,
      unsandboxed: false,
    });
  });

  afterAll(() => session.close());

  it('runs in a network namespace with every proxy variable set and NO_PROXY empty', () => {
    expect(session.sandbox).toBe('netns');
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy']) {
      expect(session.env[name]).toMatch(/^http:\/\/[A-Za-z0-9_-]+:[A-Za-z0-9_-]+@127\.0\.0\.1:\d+$/);
    }
    expect(session.env.NO_PROXY).toBe('');
    expect(session.env.no_proxy).toBe('');
    const secret = new URL(session.env.HTTP_PROXY!).password;
    expect(session.secrets).toContain(secret);
  });

  it('reaches an allowed loopback server through the proxy', async () => {
    const result = await curl(session, [`http://127.0.0.1:${origin.port}/hello`]);
    expect(statusOf(result)).toBe(200);
    expect(result.stdout.startsWith('hello')).toBe(true);
    const tunnelled = await curl(session, ['--proxytunnel', `http://127.0.0.1:${origin.port}/hello`]);
    expect(statusOf(tunnelled)).toBe(200);
  });

  it('gets 403 for a host not on the list', async () => {
    const result = await curl(session, [`http://localhost:${origin.port}/hello`]);
    expect(statusOf(result)).toBe(403);
  });

  it('gets 407 with a wrong secret', async () => {
    const proxy = new URL(session.env.HTTP_PROXY!);
    proxy.password = 'wrong-secret-wrong-secret';
    const result = await curl(session, ['--proxy', proxy.toString(), `http://127.0.0.1:${origin.port}/hello`]);
    expect(statusOf(result)).toBe(407);
  });

  it('cannot connect anywhere directly when the proxy variables are ignored', async () => {
    const before = origin.connections;
    const result = await curl(session, ['--noproxy', '*', `http://127.0.0.1:${origin.port}/hello`]);
    expect(result.code).toBe(7); // curl: could not connect
    expect(origin.connections).toBe(before);
  });

  it('carries a multi-megabyte download and upload intact through a CONNECT tunnel', async () => {
    const size = 6 * 1024 * 1024 + 3;
    const file = path.join(workDir, 'down.bin');
    const down = await curl(session, ['--proxytunnel', '-o', file, `http://127.0.0.1:${origin.port}/bytes?n=${size}`]);
    expect(statusOf(down)).toBe(200);
    expect(sha256(fs.readFileSync(file))).toBe(sha256(patternBytes('origin', size)));
    const upload = path.join(workDir, 'up.bin');
    fs.writeFileSync(upload, patternBytes('upload', 3 * 1024 * 1024 + 1));
    const echoed = path.join(workDir, 'echoed.bin');
    const up = await curl(session, ['--proxytunnel', '--data-binary', `@${upload}`, '-o', echoed, `http://127.0.0.1:${origin.port}/echo`]);
    expect(statusOf(up)).toBe(200);
    expect(sha256(fs.readFileSync(echoed))).toBe(sha256(fs.readFileSync(upload)));
  });

  it('passes the step’s exit status through', async () => {
    expect((await run(session.wrap(['sh', '-c', 'exit 7']), session.env)).code).toBe(7);
    expect((await run(session.wrap(['sh', '-c', 'exit 0']), session.env)).code).toBe(0);
    expect((await run(session.wrap(['no-such-command-here']), session.env)).code).toBe(127);
  });

  it('forwards SIGTERM to the step and exits by the same signal', async () => {
    const marker = path.join(workDir, 'term.txt');
    const argv = session.wrap(['sh', '-c', `trap 'echo got-term > ${marker}; exit 143' TERM; while :; do sleep 0.05; done`]);
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...session.env }, stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const result = await exited;
    clearTimeout(timer);
    expect(fs.readFileSync(marker, 'utf8').trim()).toBe('got-term');
    expect(result.code).toBe(143);
  });

  it('keeps the step in the process group of whoever started it', async () => {
    const argv = session.wrap(['sh', '-c', 'echo $(cut -d" " -f5 /proc/$$/stat)']);
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...session.env }, stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    await new Promise((resolve) => child.on('close', resolve));
    expect(Number(out.trim())).toBe(child.pid);
  });

  it('gets 403 once the ticket has expired', async () => {
    now += 601_000;
    try {
      const result = await curl(session, [`http://127.0.0.1:${origin.port}/hello`]);
      expect(statusOf(result)).toBe(403);
    } finally {
      now -= 601_000;
    }
  });

  it('logs one decision per request without secrets, and summarises them on close', async () => {
    const summary = await session.close();
    const log = fs.readFileSync(path.join(runDir, 'egress.log'), 'utf8');
    for (const secret of session.secrets) expect(log).not.toContain(secret);
    const lines = log.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(summary.requests);
    expect(summary).toMatchObject({ requests: 7, allowed: 4, denied: 3, hosts: [`127.0.0.1:${origin.port}`] });
    expect(await summarizeEgressLog(path.join(runDir, 'egress.log'))).toEqual(summary);
    expect(summary.bytes_in).toBeGreaterThan(9 * 1024 * 1024);
  });
});

describe('when swarm is not root', () => {
  const canSwitch = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;

  it.skipIf(!canSwitch)('runs the step as the caller’s own uid, still with egress only through the broker', async () => {
    const dist = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../dist/index.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-nonroot-'));
    fs.chmodSync(dir, 0o777);
    const script = path.join(dir, 'run.mjs');
    fs.writeFileSync(
      script,
      `import { execFile } from 'node:child_process';
import { createEgressProvider } from ${JSON.stringify(dist)};
const session = await createEgressProvider().open({ runId: 'nobody', runDir: ${JSON.stringify(path.join(dir, 'run'))},
  allowlist: ['127.0.0.1:${origin.port}'], routeMode: 'direct', netCapChainKey: '${CHAIN_KEY}',
  expiresAtUnix: Math.floor(Date.now() / 1000) + 60, unsandboxed: false });
// Asynchronous on purpose: the broker runs in this process and must keep serving.
const step = (argv) => new Promise((resolve) => { const a = session.wrap(argv); execFile(a[0], a.slice(1), { env: { ...process.env, ...session.env }, encoding: 'utf8' }, (e, out) => resolve(e ? 'exit ' + e.code : out)); });
const out = { uid: (await step(['id', '-u'])).trim(), viaProxy: await step(['curl', '-sS', 'http://127.0.0.1:${origin.port}/hello']), direct: await step(['curl', '-sS', '--noproxy', '*', 'http://127.0.0.1:${origin.port}/hello']) };
await session.close();
console.log(JSON.stringify(out));
`,
    );
    fs.chmodSync(script, 0o644);
    const result = await run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script], { HOME: dir });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual({ uid: '65534', viaProxy: 'hello', direct: 'exit 7' });
  });
});

describe('egress sessions', () => {
  const request = () => ({
    runId: 'run-2',
    runDir: path.join(workDir, 'run-2'),
    allowlist: [`127.0.0.1:${origin.port}`],
    routeMode: 'direct' as const,
    netCapChainKey: CHAIN_KEY,
    expiresAtUnix: Math.floor(Date.now() / 1000) + 600,
    unsandboxed: false,
  });

  it('refuses to run without a sandbox unless unsandboxed egress is allowed', async () => {
    await expect(createEgressProvider({ sandbox: 'off' }).open(request())).rejects.toMatchObject({
      code: 'NET_CAP_SANDBOX_UNAVAILABLE',
      exitCode: 6,
    });
  });

  it('with unsandboxed egress, runs the step as is with the proxy variables', async () => {
    const session = await createEgressProvider({ sandbox: 'off' }).open({ ...request(), unsandboxed: true });
    try {
      expect(session.sandbox).toBe('unsandboxed');
      expect(session.wrap(['curl', 'x'])).toEqual(['curl', 'x']);
      const ok = await curl(session, [`http://127.0.0.1:${origin.port}/hello`]);
      expect(statusOf(ok)).toBe(200);
      const denied = await curl(session, [`http://localhost:${origin.port}/hello`]);
      expect(statusOf(denied)).toBe(403);
    } finally {
      await session.close();
    }
  });

  it('client_exit runs through an in-process provider inside the sandbox', async () => {
    const session = await createEgressProvider().open({ ...request(), runId: 'run-3', runDir: path.join(workDir, 'run-3'), routeMode: 'client_exit' });
    try {
      expect(session.sandbox).toBe('netns');
      const result = await curl(session, ['--proxytunnel', `http://127.0.0.1:${origin.port}/hello`]);
      expect(statusOf(result)).toBe(200);
    } finally {
      const summary = await session.close();
      expect(summary.allowed).toBe(1);
      const line = JSON.parse(fs.readFileSync(path.join(workDir, 'run-3', 'egress.log'), 'utf8').trim()) as { reason: string };
      // A finished transfer through the provider is a clean end, not a lost provider.
      expect(line.reason).toBe('allowed');
    }
  });

  it('refuses a ticket that would already be expired, and a bad allowlist', async () => {
    await expect(createEgressProvider().open({ ...request(), expiresAtUnix: 1 })).rejects.toMatchObject({ code: 'TICKET_EXPIRED' });
    await expect(createEgressProvider().open({ ...request(), allowlist: ['not a host'] })).rejects.toMatchObject({
      code: 'EGRESS_ALLOWLIST_INVALID',
    });
  });
});
