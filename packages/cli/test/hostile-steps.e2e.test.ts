/**
 * Hostile steps (docs/security.md, "attacks the tests replay"): each attack a prompt-injected
 * agent was seen to make, run through the built `swarm` binary.
 *
 * Every attack runs twice. First against a deliberately weakened setup — no sandbox at all
 * (`--unsandboxed-egress` with bubblewrap made unavailable through SWARM_BWRAP) — where the test
 * asserts that the attack reaches its goal: this shows the attack and its detector work. Then
 * against the real sandbox, where the test asserts that the goal was not reached and the host is
 * unchanged. Weakened runs use stores and homes of their own, and touch only sentinel files the
 * test removes.
 */
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const INSTALL_DIR = path.dirname(BIN);
/** Where bin/code-cache.js keeps bytecode for this environment. */
const CODE_CACHE_DIR = process.env.SWARM_CODE_CACHE?.trim() || path.join(process.env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), '.cache'), 'swarm', 'code');

interface Swarm {
  code: number | null;
  signal: NodeJS.Signals | null;
  envelope: any;
  stderr: string;
  pid: number;
}

let tmp: string;
const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});
beforeAll(() => {
  // Not under the temporary directory, which every sandbox covers with a private tmpfs anyway:
  // projects and homes live where repositories do, so each attack meets the real mounts.
  tmp = fs.mkdtempSync(path.join(INSTALL_DIR, '..', '..', '..', 'node_modules', '.cache-swarm-hostile-'));
  // A store above would be found (like .git) and used instead of each test's own.
  for (let dir = path.dirname(tmp); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    expect(fs.existsSync(path.join(dir, '.swarm', 'catalog.sqlite')), `a swarm store exists above the test directory, in ${dir}`).toBe(false);
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

type Mode = 'weakened' | 'sandboxed';

/** A store and SWARM_HOME of its own for each mode, so a weakened run can spoil nothing else. */
function project(name: string, mode: Mode): { cwd: string; home: string } {
  const cwd = path.join(tmp, `${name}-${mode}`);
  const home = path.join(cwd, 'swarm-home');
  fs.mkdirSync(cwd, { recursive: true });
  return { cwd, home };
}

function swarm(
  where: { cwd: string; home: string },
  mode: Mode,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  onSpawn?: (pid: number) => void,
): Promise<Swarm> {
  const weakened = mode === 'weakened' ? ['--unsandboxed-egress'] : [];
  const env = {
    ...process.env,
    SWARM_HOME: where.home,
    ...(mode === 'weakened' ? { SWARM_BWRAP: path.join(tmp, 'no-bwrap-here') } : {}),
    ...extraEnv,
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, ...weakened, '--json'], { cwd: where.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child.pid!);
    let out = '';
    let stderr = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code, signal) => {
      let envelope: any = null;
      try {
        envelope = JSON.parse(out.trim());
      } catch {
        envelope = null;
      }
      resolve({ code, signal, envelope, stderr, pid: child.pid! });
    });
  });
}

function launch(where: { cwd: string; home: string }, mode: Mode, runId: string, step: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  return swarm(where, mode, ['run', 'launch', '--node', 'root', '--run-id', runId, '--step', step, ...extra], env);
}

function stepLog(where: { cwd: string }, runId: string): string {
  return fs.readFileSync(path.join(where.cwd, '.swarm', 'runs', runId, 'step.log'), 'utf8');
}

/** Processes on the host whose command line holds `marker`; kills them when asked. */
function processesWith(marker: string, kill = false): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  if (kill) for (const pid of pids) spawnSync('kill', ['-9', String(pid)]);
  return pids;
}

/** A Unix socket server that counts connections (an ssh-agent or ControlMaster stand-in), closed after the test. */
async function unixServer(socketPath: string): Promise<{ connections(): number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections += 1;
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  cleanups.push(() => server.close());
  return { connections: () => connections };
}

