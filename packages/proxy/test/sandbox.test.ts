/**
 * The step sandbox end to end: createEgressProvider().open(), then real `curl` and shell steps
 * run through wrap() with the session's environment, as the engine runs them. Needs bubblewrap,
 * curl and the built swarm-init (`npm run build`); these are checked up front so a missing piece
 * fails loudly. The hostile-step suite (packages/cli/test/hostile-steps.e2e.test.ts) replays
 * attacks against whole runs.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EgressRequest, EgressSession, SandboxLayout } from '@swarm/core';
import { createEgressProvider, locateSandbox, probeSandbox, summarizeEgressLog } from '@swarm/proxy';
import { CHAIN_KEY, patternBytes, sha256, startOrigin, type Origin } from './helpers.js';
import { runSandboxed, type SandboxRun } from './sandbox-run.js';
import { explainSandboxFailure } from '../src/sandbox/probe.js';

type Run = SandboxRun;

function run(session: EgressSession, argv: string[], timeoutMs = 20_000): Promise<Run> {
  return runSandboxed(session.wrap(argv), { ...process.env, ...session.env } as Record<string, string>, { timeoutMs });
}

/** curl inside the session's sandbox; prints the HTTP status last. */
function curl(session: EgressSession, args: string[]): Promise<Run> {
  return run(session, ['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args]);
}

function layoutFor(dir: string): SandboxLayout {
  return { writable: [dir], readable: [], hidden: [], cwd: dir };
}

function statusOf(result: Run): number {
  return Number(result.stdout.trim().split('\n').pop());
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

let origin: Origin;
let workDir: string;

beforeAll(async () => {
  expect(hasCurl, 'curl must be installed for the sandbox tests').toBe(true);
  expect(locateSandbox().ok, 'bubblewrap and the built swarm-init (npm run build) are needed').toBe(true);
  origin = await startOrigin();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-sandbox-test-'));
});

afterAll(async () => {
  await origin.close();
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('probeSandbox', () => {
  it('really builds the sandbox and checks every layer from inside', async () => {
    const probe = await probeSandbox(process.env);
    expect(probe).toMatchObject({
      ok: true,
      kind: 'bwrap',
      layers: { user_namespace: true, pid_namespace: true, mount_namespace: true, network_namespace: true, hidden_paths: true, broker_bridge: true },
    });
  });

  it('names bubblewrap when it is missing, and refuses to open a session without it', async () => {
    const env = { ...process.env, SWARM_BWRAP: path.join(workDir, 'no-bwrap-here') };
    const probe = await probeSandbox(env);
    expect(probe.ok).toBe(false);
    expect(probe.hint).toMatch(/apt-get install bubblewrap/);
    const refused = await createEgressProvider({ env })
      .open({ ...baseRequest('missing'), unsandboxed: false })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'NET_CAP_SANDBOX_UNAVAILABLE', exitCode: 6 });
  });

  it('explains a refused namespace with a hint', () => {
    const error = explainSandboxFailure('bwrap: setting up uid map: Operation not permitted\n');
    expect(error).toMatchObject({ code: 'NET_CAP_SANDBOX_UNAVAILABLE', exitCode: 6 });
    expect((error as { hint?: string }).hint).toBeTruthy();
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
      layout: layoutFor(workDir),
    });
  });

  afterAll(() => session.close());

  it('runs in bubblewrap with every proxy variable set and NO_PROXY empty', () => {
    expect(session.sandbox).toBe('bwrap');
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

  it('passes the step’s exit status and its killing signal through', async () => {
    expect((await run(session, ['sh', '-c', 'exit 7'])).ended).toEqual({ exitCode: 7, signal: null });
    expect((await run(session, ['sh', '-c', 'exit 0'])).ended).toEqual({ exitCode: 0, signal: null });
    const missing = await run(session, ['no-such-command-here']);
    expect(missing.started).toBe(true);
    expect(missing.ended).toEqual({ exitCode: 127, signal: null });
    expect((await run(session, ['sh', '-c', 'kill -9 $$'])).ended).toEqual({ exitCode: null, signal: 'SIGKILL' });
  });

  it('passes SIGTERM to the step through the sandbox’s first process', async () => {
    const marker = path.join(workDir, 'term.txt');
    let stop: (() => void) | undefined;
    const result = runSandboxed(
      session.wrap(['sh', '-c', `trap 'echo got-term > ${marker}; exit 143' TERM; echo up; while :; do sleep 0.05; done`]),
      { ...process.env, ...session.env } as Record<string, string>,
      { onStart: (control) => (stop = () => control!.signal('SIGTERM')) },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    stop!();
    const done = await result;
    expect(fs.readFileSync(marker, 'utf8').trim()).toBe('got-term');
    expect(done.ended).toEqual({ exitCode: 143, signal: null });
  });

  it('runs the step in its own PID namespace under swarm-init, with its own session', async () => {
    const result = await run(session, ['sh', '-c', 'echo "$(cat /proc/1/comm) $(ls /proc | grep -c "^[0-9]")"; cut -d" " -f6 /proc/$$/stat']);
    const [first, sid] = result.stdout.trim().split('\n');
    const [init, count] = first!.split(' ');
    expect(init).toBe('swarm-init');
    // swarm-init, sh, the command substitutions: nothing of the host.
    expect(Number(count)).toBeLessThan(8);
    expect(Number(sid)).toBe(1);
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
      `import { spawn } from 'node:child_process';
import { createEgressProvider } from ${JSON.stringify(dist)};
const session = await createEgressProvider().open({ runId: 'nobody', runDir: ${JSON.stringify(path.join(dir, 'run'))},
  allowlist: ['127.0.0.1:${origin.port}'], routeMode: 'direct', netCapChainKey: '${CHAIN_KEY}',
  expiresAtUnix: Math.floor(Date.now() / 1000) + 60, unsandboxed: false,
  layout: { writable: [${JSON.stringify(dir)}], readable: [], hidden: [], cwd: ${JSON.stringify(dir)} } });
// Asynchronous on purpose: the broker runs in this process and must keep serving.
const step = (argv) => new Promise((resolve) => {
  const c = session.wrap(argv);
  const child = spawn(c.argv[0], c.argv.slice(1), { env: { ...process.env, ...session.env }, stdio: ['ignore', 'pipe', 'ignore', 'pipe', 'pipe'] });
  const control = c.attach(child.stdio.slice(3), child.pid);
  let out = ''; child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.on('close', async (code) => { const e = await control.ended(code); resolve(e.exitCode === 0 ? out : 'exit ' + e.exitCode); });
});
const out = { uid: (await step(['id', '-u'])).trim(), viaProxy: await step(['curl', '-sS', 'http://127.0.0.1:${origin.port}/hello']), direct: await step(['curl', '-sS', '--noproxy', '*', 'http://127.0.0.1:${origin.port}/hello']) };
await session.close();
console.log(JSON.stringify(out));
`,
    );
    fs.chmodSync(script, 0o644);
    const result = await runSandboxed({ argv: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script], controlPipes: 0 }, {
      ...process.env,
      HOME: dir,
    } as Record<string, string>);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual({ uid: '65534', viaProxy: 'hello', direct: 'exit 7' });
  });
});

function baseRequest(runId: string): EgressRequest {
  return {
    runId,
    runDir: path.join(workDir, runId),
    allowlist: [`127.0.0.1:${origin.port}`],
    routeMode: 'direct',
    netCapChainKey: CHAIN_KEY,
    expiresAtUnix: Math.floor(Date.now() / 1000) + 600,
    unsandboxed: false,
    layout: layoutFor(workDir),
  };
}

describe('egress sessions', () => {
  const request = () => baseRequest('run-2');

  it('refuses to run without a sandbox unless unsandboxed egress is allowed', async () => {
    await expect(createEgressProvider({ sandbox: 'off' }).open(request())).rejects.toMatchObject({
      code: 'NET_CAP_SANDBOX_UNAVAILABLE',
      exitCode: 6,
    });
  });

  it('with unsandboxed egress and the sandbox turned off, runs the step as is with the proxy variables', async () => {
    const session = await createEgressProvider({ sandbox: 'off' }).open({ ...request(), unsandboxed: true });
    try {
      expect(session.sandbox).toBe('unsandboxed');
      expect(session.wrap(['curl', 'x'])).toEqual({ argv: ['curl', 'x'], controlPipes: 0 });
      const ok = await curl(session, [`http://127.0.0.1:${origin.port}/hello`]);
      expect(statusOf(ok)).toBe(200);
      const denied = await curl(session, [`http://localhost:${origin.port}/hello`]);
      expect(statusOf(denied)).toBe(403);
    } finally {
      await session.close();
    }
  });

  it('with unsandboxed egress where bubblewrap works, opens only the network: the rest of the sandbox holds', async () => {
    const hidden = path.join(workDir, 'hidden-from-open-network');
    fs.mkdirSync(hidden, { recursive: true });
    fs.writeFileSync(path.join(hidden, 'key'), 'secret');
    const session = await createEgressProvider().open({ ...request(), runId: 'run-open', unsandboxed: true, layout: { ...layoutFor(workDir), hidden: [hidden] } });
    try {
      expect(session.sandbox).toBe('bwrap-open-network');
      const before = origin.connections;
      const direct = await curl(session, ['--noproxy', '*', `http://127.0.0.1:${origin.port}/hello`]);
      expect(statusOf(direct)).toBe(200);
      expect(origin.connections).toBe(before + 1);
      const seen = await run(session, ['sh', '-c', `cat ${hidden}/key; echo "[$(cat /proc/1/comm)]"; touch /etc/swarm-probe 2>/dev/null && echo wrote`]);
      expect(seen.stdout.trim()).toBe('[swarm-init]');
    } finally {
      await session.close();
    }
  });

  it('client_exit runs through an in-process provider inside the sandbox', async () => {
    const session = await createEgressProvider().open({ ...request(), runId: 'run-3', runDir: path.join(workDir, 'run-3'), routeMode: 'client_exit' });
    try {
      expect(session.sandbox).toBe('bwrap');
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

describe("the sandbox's report", () => {
  it('is believed only where it agrees with the wrapper’s own exit status', async () => {
    const { PassThrough } = await import('node:stream');
    const { attachBwrapControl } = await import('../src/sandbox/control.js');
    const reportOf = async (lines: string, wrapperExit: number | null) => {
      const info = new PassThrough();
      const report = new PassThrough();
      const control = attachBwrapControl([info, report]);
      report.end(lines);
      info.end();
      return control.ended(wrapperExit);
    };
    // The control: an honest report is taken as is, a signal included.
    expect(await reportOf('ready\nexit 9\n', 9)).toEqual({ exitCode: 9, signal: null });
    expect(await reportOf('ready\nsignal 9\n', 137)).toEqual({ exitCode: null, signal: 'SIGKILL' });
    // A forged line (an `exit 0` before or after the real one) contradicts the wrapper: ignored.
    expect(await reportOf('ready\nexit 0\n', 9)).toBeNull();
    expect(await reportOf('ready\nexit 9\nexit 0\n', 9)).toBeNull();
    expect(await reportOf('ready\nsignal 15\n', 0)).toBeNull();
    expect(await reportOf('', null)).toBeNull();
  });
});

describe('the bwrap command line', () => {
  it('mounts binds at their targets, outer paths first, and leaves out covers a bind already hides', async () => {
    const { bwrapArgv } = await import('../src/sandbox/bwrap.js');
    const repo = fs.mkdtempSync(path.join(workDir, 'repo-'));
    fs.mkdirSync(path.join(repo, '.swarm'));
    const outside = fs.mkdtempSync(path.join(workDir, 'home-'));
    const argv = bwrapArgv(
      {
        tools: { bwrap: '/usr/bin/bwrap', init: '/opt/swarm-init' },
        layout: {
          writable: [],
          readable: [],
          hidden: [path.join(repo, '.swarm'), outside],
          binds: [
            { source: path.join(repo, '.swarm', 'runs', 'r', 'workspace'), target: repo, writable: true },
            { source: path.join(repo, '.swarm', 'runs', 'r', 'state'), target: '/run/swarm/state', writable: true },
            { source: path.join(repo, '.swarm', 'runs', 'r', 'prompt.txt'), target: '/run/swarm/prompt.txt', writable: false },
          ],
          cwd: repo,
        },
        bridge: null,
      },
      ['true'],
    );
    const line = argv.join(' ');
    // The repository's store lies inside the workspace bind's target: the bind covers it.
    expect(line).not.toContain(`--tmpfs ${path.join(repo, '.swarm')}`);
    expect(line).toContain(`--tmpfs ${outside}`);
    expect(line).toContain(`--bind ${path.join(repo, '.swarm', 'runs', 'r', 'workspace')} ${repo}`);
    expect(line).toContain(`--ro-bind ${path.join(repo, '.swarm', 'runs', 'r', 'prompt.txt')} /run/swarm/prompt.txt`);
    expect(line).toContain(`--chdir ${repo}`);
    expect(argv.indexOf('--tmpfs', argv.indexOf('/run') - 1)).toBeLessThan(argv.indexOf('/run/swarm/state'));
    // A working directory that is no writable place is a bug, refused.
    expect(() =>
      bwrapArgv({ tools: { bwrap: 'b', init: 'i' }, layout: { writable: [], readable: [], hidden: [], binds: [{ source: repo, target: '/run/x', writable: false }], cwd: '/run/x' }, bridge: null }, ['true']),
    ).toThrow();
  });
});
