/**
 * The tree cache (docs/engine.md, "Storage: chunks and the tree cache"), through the built `swarm`
 * binary: `.swarm/cache/<object digest>/` holds the materialized tree of recent nodes, a run from
 * such a node claims it by renaming it into its own run directory, and after the commit the run's
 * tree becomes the new node's cached tree.
 *
 * What must hold: no step changes a cached tree (an unfenced one can — the weakened control shows
 * the attack lands, and that swarm then drops every cached tree rather than use one; a sandboxed
 * step cannot reach the cache at all); what a step does to the tree it claimed
 * stays its own, and the tree it leaves in the cache is exactly what a restore from chunks gives;
 * two runs from one node never share its tree; `SWARM_TREE_CACHE=off` writes no cache at all.
 *
 * Weakened runs (`--unsandboxed-egress`, bubblewrap made unavailable through SWARM_BWRAP) use a
 * project and SWARM_HOME of their own.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));
const INSTALL_DIR = path.dirname(BIN);
const TEST_TIMEOUT = 60_000;

interface Swarm {
  code: number | null;
  signal: NodeJS.Signals | null;
  envelope: any;
  stdout: string;
  stderr: string;
}

interface Project {
  cwd: string;
  home: string;
}

let tmp: string;
beforeAll(() => {
  // Not under the temporary directory, which every sandbox covers with a private tmpfs: the
  // projects (and so their caches) live where repositories do, at paths a step could name.
  tmp = fs.mkdtempSync(path.join(INSTALL_DIR, '..', '..', '..', 'node_modules', '.cache-swarm-tree-cache-'));
  // A store above would be found (like .git) and used instead of each test's own.
  for (let dir = path.dirname(tmp); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    expect(fs.existsSync(path.join(dir, '.swarm', 'catalog.sqlite')), `a swarm store exists above the test directory, in ${dir}`).toBe(false);
  }
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A project and SWARM_HOME of its own. */
function project(name: string): Project {
  const cwd = path.join(tmp, name);
  const home = path.join(cwd, 'swarm-home');
  fs.mkdirSync(cwd, { recursive: true });
  return { cwd, home };
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // The cache's setting is each test's own choice.
  delete env.SWARM_TREE_CACHE;
  return env;
}

function swarm(where: Project, args: string[], opts: { unsandboxed?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Swarm> {
  const env = {
    ...baseEnv(),
    SWARM_HOME: where.home,
    ...(opts.unsandboxed ? { SWARM_BWRAP: path.join(tmp, 'no-bwrap-here') } : {}),
    ...opts.env,
  };
  const extra = opts.unsandboxed ? ['--unsandboxed-egress'] : [];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, ...extra, '--json'], { cwd: where.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let envelope: any = null;
      try {
        envelope = JSON.parse(stdout.trim());
      } catch {
        envelope = null;
      }
      resolve({ code, signal, envelope, stdout, stderr });
    });
  });
}

