/**
 * Can a step sandbox be made here, and which of its guarantees hold? `probeSandbox` really tries
 * (for `swarm doctor` and quickstart): it starts a self-test step in the sandbox and checks each
 * layer from inside. `locateSandbox` only finds the tools (each run detects a failed sandbox
 * set-up itself, at no extra cost). Failures say what to install or which sysctl to change.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import { bwrapArgv } from './bwrap.js';
import { MISSING_TOOL_HINTS, findSandboxTools, type SandboxTools } from './tools.js';

export type SandboxLayer = 'user_namespace' | 'pid_namespace' | 'mount_namespace' | 'network_namespace' | 'hidden_paths' | 'broker_bridge';

export interface SandboxProbe {
  ok: boolean;
  kind: 'bwrap' | null;
  detail: string;
  hint?: string;
  /** Each isolation layer as seen from inside (only when the self-test ran). */
  layers?: Record<SandboxLayer, boolean>;
  tools?: SandboxTools;
}

const PROBE_TIMEOUT_MS = 10_000;

/** The self-test step: each check from inside the sandbox, printed as one JSON line. */
const SELF_TEST = `
const fs = require('node:fs'), net = require('node:net');
const [hostNs, hostPid, work, ro, secret, port, hostPort, nonce] = JSON.parse(process.argv[1]);
const ns = (n) => { try { return fs.readlinkSync('/proc/self/ns/' + n); } catch { return null; } };
const seen = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const writes = (file) => { try { fs.writeFileSync(file, 'x'); return true; } catch { return false; } };
const talk = (p, expect) => new Promise((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: p }); let got = '';
  const t = setTimeout(() => { s.destroy(); resolve(false); }, 2000);
  s.on('connect', () => { if (!expect) { clearTimeout(t); s.destroy(); resolve(true); } else s.write(nonce + '\\n'); });
  s.on('data', (d) => { got += d; if (got.includes(expect)) { clearTimeout(t); s.destroy(); resolve(true); } });
  s.on('error', () => { clearTimeout(t); resolve(false); });
});
(async () => {
  const out = {
    user_namespace: ns('user') !== hostNs.user,
    pid_namespace: ns('pid') !== hostNs.pid && !seen(hostPid),
    mount_namespace: ns('mnt') !== hostNs.mnt && writes(work + '/probe') && !writes(ro + '/probe'),
    hidden_paths: !fs.existsSync(secret + '/key'),
    broker_bridge: await talk(port, 'echo:' + nonce),
    network_namespace: ns('net') !== hostNs.net && !(await talk(hostPort, null)),
  };
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;

export async function probeSandbox(env: NodeJS.ProcessEnv = process.env): Promise<SandboxProbe> {
  const located = locateSandbox(env);
  if (!located.ok || !located.tools) return located;
  const tools = located.tools;
  const dir = fs.mkdtempSync(path.join(shortTempDir(), 'swarm-probe-'));
  const work = path.join(dir, 'work');
  const ro = path.join(dir, 'ro');
  const secret = path.join(dir, 'secret');
  const bridgeDir = path.join(dir, 'bridge');
  for (const d of [work, ro, secret, bridgeDir]) fs.mkdirSync(d);
  fs.writeFileSync(path.join(secret, 'key'), 'probe');
  const socketPath = path.join(bridgeDir, 'p.sock');
  const nonce = crypto.randomBytes(8).toString('hex');
  let hostConnections = 0;
  const echo = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (chunk.includes(nonce)) socket.end(`echo:${nonce}\n`);
    });
  });
  const host = net.createServer((socket) => {
    hostConnections += 1;
    socket.destroy();
  });
  try {
    await listen(echo, { path: socketPath });
    await listen(host, { host: '127.0.0.1', port: 0 });
    const hostPort = (host.address() as net.AddressInfo).port;
    const port = crypto.randomInt(20_000, 60_000);
    const hostNs = Object.fromEntries(['user', 'pid', 'mnt', 'net'].map((n) => [n, fs.readlinkSync(`/proc/self/ns/${n}`)]));
    const argv = bwrapArgv(
      // The probe directory lies under /tmp, which the sandbox covers: `ro` is made visible again
      // read-only, so the mount check really tests the read-only host.
      { tools, layout: { writable: [work], readable: [ro], hidden: [secret], cwd: work }, bridge: { socketPath, port } },
      [process.execPath, '-e', SELF_TEST, JSON.stringify([hostNs, process.pid, work, ro, secret, port, hostPort, nonce])],
    );
    const run = await runCommand(argv, env, PROBE_TIMEOUT_MS);
    if (run.timedOut) return failure('the sandbox self-test did not finish within 10 s', 'check `bwrap --unshare-all --ro-bind / / true` by hand');
    const lastLine = run.stdout.trim().split('\n').pop() ?? '';
    let layers: Record<SandboxLayer, boolean>;
    try {
      layers = JSON.parse(lastLine) as Record<SandboxLayer, boolean>;
      if (typeof layers !== 'object' || layers === null) throw new Error('no report');
    } catch {
      const error = explainSandboxFailure(run.stderr || run.stdout);
      return { ...failure(error.message, error.hint), tools };
    }
    if (hostConnections > 0) layers.network_namespace = false;
    const failed = (Object.keys(layers) as SandboxLayer[]).filter((layer) => !layers[layer]);
    if (failed.length > 0) {
      return { ...failure(`the sandbox does not hold here: ${failed.join(', ')} failed the self-test`), layers, tools };
    }
    return {
      ok: true,
      kind: 'bwrap',
      detail: `bubblewrap (${tools.bwrap}): user, PID, mount, network, IPC and UTS namespaces; read-only host; broker bridged over a Unix socket`,
      layers,
      tools,
    };
  } catch (error) {
    return failure(`the sandbox probe failed: ${(error as Error).message}`);
  } finally {
    echo.close();
    host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Finds the sandbox's tools without starting anything. */
export function locateSandbox(env: NodeJS.ProcessEnv = process.env): SandboxProbe {
  if (process.platform !== 'linux') {
    return failure(`the step sandbox needs Linux namespaces (this is ${process.platform})`, 'run on Linux, or pass --unsandboxed-egress to run with no sandbox at all');
  }
  const tools = findSandboxTools(env);
  if (typeof tools === 'string') return failure(MISSING_TOOL_HINTS[tools].detail, MISSING_TOOL_HINTS[tools].hint);
  return { ok: true, kind: 'bwrap', detail: `bubblewrap at ${tools.bwrap}`, tools };
}

/** A temporary directory short enough for Unix socket paths (about 107 bytes at most). */
export function shortTempDir(): string {
  const tmp = os.tmpdir();
  return Buffer.byteLength(tmp) <= 60 ? tmp : '/tmp';
}

function failure(detail: string, hint?: string): SandboxProbe {
  return hint === undefined ? { ok: false, kind: null, detail } : { ok: false, kind: null, detail, hint };
}

function readSysctl(name: string): string | null {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The sysctls that decide whether unprivileged user namespaces can be made, as doctor shows them. */
export function userNamespaceSysctls(): Record<string, string | null> {
  return Object.fromEntries(
    ['kernel.unprivileged_userns_clone', 'user.max_user_namespaces', 'kernel.apparmor_restrict_unprivileged_userns'].map((name) => [name, readSysctl(name)]),
  );
}

/** Turns what a failed sandbox set-up printed into the reason a person can act on. */
export function explainSandboxFailure(output: string): SwarmError {
  const text = output.trim().split('\n').find((line) => line.startsWith('bwrap:') || line.startsWith('swarm sandbox:')) ?? output.trim().split('\n')[0] ?? '';
  const fail = (detail: string, hint?: string) =>
    new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', `no step sandbox can be made here: ${detail}`, { details: { detail, output: text }, hint });
  if (readSysctl('kernel.unprivileged_userns_clone') === '0') {
    return fail(`unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): ${text}`, 'sudo sysctl -w kernel.unprivileged_userns_clone=1');
  }
  if (readSysctl('user.max_user_namespaces') === '0') {
    return fail(`user namespaces are disabled (user.max_user_namespaces = 0): ${text}`, 'sudo sysctl -w user.max_user_namespaces=15000');
  }
  if (readSysctl('kernel.apparmor_restrict_unprivileged_userns') === '1') {
    return fail(
      `AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, the Ubuntu 24.04 default): ${text}`,
      'sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (to keep it, add it to /etc/sysctl.d/), or give bwrap an AppArmor profile that allows userns',
    );
  }
  if (/operation not permitted|permission denied/i.test(text)) {
    return fail(
      `creating namespaces is not permitted here (a container's seccomp profile or missing privileges): ${text}`,
      'in Docker, run with --security-opt seccomp=unconfined (or --privileged)',
    );
  }
  return fail(text || 'bubblewrap failed before the step started');
}

interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runCommand(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandRun> {
  return new Promise((resolve) => {
    // Pipes for bwrap's info fd and swarm-init's report fd: writing to a closed fd would fail.
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    for (const pipe of child.stdio.slice(3)) (pipe as NodeJS.ReadableStream | null)?.resume();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 65_536) stdout += chunk;
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 65_536) stderr += chunk;
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}swarm sandbox: cannot run bwrap (${error.code ?? error.message})\n`, timedOut });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

function listen(server: net.Server, target: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if ('path' in target) server.listen(target.path, () => resolve());
    else server.listen(target.port, target.host, () => resolve());
  });
}
