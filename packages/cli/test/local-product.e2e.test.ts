/**
 * The local product as a newcomer meets it, through the built binary: `init` and a seed from the
 * repository itself, resume that means resume (a node required, egress inherited), and an
 * interrupt after the step that never commits a succeeded node.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-local-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1', GIT_CONFIG_NOSYSTEM: '1', HOME: tmp };
  delete env.SOURCE_DATE_EPOCH;
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swarm(args: string[], cwd: string): { code: number | null; envelope: any; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, envelope: JSON.parse(r.stdout.trim()), stderr: r.stderr };
}

/** Asynchronous, for tests whose own loopback server must keep answering while swarm runs. */
function swarmAsync(args: string[], cwd: string): Promise<{ code: number | null; envelope: any; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--json'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, envelope: JSON.parse(out.trim()), stderr }));
  });
}

function git(args: string[], cwd: string): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function repo(): string {
  const dir = path.join(tmp, 'repo');
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'src', 'app.js'), 'console.log(1);\n');
  fs.writeFileSync(path.join(dir, 'README.md'), '# app\n');
  git(['init', '-q', '-b', 'main'], dir);
  git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'add', '.'], dir);
  git(['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', 'commit', '-q', '-m', 'start'], dir);
  return dir;
}

describe('the natural setup: a git repository', () => {
  it('init keeps .swarm/ out of git, and a launch seeds from the repository itself without the store', () => {
    const dir = repo();
    const init = swarm(['init'], dir);
    expect(init.code).toBe(0);
    expect(fs.readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8')).toMatch(/^\/\.swarm\/$/m);
    // Twice is still once.
    expect(swarm(['init'], dir).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, '.git', 'info', 'exclude'), 'utf8').match(/^\/\.swarm\/$/gm)).toHaveLength(1);

    const r = swarm(['run', 'launch', '--workspace', '.', '--run-id', 'first', '--step', 'ls -a; echo change >> README.md'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.envelope.data.seed).toMatchObject({ node_id: 'node-seed-first', excluded: ['.swarm'] });
    expect(r.stderr.match(/left out: \.swarm\//g)).toHaveLength(1);
    const log = fs.readFileSync(path.join(dir, '.swarm', 'runs', 'first', 'step.log'), 'utf8').split('\n');
    expect(log).toEqual(expect.arrayContaining(['src', 'README.md', '.git']));
    expect(log).not.toContain('.swarm');
    // The repository itself is untouched, and git sees nothing new in it.
    expect(git(['status', '--porcelain'], dir)).toBe('');
    expect(fs.readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('# app\n');
    // The chain records its seed: the run's parent is the seed node, directly on the root.
    const graph = swarm(['graph', '--format', 'json'], dir).envelope.data;
    const nodes = Object.fromEntries((graph.nodes ?? graph.graph?.nodes).map((n: { node_id: string }) => [n.node_id, n]));
    expect(nodes['node-seed-first']).toMatchObject({ parent_node_id: 'root', kind: 'import', status: 'seeded' });
    expect(nodes['node-first']).toMatchObject({ parent_node_id: 'node-seed-first' });
    expect(swarm(['verify', 'chain', '--node', 'run:first'], dir).code).toBe(0);
    // The run's row names the seed as its parent, as its node does.
    const row = swarm(['run', 'list'], dir).envelope.data.runs.find((r: { run_id: string }) => r.run_id === 'first');
    expect(row.parent_node_id).toBe('node-seed-first');
  });

  it('leaves no seed behind when the sandbox cannot be built, so the same run id can be tried again', () => {
    const dir = repo();
    const failing = path.join(tmp, 'failing-bwrap');
    fs.writeFileSync(failing, '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n', { mode: 0o755 });
    env.SWARM_BWRAP = failing;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const r = swarm(['run', 'launch', '--workspace', '.', '--run-id', 'again', '--step', 'true'], dir);
      expect(r.code).toBe(6);
      expect(r.envelope.error.code).toBe('NET_CAP_SANDBOX_UNAVAILABLE');
    }
    delete env.SWARM_BWRAP;
    const graph = swarm(['graph', '--format', 'json'], dir).envelope.data;
    expect((graph.nodes ?? graph.graph?.nodes).map((n: { node_id: string }) => n.node_id)).toEqual(['root']);
    expect(swarm(['run', 'launch', '--workspace', '.', '--run-id', 'again', '--step', 'true'], dir).code).toBe(0);
  });

  it('leaves out every store of the operator that lies inside the seed, not only its own', () => {
    const dir = repo();
    const nested = path.join(dir, 'vendor', 'lib');
    fs.mkdirSync(nested, { recursive: true });
    // A nested repository with a store of its own, and a kept plaintext workspace in it.
    expect(swarm(['run', 'launch', '--run-id', 'inner', '--keep-workspace', '--step', 'echo inner-secret > s.txt'], nested).code).toBe(0);
    expect(swarm(['init'], dir).code).toBe(0);
    const r = swarm(['run', 'launch', '--workspace', '.', '--run-id', 'outer', '--step', 'find . -name s.txt; ls vendor/lib -a'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.envelope.data.seed.excluded).toEqual(expect.arrayContaining(['.swarm', path.join('vendor', 'lib', '.swarm')]));
    const log = fs.readFileSync(path.join(dir, '.swarm', 'runs', 'outer', 'step.log'), 'utf8');
    expect(log).not.toContain('s.txt');
    expect(log).not.toContain('.swarm');
  });

  it('refuses to seed from inside the store', () => {
    const dir = repo();
    expect(swarm(['init'], dir).code).toBe(0);
    const r = swarm(['run', 'launch', '--workspace', '.swarm', '--step', 'true'], dir);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('WORKSPACE_SEED_INVALID');
  });
});

describe('resume means resume', () => {
  let server: http.Server;
  let port: number;
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits += 1;
      res.end('ok\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('requires --node, and suggests run:<id> for a bare run id', () => {
    expect(swarm(['run', 'launch', '--run-id', 'fix1', '--step', 'true'], tmp).code).toBe(0);
    const missing = swarm(['run', 'resume', '--step', 'true'], tmp);
    expect(missing.code).toBe(2);
    expect(missing.envelope.error.code).toBe('USAGE');
    const bare = swarm(['run', 'resume', '--node', 'fix1', '--step', 'true'], tmp);
    expect(bare.code).toBe(2);
    expect(bare.envelope.error.code).toBe('NODE_NOT_FOUND');
    expect(bare.envelope.error.details.suggestions).toEqual(['run:fix1', 'node-fix1']);
  });

  it('inherits the parent run’s allowlist (a real loopback server), adds --allow-host, and starts empty with --no-inherit-egress', async () => {
    const curl = `curl -sS -m 5 -o /dev/null -w "status %{http_code}\\n" http://127.0.0.1:${port}/`;
    const first = await swarmAsync(['run', 'launch', '--run-id', 'a', '--allow-host', `127.0.0.1:${port}`, '--step', curl], tmp);
    expect(first.code, first.stderr).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/a/step.log'), 'utf8')).toBe('status 200\n');
    const before = hits;
    const resumed = await swarmAsync(['run', 'resume', '--node', 'run:a', '--run-id', 'b', '--allow-host', 'example.com', '--step', curl], tmp);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/b/step.log'), 'utf8')).toBe('status 200\n');
    expect(hits).toBe(before + 1);
    expect(resumed.envelope.data.allowlist).toEqual([`127.0.0.1:${port}`, 'example.com'].sort());
    expect(resumed.envelope.data.inherited_egress).toMatchObject({ from_run: 'a', allowlist: [`127.0.0.1:${port}`] });
    // Through a fork the inheritance still finds the last run.
    expect((await swarmAsync(['run', 'fork', '--node', 'run:b', '--label', 'x'], tmp)).code).toBe(0);
    const viaFork = await swarmAsync(['run', 'resume', '--node', 'branch:x', '--run-id', 'c', '--step', curl], tmp);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/c/step.log'), 'utf8')).toBe('status 200\n');
    expect(viaFork.envelope.data.inherited_egress.from_run).toBe('b');

    const fresh = await swarmAsync(['run', 'resume', '--node', 'run:a', '--run-id', 'd', '--no-inherit-egress', '--step', curl], tmp);
    expect(fresh.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/d/step.log'), 'utf8')).toBe('status 403\n');
    expect(fresh.envelope.data.allowlist).toEqual([]);
    expect(hits).toBe(before + 2);
    const policy = JSON.parse(fs.readFileSync(path.join(tmp, '.swarm/runs/b/policy.json'), 'utf8'));
    expect(policy.egress.allowlist).toEqual([`127.0.0.1:${port}`, 'example.com'].sort());

    // A parent policy edited after the fact is not the one its certificate binds: not inherited.
    const bFile = path.join(tmp, '.swarm/runs/b/policy.json');
    fs.writeFileSync(bFile, JSON.stringify({ ...policy, egress: { ...policy.egress, allowlist: ['*.evil.example'] } }));
    const tampered = await swarmAsync(['run', 'resume', '--node', 'run:b', '--run-id', 'e', '--step', 'true'], tmp);
    expect(tampered.code).toBe(2);
    expect(tampered.envelope.error.code).toBe('PARENT_POLICY_INVALID');
    expect((await swarmAsync(['run', 'resume', '--node', 'run:b', '--run-id', 'e2', '--no-inherit-egress', '--step', 'true'], tmp)).code).toBe(0);
  });
});

describe('an interrupt after the step', () => {
  it('never commits a node that says succeeded (SIGINT while the node is sealed)', async () => {
    // A workspace big enough that sealing takes a while after the step has ended.
    const step = 'head -c 300000000 /dev/urandom > big.bin; echo done';
    const child = spawn(process.execPath, [BIN, 'run', 'launch', '--run-id', 'late', '--step', step, '--json'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const dir = path.join(tmp, '.swarm/runs/late');
    const deadline = Date.now() + 60_000;
    // The step is over once its log says so and its process-group file is gone.
    while (!(fs.existsSync(path.join(dir, 'step.log')) && fs.readFileSync(path.join(dir, 'step.log'), 'utf8').includes('done') && !fs.existsSync(path.join(dir, '.step.pgid')))) {
      if (Date.now() > deadline) throw new Error('the step never finished');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const envelope = JSON.parse(out.trim());
    const status = swarm(['run', 'status', '--run-id', 'late'], tmp).envelope.data;
    if (envelope.status === 'ok') {
      // The signal came too late to matter: the node had committed already. That is allowed, but rare.
      expect(status.state).toBe('committed');
      return;
    }
    expect(code).not.toBe(0);
    expect(envelope.error.code).toBe('STEP_INTERRUPTED');
    expect(status.status).not.toBe('succeeded');
    expect(status.node_id).toBeNull();
    expect(swarm(['state', 'inspect', '--node', 'run:late'], tmp).envelope.error.code).toBe('NODE_NOT_FOUND');
  }, 120_000);
});

describe('a seed from the home directory', () => {
  it("leaves the operator's credential directories out of the seed", () => {
    const home = path.join(tmp, 'operator');
    fs.mkdirSync(path.join(home, '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(home, '.ssh', 'id_ed25519'), 'PRIVATE');
    fs.writeFileSync(path.join(home, 'notes.txt'), 'notes');
    env.HOME = home;
    const r = swarm(['run', 'launch', '--workspace', home, '--run-id', 'h', '--step', 'ls -a'], tmp);
    expect(r.code, r.stderr).toBe(0);
    expect(r.envelope.data.seed.excluded).toContain('.ssh');
    const log = fs.readFileSync(path.join(tmp, '.swarm', 'runs', 'h', 'step.log'), 'utf8').split('\n');
    expect(log).toContain('notes.txt');
    expect(log).not.toContain('.ssh');
  });
});

describe('a seed keeps file times', () => {
  it('restores the seeded files with their own mtimes (clamped to the run clock)', () => {
    const seed = path.join(tmp, 'seed');
    fs.mkdirSync(seed);
    fs.writeFileSync(path.join(seed, 'old.txt'), 'old');
    fs.writeFileSync(path.join(seed, 'new.txt'), 'new');
    const old = new Date('2021-02-03T04:05:06Z');
    fs.utimesSync(path.join(seed, 'old.txt'), old, old);
    expect(swarm(['run', 'launch', '--workspace', 'seed', '--run-id', 's', '--step', 'true'], tmp).code).toBe(0);
    const out = path.join(tmp, 'exported');
    expect(swarm(['state', 'export', '--node', 'run:s', '--out', out], tmp).code).toBe(0);
    expect(fs.statSync(path.join(out, 'workspace', 'old.txt')).mtime.toISOString()).toBe(old.toISOString());
    expect(fs.statSync(path.join(out, 'workspace', 'new.txt')).mtimeMs).toBeGreaterThan(old.getTime());
  });
});

describe('a stable place for the workspace', () => {
  it('shows every run of a seeded chain its workspace at the seed directory, while the directory itself stays untouched', () => {
    const dir = repo();
    expect(swarm(['init'], dir).code).toBe(0);
    const look = 'pwd; echo "[$SWARM_WORKSPACE]"; ls -a';
    const first = swarm(['run', 'launch', '--workspace', '.', '--run-id', 'one', '--step', `${look}; echo made > made.txt`], dir);
    expect(first.code, first.stderr).toBe(0);
    const real = fs.realpathSync(dir);
    expect(first.envelope.data.workspace.mount_path).toBe(real);
    const log1 = fs.readFileSync(path.join(dir, '.swarm/runs/one/step.log'), 'utf8').split('\n');
    expect(log1.slice(0, 2)).toEqual([real, `[${real}]`]);
    // The store inside the repository is not there: the workspace copy covers the directory.
    expect(log1).not.toContain('.swarm');
    expect(fs.existsSync(path.join(dir, 'made.txt'))).toBe(false);
    const second = swarm(['run', 'resume', '--node', 'run:one', '--run-id', 'two', '--step', look], dir);
    expect(second.code, second.stderr).toBe(0);
    const log2 = fs.readFileSync(path.join(dir, '.swarm/runs/two/step.log'), 'utf8').split('\n');
    expect(log2.slice(0, 2)).toEqual([real, `[${real}]`]);
    expect(log2).toContain('made.txt');
    const policy = JSON.parse(fs.readFileSync(path.join(dir, '.swarm/runs/two/policy.json'), 'utf8'));
    expect(policy.workspace).toEqual({ mount_path: real });
  });

  it('uses a fixed path for a chain not seeded from a directory, and --mount-path for another', () => {
    const first = swarm(['run', 'launch', '--run-id', 'p1', '--step', 'pwd'], tmp);
    expect(first.code, first.stderr).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/p1/step.log'), 'utf8')).toBe('/run/swarm/workspace\n');
    const custom = swarm(['run', 'resume', '--node', 'run:p1', '--run-id', 'p2', '--mount-path', '/tmp/agent/work', '--step', 'pwd'], tmp);
    expect(custom.code, custom.stderr).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/p2/step.log'), 'utf8')).toBe('/tmp/agent/work\n');
    // Inherited by the next run of the chain.
    expect(swarm(['run', 'resume', '--node', 'run:p2', '--run-id', 'p3', '--step', 'pwd'], tmp).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, '.swarm/runs/p3/step.log'), 'utf8')).toBe('/tmp/agent/work\n');
    // Never inside what the step may not see, nor on a path bwrap cannot mount here.
    for (const bad of [path.join(tmp, 'home', 'keys'), path.join(tmp, '.swarm'), 'relative/path', '/no/such/dir/here']) {
      const r = swarm(['run', 'resume', '--node', 'run:p1', '--mount-path', bad, '--step', 'true'], tmp);
      expect(r.code, bad).toBe(2);
      expect(r.envelope.error.code).toBe('MOUNT_PATH_INVALID');
    }
  });
});