/** A run that must have succeeded; returns its `data`. */
async function run(where: Project, args: string[], opts: { unsandboxed?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<any> {
  const result = await swarm(where, args, opts);
  expect(result.code, `swarm ${args.join(' ')}\n${result.stdout}\n${result.stderr}`).toBe(0);
  expect(result.envelope?.status, result.stdout).toBe('ok');
  expect(result.envelope.data.status, result.stdout).toBe('succeeded');
  return result.envelope.data;
}

function launch(where: Project, runId: string, step: string, opts: { unsandboxed?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  return run(where, ['run', 'launch', '--node', 'root', '--run-id', runId, '--step', step], opts);
}

function resume(where: Project, from: string, runId: string, step: string, opts: { unsandboxed?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  return run(where, ['run', 'resume', '--node', `run:${from}`, '--run-id', runId, '--step', step], opts);
}

function stepLog(where: Project, runId: string): string {
  return fs.readFileSync(path.join(where.cwd, '.swarm', 'runs', runId, 'step.log'), 'utf8');
}

function cacheRoot(where: Project): string {
  return path.join(where.cwd, '.swarm', 'cache');
}

/** The cache entry of the node a run sealed. */
function cacheOf(where: Project, data: any): string {
  expect(data.bundle_sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
  return path.join(cacheRoot(where), data.bundle_sha256.slice('sha256:'.length));
}

/** The names of the trees in the cache. */
function cachedTrees(where: Project): string[] {
  try {
    return fs.readdirSync(cacheRoot(where)).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return [];
  }
}

const P_STEP = 'echo original > a.txt; mkdir d; echo keep > d/b.txt';

/**
 * Prints the step's tree (workspace and home, not their roots, whose times no node holds) between
 * markers: path, type, size, mode, link count, mtime to the nanosecond, link target; then a digest
 * of every file.
 */
const LISTING = [
  'echo "=== listing"',
  '{ find . -mindepth 1 -printf "%p %y %s %m %n %T@ %l\\n"; find "$HOME" -mindepth 1 -printf "~/%P %y %s %m %n %T@ %l\\n"; } | LC_ALL=C sort',
  'find . "$HOME" -type f -exec sha256sum {} + | LC_ALL=C sort -k2',
  // The state DB travels with the tree too.
  'stat -c "state.db %s %a %h %Y" ../state/state.db',
  'sha256sum < ../state/state.db',
  'echo "=== end"',
].join('; ');

function listingOf(log: string): string {
  const start = log.indexOf('=== listing\n');
  const end = log.indexOf('=== end\n');
  expect(start, log).toBeGreaterThanOrEqual(0);
  expect(end, log).toBeGreaterThan(start);
  return log
    .slice(start, end)
    .split('\n')
    .filter((line) => !line.startsWith('swarm:'))
    .join('\n');
}

describe('tree cache', () => {
  it(
    'a step cannot change a cached tree (an unfenced one can)',
    async () => {
      // Finds the cached trees of its store by the run directory's place in it and by the project's
      // absolute path, and overwrites the file every one of them holds.
      const attack = (where: Project) =>
        `for f in "$SWARM_WORKSPACE"/../../../cache/*/workspace/a.txt ${where.cwd}/.swarm/cache/*/workspace/a.txt; do ` +
        `if [ -f "$f" ]; then echo pwned > "$f" && echo "wrote $f"; else echo "not found $f"; fi; done; true`;

      // Weakened: the attacking step runs without a sandbox.
      const weak = project('attack-weakened');
      const pWeak = await launch(weak, 'p', P_STEP);
      expect(pWeak.sandbox).toBe('bwrap');
      expect(pWeak.storage.cached).toBe(true);
      const pWeakTree = cacheOf(weak, pWeak);
      expect(fs.readFileSync(path.join(pWeakTree, 'workspace', 'a.txt'), 'utf8')).toBe('original\n');

      const w = await launch(weak, 'w', `${attack(weak)}; echo "cached now: $(cat ${pWeakTree}/workspace/a.txt)"`, { unsandboxed: true });
      expect(w.sandbox).toBe('unsandboxed');
      expect(w.storage.cached, 'the tree of an unsandboxed step is never cached').toBe(false);
      expect(stepLog(weak, 'w')).toContain('wrote ');
      expect(stepLog(weak, 'w'), 'the unfenced step rewrote the cached tree of P').toContain('cached now: pwned');
      // Which is why no tree cached while an unfenced step ran is used after it: all are dropped.
      expect(fs.existsSync(pWeakTree)).toBe(false);
      const rWeak = await resume(weak, 'p', 'r', 'cat a.txt');
      expect(rWeak.storage.restored_from).toBe('chunks');
      expect(stepLog(weak, 'r')).toContain('original');
      expect(stepLog(weak, 'r')).not.toContain('pwned');

      // Sandboxed: the same attack finds nothing to write.
      const real = project('attack-sandboxed');
      const p = await launch(real, 'p', P_STEP);
      expect(p.storage.cached).toBe(true);
      const pTree = cacheOf(real, p);
      expect(fs.readFileSync(path.join(pTree, 'workspace', 'a.txt'), 'utf8')).toBe('original\n');

      const s = await launch(real, 's', attack(real));
      expect(s.sandbox).toBe('bwrap');
      expect(stepLog(real, 's')).not.toContain('wrote ');
      expect(stepLog(real, 's')).toContain('not found');
      expect(fs.readFileSync(path.join(pTree, 'workspace', 'a.txt'), 'utf8')).toBe('original\n');

      const r = await resume(real, 'p', 'r', 'cat a.txt');
      expect(r.storage.restored_from).toBe('cache');
      expect(stepLog(real, 'r')).toContain('original');
      expect(stepLog(real, 'r')).not.toContain('pwned');
    },
    TEST_TIMEOUT,
  );

  it(
    'what a step does to the tree it claimed stays its own, and its cached tree is what chunks restore',
    async () => {
      const where = project('claimed');
      const p = await launch(where, 'p', P_STEP);
      expect(p.storage.cached).toBe(true);

      // A claims P's tree and attacks it every way it can: writes, truncation, renames, set-uid,
      // a future time, hard links (inside the workspace and into the home), a link out of the
      // tree, a fifo, credential files in its home, and a process left behind that writes later
      // (by path and through a descriptor it holds).
      const attack = [
        'echo more >> a.txt',
        ': > d/b.txt',
        'mv d d2',
        'chmod 4755 a.txt',
        "touch -d '2100-01-01' a.txt",
        'ln a.txt hl.txt',
        'ln a.txt "$HOME/hl" 2>/dev/null || echo "home link refused"',
        'ln -s /etc/passwd esc',
        'mkfifo f',
        'ln -s d2/b.txt inside',
        // The same, deeper down: what is removed from a directory, or copied in it, moves its time.
        'ln a.txt d2/hl3.txt; ln -s /etc/passwd d2/esc2; mkfifo d2/f2',
        "echo old > old.txt; touch -d '2001-01-01 00:00:00.5' old.txt",
        'mkdir sticky; chmod 1777 sticky',
        'echo notes > "$HOME/notes.txt"',
        'echo "machine example.com password hunter2" > "$HOME/.netrc"',
        'mkdir -p "$HOME/.ssh"; echo key > "$HOME/.ssh/id_ed25519"',
        'mkdir -p "$HOME/.config/gh"; echo "oauth_token: x" > "$HOME/.config/gh/hosts.yml"; echo y > "$HOME/.config/gh/config.yml"',
        'exec 9>>d2/b.txt',
        `(setsid sh -c 'sleep 1; echo late >> a.txt; echo late >&9' </dev/null >/dev/null 2>&1 &)`,
        'echo attacked',
      ].join('; ');
      const before = Date.now();
      const a = await resume(where, 'p', 'a', attack);
      const after = Date.now();
      expect(a.storage.restored_from).toBe('cache');
      expect(a.storage.cached).toBe(true);
      expect(stepLog(where, 'a')).toContain('attacked');
      const aTree = cacheOf(where, a);
      const aFinished = Date.now();

      // (a) B from P: P's tree is gone from the cache (A took it), so B restores from chunks, and
      // sees P exactly as it was.
      const b = await resume(where, 'p', 'b', `cat a.txt d/b.txt; echo "ws: $(ls -A | tr '\\n' ' ')"; echo "home: $(ls -A "$HOME" | tr '\\n' ' ')"`);
      expect(b.storage.restored_from).toBe('chunks');
      const bLog = stepLog(where, 'b');
      expect(bLog).toContain('original\nkeep\n');
      expect(bLog).toContain('ws: a.txt d \n');
      expect(bLog).toContain('home: \n');
      expect(bLog).not.toContain('more');

      // (b) A's cached tree. The process A left behind would have written by now.
      await new Promise((r) => setTimeout(r, Math.max(0, 2_000 - (Date.now() - aFinished))));
      expect(fs.statSync(cacheRoot(where)).mode & 0o777).toBe(0o700);
      expect(fs.statSync(aTree).mode & 0o777).toBe(0o700);
      const ws = path.join(aTree, 'workspace');
      const home = path.join(aTree, 'home');
      const aTxt = fs.lstatSync(path.join(ws, 'a.txt'));
      const hl = fs.lstatSync(path.join(ws, 'hl.txt'));
      expect(aTxt.isFile() && hl.isFile()).toBe(true);
      expect(aTxt.ino, 'a.txt and hl.txt are no longer one file').not.toBe(hl.ino);
      expect(aTxt.nlink).toBe(1);
      expect(hl.nlink).toBe(1);
      expect(aTxt.mode & 0o7777, 'no set-uid bit in the cache').toBe(0o755);
      expect(hl.mode & 0o7777).toBe(0o755);
      // The future time is clamped to the run's clock (a second between the run's start and end).
      expect(aTxt.mtimeMs).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(aTxt.mtimeMs).toBeLessThanOrEqual(after);
      expect(hl.mtimeMs).toBe(aTxt.mtimeMs);
      expect(fs.readFileSync(path.join(ws, 'a.txt'), 'utf8'), 'nothing wrote into the cache after the commit').toBe('original\nmore\n');
      expect(fs.readFileSync(path.join(ws, 'hl.txt'), 'utf8')).toBe('original\nmore\n');
      expect(fs.readFileSync(path.join(ws, 'd2', 'b.txt'), 'utf8')).toBe('');
      expect(fs.existsSync(path.join(ws, 'd'))).toBe(false);
      // A link out of the tree and a fifo are no part of the node, so no part of its cached tree.
      expect(() => fs.lstatSync(path.join(ws, 'esc'))).toThrow();
      expect(() => fs.lstatSync(path.join(ws, 'f'))).toThrow();
      expect(() => fs.lstatSync(path.join(ws, 'd2', 'esc2'))).toThrow();
      expect(() => fs.lstatSync(path.join(ws, 'd2', 'f2'))).toThrow();
      const hl3 = fs.lstatSync(path.join(ws, 'd2', 'hl3.txt'));
      expect(hl3.nlink).toBe(1);
      expect([aTxt.ino, hl.ino]).not.toContain(hl3.ino);
      expect(fs.readlinkSync(path.join(ws, 'inside'))).toBe('d2/b.txt');
      expect(fs.lstatSync(path.join(ws, 'old.txt')).mtimeMs).toBe(Date.UTC(2001, 0, 1));
      expect(fs.lstatSync(path.join(ws, 'sticky')).mode & 0o7777).toBe(0o777);
      // Credential files of the home are never sealed, so never cached either.
      expect(fs.readFileSync(path.join(home, 'notes.txt'), 'utf8')).toBe('notes\n');
      expect(fs.existsSync(path.join(home, '.netrc'))).toBe(false);
      expect(fs.existsSync(path.join(home, '.ssh'))).toBe(false);
      expect(fs.existsSync(path.join(home, '.config', 'gh', 'hosts.yml'))).toBe(false);
      expect(fs.readFileSync(path.join(home, '.config', 'gh', 'config.yml'), 'utf8')).toBe('y\n');
      for (const e of fs.readdirSync(home, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
        const abs = path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
        if (e.isFile()) expect(fs.lstatSync(abs).nlink, abs).toBe(1);
      }

      // (c) From A: C claims A's cached tree, D restores from chunks (cache off); both see the same.
      const c = await resume(where, 'a', 'c', LISTING);
      expect(c.storage.restored_from).toBe('cache');
      expect(fs.existsSync(aTree)).toBe(false);
      const d = await resume(where, 'a', 'd', LISTING, { env: { SWARM_TREE_CACHE: 'off' } });
      expect(d.storage.restored_from).toBe('chunks');
      expect(d.storage.cached).toBe(false);
      // The cache turned off drops the trees it held (C's among them): they are plaintext.
      expect(fs.readdirSync(path.join(where.cwd, '.swarm', 'cache')).filter((n) => /^[0-9a-f]{64}$/.test(n))).toEqual([]);
      const fromChunks = listingOf(stepLog(where, 'd'));
      const fromCache = listingOf(stepLog(where, 'c'));
      expect(fromChunks).toContain('./a.txt f 14 755 1 ');
      expect(fromChunks).toContain('./hl.txt f 14 755 1 ');
      expect(fromChunks).toContain('./old.txt f 4 644 1 978307200.0000000000');
      expect(fromChunks).toContain('~/notes.txt f 6 644 1 ');
      expect(fromChunks).not.toContain('./esc');
      expect(fromChunks).toContain('./d2/hl3.txt f 14 755 1 ');
      expect(fromChunks).toContain('~/.config/gh/config.yml f 2 644 1 ');
      expect(fromChunks).toMatch(/\nstate\.db \d+ 600 1 \d+\n/);
      expect(fromChunks).not.toContain('esc');
      expect(fromChunks).not.toContain('hosts.yml');
      expect(fromChunks).not.toContain('.netrc');
      expect(fromCache).toBe(fromChunks);
    },
    TEST_TIMEOUT,
  );

  it(
    'two runs from one node: one claims the cached tree, the other restores from chunks',
    async () => {
      const where = project('concurrent');
      const p = await launch(where, 'p', P_STEP);
      expect(p.storage.cached).toBe(true);
      expect(fs.existsSync(cacheOf(where, p))).toBe(true);

      const step = 'cat a.txt d/b.txt; echo "ws: $(ls -A | tr \'\\n\' \' \')"; echo mine > a.txt';
      const [x, y] = await Promise.all([resume(where, 'p', 'x', step), resume(where, 'p', 'y', step)]);
      expect([x.storage.restored_from, y.storage.restored_from].sort()).toEqual(['cache', 'chunks']);
      expect(x.node_id).not.toBe(y.node_id);
      for (const id of ['x', 'y']) {
        const log = stepLog(where, id);
        expect(log, id).toContain('original\nkeep\n');
        expect(log, id).toContain('ws: a.txt d \n');
      }
      // P's tree was claimed once; what is cached now are the two new nodes' own trees.
      expect(fs.existsSync(cacheOf(where, p))).toBe(false);
      for (const data of [x, y]) {
        if (data.storage.cached) expect(fs.readFileSync(path.join(cacheOf(where, data), 'workspace', 'a.txt'), 'utf8')).toBe('mine\n');
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'with SWARM_TREE_CACHE=off no tree is cached and every run restores from chunks',
    async () => {
      const where = project('off');
      const off = { env: { SWARM_TREE_CACHE: 'off' } };
      const p = await launch(where, 'p', P_STEP, off);
      expect(p.storage.cached).toBe(false);
      const q = await resume(where, 'p', 'q', 'cat a.txt; echo second >> a.txt', off);
      const r = await resume(where, 'q', 'r', 'cat a.txt', off);
      for (const data of [q, r]) {
        expect(data.storage.restored_from).toBe('chunks');
        expect(data.storage.cached).toBe(false);
      }
      expect(stepLog(where, 'r')).toContain('original\nsecond\n');
      expect(cachedTrees(where)).toEqual([]);

      // The control: the same chain with the cache on keeps a tree.
      const s = await resume(where, 'r', 's', 'cat a.txt');
      expect(s.storage.restored_from).toBe('chunks');
      expect(s.storage.cached).toBe(true);
      expect(cachedTrees(where)).toEqual([s.bundle_sha256.slice('sha256:'.length)]);
    },
    TEST_TIMEOUT,
  );

  it(
    'carries nothing the node does not hold: a name that is not UTF-8, an atime',
    async () => {
      const where = project('channels');
      const p = await launch(where, 'p', P_STEP);
      expect(p.storage.cached).toBe(true);
      // A directory whose name is not UTF-8 is left out of the node; its content must not reach
      // the next step through the cached tree either (it is not cached at all).
      const hide = await resume(where, 'p', 'hide', `mkdir "$(printf 'stash\\377')" && echo loot > "$(printf 'stash\\377')/loot.txt"; ls | od -c | head -2`);
      expect(hide.skipped.map((e: { reason: string }) => e.reason)).toContain('name-not-utf8');
      expect(hide.storage.cached).toBe(false);
      const after = await resume(where, 'hide', 'after', 'ls -A; cat stash*/loot.txt 2>/dev/null || echo no-loot');
      expect(after.storage.restored_from).toBe('chunks');
      expect(stepLog(where, 'after')).toContain('no-loot');
      expect(stepLog(where, 'after')).not.toMatch(/^loot$/m);
      expect(stepLog(where, 'after')).not.toContain('stash');

      // An atime set by the step (64 bits per file the node does not record) does not survive.
      const stamp = await resume(where, 'after', 'stamp', 'touch -a -d @4000000000 a.txt; stat -c "%X %Y" a.txt');
      expect(stamp.storage.cached).toBe(true);
      expect(stepLog(where, 'stamp')).toContain('4000000000 ');
      const next = await resume(where, 'stamp', 'next', 'stat -c "times %X %Y" a.txt');
      expect(next.storage.restored_from).toBe('cache');
      const m = /times (\d+) (\d+)/.exec(stepLog(where, 'next'));
      expect(m, stepLog(where, 'next')).not.toBeNull();
      expect(m![1]).not.toBe('4000000000');
      expect(m![1]).toBe(m![2]);
    },
    TEST_TIMEOUT,
  );
});