function exportWorkspace(where: { cwd: string; home: string }, runId: string): string {
  const out = path.join(where.cwd, `export-${runId}`);
  const result = spawnSync(process.execPath, [BIN, 'state', 'export', '--node', `run:${runId}`, '--out', out, '--json'], {
    cwd: where.cwd,
    env: { ...process.env, SWARM_HOME: where.home },
    encoding: 'utf8',
  });
  expect(result.status, result.stdout + result.stderr).toBe(0);
  return out;
}

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe('hostile steps', () => {
  it('cannot see, signal or dump the swarm process (core-dump key theft)', async () => {
    // Looks for swarm among the processes it can see, raises its core limit and aborts it.
    // Walks up from itself to the first Node process: the swarm that started it, if it can see it.
    const attack = `p=$$; found=
while [ "$p" -gt 1 ]; do
  p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$p/status 2>/dev/null); [ -n "$p" ] || break
  if [ "$(cat /proc/$p/comm 2>/dev/null)" = node ]; then found=$p; break; fi
done
if [ -n "$found" ]; then prlimit --pid "$found" --core=unlimited:unlimited && echo raised; kill -ABRT "$found" && echo signalled; else echo "no swarm process visible"; fi`;
    const weak = project('dump', 'weakened');
    const control = await launch(weak, 'weakened', 'dump', attack);
    cleanups.push(() => fs.rmSync(path.join(weak.cwd, 'core'), { force: true }));
    expect(control.signal, 'the attack reaches an unsandboxed swarm').toBe('SIGABRT');

    const real = project('dump', 'sandboxed');
    const result = await launch(real, 'sandboxed', 'dump', attack);
    expect(result.code, result.stderr).toBe(0);
    expect(stepLog(real, 'dump')).toContain('no swarm process visible');
    expect(fs.readdirSync(real.cwd).filter((f) => f.startsWith('core'))).toEqual([]);
  });

  it("cannot forge its own exit status through the sandbox's first process", async () => {
    // pidfd_getfd on swarm-init's report pipe (fd 4), then `exit 0` written into it; the step
    // itself exits 9. The positive control takes a pipe from a child of its own the same way.
    const forge = `import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
def steal(pid, fd):
    pidfd = libc.syscall(434, pid, 0)
    if pidfd < 0: return None
    got = libc.syscall(438, pidfd, fd, 0)
    return None if got < 0 else got
r, w = os.pipe()
child = os.fork()
if child == 0:
    time.sleep(5); os._exit(0)
print('control', 'stole' if steal(child, r) is not None else 'failed')
os.kill(child, 9)
got = steal(1, 4)
if got is not None:
    os.write(got, b'exit 0\\n')
print('attack', 'forged' if got is not None else 'refused')
`;
    const where = project('forge', 'sandboxed');
    fs.writeFileSync(path.join(where.cwd, 'forge.py'), forge);
    const result = await swarm(where, 'sandboxed', ['run', 'launch', '--node', 'root', '--workspace', '.', '--run-id', 'forge', '--step', 'python3 forge.py; exit 9']);
    const log = stepLog(where, 'forge');
    expect(log).toContain('control stole');
    expect(log).toContain('attack refused');
    expect(result.code).toBe(7);
    expect(result.envelope.error.details.exit_code).toBe(9);
  });

  it('runs swarm itself with a core-size limit of 0 while it holds keys', async () => {
    const real = project('limits', 'sandboxed');
    let limits = '';
    // Read while the step runs (its log exists once swarm holds the keys and started it).
    const log = path.join(real.cwd, '.swarm', 'runs', 'limits', 'step.log');
    let poll: NodeJS.Timeout | undefined;
    const result = await swarm(real, 'sandboxed', ['run', 'launch', '--node', 'root', '--run-id', 'limits', '--step', 'echo up; sleep 2'], {}, (pid) => {
      poll = setInterval(() => {
        if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('up')) {
          clearInterval(poll);
          limits = fs.readFileSync(`/proc/${pid}/limits`, 'utf8');
        }
      }, 20);
    });
    clearInterval(poll);
    expect(result.code, result.stderr).toBe(0);
    expect(limits).toMatch(/^Max core file size\s+0\s+0\s/m);
  });

  it('cannot swap a workspace directory for a link to the keys while the node is sealed (no survivor to race)', async () => {
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('race', mode);
      const marker = `swarm-swapper-${crypto.randomBytes(4).toString('hex')}`;
      cleanups.push(() => processesWith(marker, true));
      const keys = path.join(where.home, 'keys');
      // The swapper outlives the step and keeps replacing d/ with a link to the keys directory.
      const attack = `mkdir -p d && echo harmless > d/f
setsid sh -c 'touch up; while :; do mv d d.real 2>/dev/null; ln -s ${keys} d 2>/dev/null; sleep 0.002; rm -f d; mv d.real d 2>/dev/null; done' ${marker} >/dev/null 2>&1 </dev/null &
while [ ! -e up ]; do sleep 0.01; done; echo swapper started`;
      const result = await launch(where, mode, 'race', attack);
      const survivors = processesWith(marker);
      if (mode === 'weakened') {
        expect(survivors.length, `the swapper outlives an unsandboxed step: ${JSON.stringify(result.envelope?.error ?? result.envelope?.data?.status)}`).toBeGreaterThan(0);
        continue;
      }
      expect(survivors).toEqual([]);
      expect(result.code, result.stderr).toBe(0);
      const secrets = fs.readdirSync(keys).map((f) => fs.readFileSync(path.join(keys, f)));
      for (const file of filesUnder(exportWorkspace(where, 'race'))) {
        const bytes = fs.readFileSync(file);
        for (const secret of secrets) expect(bytes.includes(secret), `${file} holds a key`).toBe(false);
      }
    }
  });

  it('cannot write swarm config, keys, installation, code cache, catalog, other runs or the real home (persistence)', async () => {
    const tag = crypto.randomBytes(4).toString('hex');
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('persist', mode);
      expect((await launch(where, mode, 'other', 'echo other')).code).toBe(0);
      const config = path.join(where.home, 'config.json');
      const set = spawnSync(process.execPath, [BIN, 'config', 'set', 'egress.sandbox', 'auto'], { cwd: where.cwd, env: { ...process.env, SWARM_HOME: where.home } });
      expect(set.status).toBe(0);
      const configBefore = fs.readFileSync(config);
      const targets = [
        path.join(where.home, `sentinel-${tag}`),
        path.join(where.home, 'keys', `sentinel-${tag}`),
        path.join(INSTALL_DIR, `.sentinel-${tag}`),
        path.join(where.cwd, '.swarm', `sentinel-${tag}`),
        path.join(where.cwd, '.swarm', 'runs', 'other', `sentinel-${tag}`),
        path.join(os.homedir(), `.swarm-sentinel-${tag}`),
        // The CLI's code cache: bytecode planted there would run as swarm in the next command.
        path.join(CODE_CACHE_DIR, `sentinel-${tag}.v8`),
      ];
      fs.mkdirSync(CODE_CACHE_DIR, { recursive: true, mode: 0o700 });
      cleanups.push(() => targets.forEach((t) => fs.rmSync(t, { force: true })));
      const attack = [...targets.map((t) => `touch ${t}`), `echo '{"egress.allow":["*"]}' > ${config}`].map((c) => `${c} 2>/dev/null`).join('; ') + '; true';
      const result = await launch(where, mode, 'persist', attack);
      expect(result.code, result.stderr).toBe(0);
      const written = targets.filter((t) => fs.existsSync(t));
      if (mode === 'weakened') {
        expect(written, 'every target is writable without the sandbox').toEqual(targets);
        expect(fs.readFileSync(config).equals(configBefore)).toBe(false);
      } else {
        expect(written).toEqual([]);
        expect(fs.readFileSync(config).equals(configBefore)).toBe(true);
        const list = spawnSync(process.execPath, [BIN, 'run', 'list', '--json'], { cwd: where.cwd, env: { ...process.env, SWARM_HOME: where.home }, encoding: 'utf8' });
        expect(JSON.parse(list.stdout).data.runs.map((r: { run_id: string }) => r.run_id).sort()).toEqual(['other', 'persist']);
      }
      targets.forEach((t) => fs.rmSync(t, { force: true }));
    }
  });

  it("cannot read a concurrently running run's plaintext workspace, of its own store or another one", async () => {
    const secret = `TOPSECRET-${crypto.randomBytes(6).toString('hex')}`;
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('peer', mode);
      // Another repository of the same operator (same SWARM_HOME), with a store of its own.
      const elsewhere = { cwd: path.join(tmp, `peer-other-${mode}`), home: where.home };
      for (const dir of [where.cwd, elsewhere.cwd]) fs.mkdirSync(dir, { recursive: true });
      expect((await launch(elsewhere, mode, 'first', 'true')).code).toBe(0);
      // The victim holds its plaintext until the test lets it go (a file in its workspace).
      const victim = launch(elsewhere, mode, 'victim', `echo ${secret} > secret.txt; i=0; while [ ! -e release ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done`);
      const victimFile = path.join(elsewhere.cwd, '.swarm', 'runs', 'victim', 'workspace', 'secret.txt');
      const deadline = Date.now() + 10_000;
      while (!fs.existsSync(victimFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(victimFile), 'the victim run is live with its plaintext on disk').toBe(true);
      const steal = `cat ${victimFile} 2>/dev/null || echo unreadable; ls ${path.dirname(victimFile)} 2>/dev/null || echo unlisted`;
      for (const [thiefWhere, runId] of [[elsewhere, 'thief-same-store'], [where, 'thief-other-store']] as const) {
        const thief = await launch(thiefWhere, mode, runId, steal);
        expect(thief.code, thief.stderr).toBe(0);
        if (mode === 'weakened') expect(stepLog(thiefWhere, runId)).toContain(secret);
        else expect(stepLog(thiefWhere, runId)).toBe('unreadable\nunlisted\n');
      }
      fs.writeFileSync(path.join(path.dirname(victimFile), 'release'), '');
      expect((await victim).code).toBe(0);
    }
  });

  it('cannot reach a host Unix socket (an ssh-agent in /tmp), and SSH_AUTH_SOCK is not passed', async () => {
    const dir = fs.mkdtempSync('/tmp/swarm-agent-');
    const socketPath = path.join(dir, 'agent.sock');
    const agent = await unixServer(socketPath);
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const attack = `echo "sock=[$SSH_AUTH_SOCK]"; node -e "require('net').connect('${socketPath}').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log('refused ' + e.code); process.exit(0); })"`;
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('socket', mode);
      const before = agent.connections();
      const result = await launch(where, mode, 'socket', attack, [], { SSH_AUTH_SOCK: socketPath });
      expect(result.code, result.stderr).toBe(0);
      const log = stepLog(where, 'socket');
      expect(log).toContain('sock=[]');
      if (mode === 'weakened') {
        expect(log).toContain('connected');
        expect(agent.connections()).toBe(before + 1);
      } else {
        expect(log).toMatch(/refused E(NOENT|ACCES|CONNREFUSED)/);
        expect(agent.connections()).toBe(before);
      }
    }
  });

  it("cannot read the operator's ssh keys or reach an ssh ControlMaster socket in their home", async () => {
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('home-secrets', mode);
      const home = path.join(where.cwd, 'operator-home');
      const ssh = path.join(home, '.ssh');
      fs.mkdirSync(ssh, { recursive: true });
      const key = `PRIVATE-KEY-${crypto.randomBytes(6).toString('hex')}`;
      fs.writeFileSync(path.join(ssh, 'id_ed25519'), key);
      // A socket path short enough for sun_path: beside the key, as ssh's ControlPath puts it.
      const socketPath = path.join(ssh, 'cm.sock');
      const master = await unixServer(socketPath);
      const attack = `cat ${ssh}/id_ed25519 2>/dev/null || echo unreadable; node -e "require('net').connect('${socketPath}').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log('refused ' + e.code); process.exit(0); })"`;
      const result = await launch(where, mode, 'home', attack, [], { HOME: home });
      expect(result.code, result.stderr).toBe(0);
      const log = stepLog(where, 'home');
      if (mode === 'weakened') {
        expect(log).toContain(key);
        expect(master.connections()).toBe(1);
      } else {
        expect(log).not.toContain(key);
        expect(log).toContain('unreadable');
        expect(log).toMatch(/refused E(NOENT|ACCES|CONNREFUSED)/);
        expect(master.connections()).toBe(0);
      }
    }
  });

  it("cannot read the agent CLIs' keys and tokens in the operator's home (a directory and a single file)", async () => {
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const where = project('agent-secrets', mode);
      const home = path.join(where.cwd, 'operator-home');
      const token = `OAUTH-TOKEN-${crypto.randomBytes(6).toString('hex')}`;
      const apiKey = `sk-ant-${crypto.randomBytes(6).toString('hex')}`;
      fs.mkdirSync(path.join(home, '.claude'), { recursive: true });
      fs.writeFileSync(path.join(home, '.claude', '.credentials.json'), JSON.stringify({ token }));
      fs.writeFileSync(path.join(home, '.claude.json'), JSON.stringify({ primaryApiKey: apiKey }));
      const attack = `cat ${home}/.claude/.credentials.json 2>/dev/null || echo no-dir-file; cat ${home}/.claude.json 2>/dev/null; echo; ls -a ${home}`;
      const result = await launch(where, mode, 'agent-keys', attack, [], { HOME: home });
      expect(result.code, result.stderr).toBe(0);
      const log = stepLog(where, 'agent-keys');
      if (mode === 'weakened') {
        expect(log).toContain(token);
        expect(log).toContain(apiKey);
      } else {
        expect(log).not.toContain(token);
        expect(log).not.toContain(apiKey);
        expect(log).toContain('no-dir-file');
      }
    }
  });

  it('leaves no survivor: a setsid child dies with the step', async () => {
    for (const mode of ['weakened', 'sandboxed'] as const) {
      const marker = `swarm-survivor-${crypto.randomBytes(4).toString('hex')}`;
      cleanups.push(() => processesWith(marker, true));
      const where = project('survivor', mode);
      const result = await launch(where, mode, 'survivor', `setsid sh -c 'touch up; sleep 300' ${marker} >/dev/null 2>&1 </dev/null & while [ ! -e up ]; do sleep 0.01; done; echo started`);
      expect(result.code, result.stderr).toBe(0);
      if (mode === 'weakened') expect(processesWith(marker).length, 'an unsandboxed setsid child survives').toBeGreaterThan(0);
      else expect(processesWith(marker)).toEqual([]);
    }
  });

  it("never hands the caller's secrets to the step; a passed one is redacted from the log", async () => {
    const env = { AWS_SECRET_ACCESS_KEY: `aws-${crypto.randomBytes(8).toString('hex')}`, GITHUB_TOKEN: `ghp_${crypto.randomBytes(8).toString('hex')}` };
    const look = `echo "aws=[$AWS_SECRET_ACCESS_KEY] gh=[$GITHUB_TOKEN] home=[$HOME]"; echo "seen=$(env | grep -c -e ${env.AWS_SECRET_ACCESS_KEY} -e ${env.GITHUB_TOKEN})"`;
    const attack = `${look}; env > env.txt`;
    const where = project('env', 'sandboxed');
    // The positive control: granted explicitly, the token does reach the step (and the log hides
    // it; a workspace holding it would not be sealed at all, see agent-home.e2e).
    const granted = await launch(where, 'sandboxed', 'granted', look, ['--pass-env', 'GITHUB_TOKEN'], env);
    expect(granted.code, granted.stderr).toBe(0);
    expect(stepLog(where, 'granted')).toContain('gh=[[REDACTED]]');
    expect(stepLog(where, 'granted')).toContain('seen=1');
    expect(stepLog(where, 'granted')).not.toContain(env.GITHUB_TOKEN);

    const result = await launch(where, 'sandboxed', 'env', attack, [], env);
    expect(result.code, result.stderr).toBe(0);
    const log = stepLog(where, 'env');
    expect(log).toContain('aws=[] gh=[]');
    expect(log).toContain('seen=0');
    expect(log).not.toContain(`home=[${os.homedir()}]`);
    const exported = fs.readFileSync(path.join(exportWorkspace(where, 'env'), 'workspace', 'env.txt'), 'utf8');
    for (const value of Object.values(env)) expect(exported).not.toContain(value);
    const policy = JSON.parse(fs.readFileSync(path.join(where.cwd, '.swarm', 'runs', 'granted', 'policy.json'), 'utf8'));
    expect(policy.env.passed).toEqual(['GITHUB_TOKEN']);
    expect(JSON.stringify(policy)).not.toContain(env.GITHUB_TOKEN);
  });

  it('cannot reach loopback through an allowlisted name that resolves to it (SSRF through the broker)', async () => {
    let hits = 0;
    const server = http.createServer((_req, res) => {
      hits += 1;
      res.end('internal service\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const where = project('ssrf', 'sandboxed');
    const curl = (url: string) => `curl -sS -m 5 -o /dev/null -w "status %{http_code}\\n" ${url}`;
    // The positive control: the operator names the address itself, so the broker connects.
    const literal = await launch(where, 'sandboxed', 'literal', curl(`http://127.0.0.1:${port}/`), ['--allow-host', `127.0.0.1:${port}`]);
    expect(literal.code, literal.stderr).toBe(0);
    expect(stepLog(where, 'literal')).toContain('status 200');
    expect(hits).toBe(1);

    const result = await launch(where, 'sandboxed', 'ssrf', curl(`http://localhost:${port}/`), ['--allow-host', `localhost:${port}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(stepLog(where, 'ssrf')).toContain('status 403');
    expect(hits).toBe(1);
    const decisions = fs
      .readFileSync(path.join(where.cwd, '.swarm', 'runs', 'ssrf', 'egress.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { decision: string; reason: string });
    expect(decisions.map((d) => d.decision)).toEqual(['denied']);
    expect(decisions[0]!.reason).not.toBe('not_allowlisted');
  });

  it('cannot pass off an edited, unsigned certificate in a chain', async () => {
    const where = project('chain', 'sandboxed');
    expect((await launch(where, 'sandboxed', 'a', 'exit 3')).code).not.toBe(0);
    const verify = () => swarm(where, 'sandboxed', ['verify', 'chain', '--node', 'run:a']);
    // The positive control: the untouched chain verifies.
    const untouched = await verify();
    expect(untouched.code, JSON.stringify(untouched.envelope?.error ?? untouched.stderr)).toBe(0);
    const dir = path.join(where.cwd, '.swarm', 'runs', 'a');
    const certificate = JSON.parse(fs.readFileSync(path.join(dir, 'certificate.json'), 'utf8'));
    certificate.swarm.exit_code = 0;
    certificate.swarm.status = 'succeeded';
    fs.writeFileSync(path.join(dir, 'certificate.json'), JSON.stringify(certificate));
    fs.rmSync(path.join(dir, 'certificate.dsse.json'));
    const result = await verify();
    expect(result.code).toBe(3);
    expect(result.envelope.status).toBe('error');
  });
});
