/**
 * Can an egress sandbox be made here? `probeSandbox` really tries: it starts the launcher in a
 * fresh user + network namespace, checks that the Unix-socket bridge to the host works, and that
 * a loopback TCP port listening on the host cannot be reached from inside. When it fails it says
 * why (user namespaces restricted by sysctl or AppArmor, a container policy, missing tools).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MISSING_TOOL_HINTS, findSandboxTools, unshareArgv, type SandboxTools } from './tools.js';

export interface SandboxProbe {
  ok: boolean;
  kind: 'netns' | null;
  detail: string;
  hint?: string;
}

const PROBE_TIMEOUT_MS = 10_000;

export async function probeSandbox(env: NodeJS.ProcessEnv = process.env): Promise<SandboxProbe> {
  const tools = locate(env);
  if (!('launcher' in tools)) return tools;
  const dir = fs.mkdtempSync(path.join(shortTempDir(), 'swarm-probe-'));
  const socketPath = path.join(dir, 'p.sock');
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
    const argv = [
      ...unshareArgv(tools),
      tools.node,
      tools.launcher,
      '--socket',
      socketPath,
      '--port',
      '0',
      `--${tools.loopback.tool}`,
      tools.loopback.path,
      '--self-test',
      String(hostPort),
      '--nonce',
      nonce,
    ];
    const run = await runCommand(argv, env, PROBE_TIMEOUT_MS);
    if (run.timedOut) return failure('the sandbox probe did not finish within 10 s', 'check `unshare --user --map-root-user --net true` by hand');
    if (run.code !== 0 && !run.stdout.includes('"bridge"')) return explainUnshareFailure(run.stderr, run.spawnError);
    let report: { bridge?: boolean; isolated?: boolean } = {};
    try {
      report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as typeof report;
    } catch {
      return failure(`the sandbox launcher gave no report: ${firstLine(run.stderr)}`);
    }
    if (!report.bridge) return failure('inside the namespace, the Unix-socket bridge to the broker did not work');
    if (!report.isolated || hostConnections > 0) {
      return failure('inside the namespace, a loopback port of the host was reachable: the namespace does not isolate the network');
    }
    return {
      ok: true,
      kind: 'netns',
      detail: `user + network namespace via ${tools.unshare}, loopback via ${tools.loopback.tool}, broker bridged over a Unix socket`,
    };
  } catch (error) {
    return failure(`the sandbox probe failed: ${(error as Error).message}`);
  } finally {
    echo.close();
    host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A fast check for each run: can a user + network namespace be made and loopback brought up?
 * (`probeSandbox` is the thorough one, for `swarm doctor`.)
 */
export async function quickProbeSandbox(env: NodeJS.ProcessEnv = process.env): Promise<SandboxProbe & { tools?: SandboxTools }> {
  const tools = locate(env);
  if (!('launcher' in tools)) return tools;
  const loopback = tools.loopback.tool === 'ip' ? [tools.loopback.path, 'link', 'set', 'lo', 'up'] : [tools.loopback.path, 'lo', 'up'];
  const run = await runCommand([...unshareArgv(tools), ...loopback], env, PROBE_TIMEOUT_MS);
  if (run.timedOut) return failure('making a network namespace did not finish within 10 s');
  if (run.code !== 0) return explainUnshareFailure(run.stderr, run.spawnError);
  return { ok: true, kind: 'netns', detail: 'user + network namespace available', tools };
}

/** A temporary directory short enough for Unix socket paths (about 107 bytes at most). */
export function shortTempDir(): string {
  const tmp = os.tmpdir();
  return Buffer.byteLength(tmp) <= 60 ? tmp : '/tmp';
}

function locate(env: NodeJS.ProcessEnv): SandboxTools | SandboxProbe {
  if (process.platform !== 'linux') {
    return failure(`network namespaces need Linux (this is ${process.platform})`, 'run with --unsandboxed-egress, or on Linux');
  }
  const tools = findSandboxTools(env);
  if (typeof tools === 'string') return failure(MISSING_TOOL_HINTS[tools].detail, MISSING_TOOL_HINTS[tools].hint);
  return tools;
}

function failure(detail: string, hint?: string): SandboxProbe {
  return hint === undefined ? { ok: false, kind: null, detail } : { ok: false, kind: null, detail, hint };
}

/** Turns an `unshare` failure into the reason a person can act on. */
export function explainUnshareFailure(stderr: string, spawnError?: NodeJS.ErrnoException): SandboxProbe {
  if (spawnError) return failure(`cannot run unshare (${spawnError.code ?? spawnError.message})`, 'install util-linux');
  const readSysctl = (file: string): string | null => {
    try {
      return fs.readFileSync(file, 'utf8').trim();
    } catch {
      return null;
    }
  };
  const text = firstLine(stderr);
  if (readSysctl('/proc/sys/kernel/unprivileged_userns_clone') === '0') {
    return failure(
      `unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): ${text}`,
      'sudo sysctl -w kernel.unprivileged_userns_clone=1 (or run with --unsandboxed-egress)',
    );
  }
  if (readSysctl('/proc/sys/user/max_user_namespaces') === '0') {
    return failure(
      `user namespaces are disabled (user.max_user_namespaces = 0): ${text}`,
      'sudo sysctl -w user.max_user_namespaces=15000 (or run with --unsandboxed-egress)',
    );
  }
  if (readSysctl('/proc/sys/kernel/apparmor_restrict_unprivileged_userns') === '1') {
    return failure(
      `AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): ${text}`,
      'allow user namespaces for node with an AppArmor profile, or sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
    );
  }
  if (/operation not permitted|permission denied/i.test(stderr)) {
    return failure(
      `creating a user + network namespace is not permitted here (a container's seccomp profile or missing privileges): ${text}`,
      'in Docker, run with --security-opt seccomp=unconfined (or --privileged); otherwise run with --unsandboxed-egress',
    );
  }
  if (/swarm sandbox: cannot bring up loopback/.test(stderr)) {
    return failure(`inside the namespace, loopback could not be brought up: ${text}`, 'check that `ip link set lo up` works in `unshare --user --map-root-user --net`');
  }
  return failure(`cannot make a network namespace: ${text || 'unshare failed'}`);
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}

interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  spawnError?: NodeJS.ErrnoException;
}

function runCommand(argv: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandRun> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < 65_536) stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 65_536) stderr += chunk;
    });
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, timedOut, spawnError: error });
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
