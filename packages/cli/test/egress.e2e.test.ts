import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let server: http.Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-egress-'));
  server = http.createServer((_req, res) => {
    hits += 1;
    res.end('hello from loopback\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

// Async spawn: the test's own HTTP server must keep serving while the CLI runs.
function swarm(args: string[], extraEnv: NodeJS.ProcessEnv = {}, cwd = tmp): Promise<{ code: number | null; envelope: any }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--json'], {
      cwd,
      env: { ...process.env, SWARM_HOME: path.join(tmp, 'home'), ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('close', (code) => resolve({ code, envelope: JSON.parse(out.trim()) }));
  });
}

const CURL = (url: string) => `curl -sS -m 5 -o /dev/null -w "proxied %{http_code}\\n" ${url}; curl -sS -m 3 --noproxy '*' -o /dev/null ${url} && echo "direct reached" || echo "direct blocked"`;

describe('swarm run launch with egress through the net_cap broker', () => {
  it('lets an allowed host through, blocks direct connections, and records the decisions', async () => {
    const before = hits;
    const r = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'allowed', '--allow-host', `127.0.0.1:${port}`, '--step', CURL(`http://127.0.0.1:${port}/`)]);
    expect(r.code).toBe(0);
    expect(r.envelope.data.sandbox).toBe('bwrap');
    const dir = path.join(tmp, '.swarm/runs/allowed');
    const log = fs.readFileSync(path.join(dir, 'step.log'), 'utf8');
    expect(log).toContain('proxied 200');
    expect(log).toContain('direct blocked');
    expect(hits - before).toBe(1); // only the proxied request reached the server
    const result = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
    expect(result.egress).toMatchObject({ requests: 1, allowed: 1, denied: 0 });
    const policy = JSON.parse(fs.readFileSync(path.join(dir, 'policy.json'), 'utf8'));
    expect(policy.egress).toEqual({ allowlist: [`127.0.0.1:${port}`], sandbox: 'bwrap' });
    const decisions = fs.readFileSync(path.join(dir, 'egress.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(decisions.map((d) => d.decision)).toEqual(['allowed']);
  });

  it('denies a host that is not on the allowlist with 403 (default allowlist: empty)', async () => {
    const before = hits;
    const r = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'denied', '--step', CURL(`http://127.0.0.1:${port}/`)]);
    expect(r.code).toBe(0);
    const dir = path.join(tmp, '.swarm/runs/denied');
    expect(fs.readFileSync(path.join(dir, 'step.log'), 'utf8')).toContain('proxied 403');
    expect(hits).toBe(before);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')).egress).toMatchObject({ allowed: 0, denied: 1 });
  });

  it('never writes the ticket secret to the step log', async () => {
    const r = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'env', '--step', 'echo "$HTTP_PROXY"']);
    expect(r.code).toBe(0);
    const log = fs.readFileSync(path.join(tmp, '.swarm/runs/env/step.log'), 'utf8');
    expect(log).toContain('[REDACTED]');
    expect(log).not.toMatch(/:[A-Za-z0-9_-]{16,}@/);
  });

  it('hides the operator keys from the step, even from a step that is root inside and tries to unmount', async () => {
    const keys = path.join(tmp, 'home', 'keys');
    const r = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'keys', '--step',
      `echo "home=[$SWARM_HOME]"; umount ${keys} 2>/dev/null; cat ${keys}/root.secret ${keys}/signing.ed25519.pem 2>/dev/null | od -An -tx1 | head -c 200; echo done`]);
    expect(r.code).toBe(0);
    const log = fs.readFileSync(path.join(tmp, '.swarm/runs/keys/step.log'), 'utf8');
    expect(log).toBe('home=[]\ndone\n');
    const secret = fs.readFileSync(path.join(keys, 'root.secret')).toString('hex');
    expect(log.replace(/\s/g, '')).not.toContain(secret.slice(0, 16));
  });

  it('refuses with exit 6 when no sandbox can be made, unless --unsandboxed-egress', async () => {
    // A project and home of its own, where the operator has turned the sandbox off.
    // (Outside tmp: a .swarm store above a directory would be found, like .git.)
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-nosandbox-'));
    onTestFinished(() => fs.rmSync(project, { recursive: true, force: true }));
    const noSandbox = { SWARM_HOME: path.join(tmp, 'home-nosandbox') };
    expect((await swarm(['config', 'set', 'egress.sandbox', 'off'], noSandbox, project)).code).toBe(0);
    const refused = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'nosandbox', '--step', 'true'], noSandbox, project);
    expect(refused.code).toBe(6);
    expect(refused.envelope.error.code).toBe('NET_CAP_SANDBOX_UNAVAILABLE');
    expect(fs.existsSync(path.join(project, '.swarm/runs/nosandbox'))).toBe(false);
    const allowed = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'unsandboxed', '--unsandboxed-egress', '--step', 'true'], noSandbox, project);
    expect(allowed.code).toBe(0);
    expect(allowed.envelope.data.sandbox).toBe('unsandboxed');
    const cert = JSON.parse(fs.readFileSync(path.join(project, '.swarm/runs/unsandboxed/certificate.json'), 'utf8'));
    expect(cert.swarm.sandbox).toBe('unsandboxed');
  });

  it('refuses with exit 6 and names bubblewrap when it is missing; nothing of the run is left', async () => {
    const missing = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'no-bwrap', '--step', 'true'], { SWARM_BWRAP: path.join(tmp, 'no-bwrap') });
    expect(missing.code).toBe(6);
    expect(missing.envelope.error.code).toBe('NET_CAP_SANDBOX_UNAVAILABLE');
    expect(missing.envelope.error.message + JSON.stringify(missing.envelope.error.details ?? {})).toMatch(/bubblewrap/);
    expect(fs.existsSync(path.join(tmp, '.swarm/runs/no-bwrap'))).toBe(false);
  });

  it('turns a sandbox that fails to set up into exit 6 with the fix, before the step runs', async () => {
    // A bwrap that fails as it does where user namespaces are refused (the step never starts).
    const fake = path.join(tmp, 'failing-bwrap');
    const ran = path.join(tmp, 'step-ran');
    fs.writeFileSync(fake, '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n', { mode: 0o755 });
    const r = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'setup-fails', '--step', `touch ${ran}`], { SWARM_BWRAP: fake });
    expect(r.code).toBe(6);
    expect(r.envelope.error.code).toBe('NET_CAP_SANDBOX_UNAVAILABLE');
    expect(r.envelope.error.details.output).toBe('bwrap: setting up uid map: Permission denied');
    expect(fs.existsSync(ran)).toBe(false);
    expect(fs.existsSync(path.join(tmp, '.swarm/runs/setup-fails'))).toBe(false);
    // The positive control: the real bwrap runs the same step.
    const ok = await swarm(['run', 'launch', '--node', 'root', '--run-id', 'setup-ok', '--step', 'echo ran']);
    expect(ok.code).toBe(0);
  });
});
