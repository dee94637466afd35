// Storage benchmark: swarm's chunk store and tree cache against git, restic and borg on generated
// trees, with the same ten-step change pattern for every tool. Run after `npm run build`:
//   node bench/run.mjs storage                          small + medium trees (a few minutes)
//   SWARM_BENCH_STORAGE=large node bench/run.mjs storage  all three, incl. 1 GiB / 50,001 files
// SWARM_BENCH_STORAGE takes `large` or `all` (all three trees) or a comma list of tree names
// (small, medium, large) to run exactly those. SWARM_BENCH_NO_INSTALL=1 keeps the bench from trying
// `apt-get install` for restic and borg. SWARM_BENCH_TMPDIR moves the scratch space (default: the OS
// temporary directory). SWARM_BENCH_BASELINE=<another build's packages/cli/bin/swarm.js> adds an
// A/B of that build against this one on the same chain (see BASELINE below); SWARM_BENCH_STEPS
// sets the chain's length.
//
// Each step appends one line to an existing file and adds one new 100 KiB file (incompressible,
// from an AES-CTR keystream, so byte-identical for every tool). The same shell command is swarm's
// `--step` and, applied untimed, the change for the others. Per tool, per step:
//   swarm   one `swarm run launch --workspace <tree>` (step 1) or `swarm run resume --node run:<prev>`
//           process, the change as its step, started as the `swarm` command is (the bin by its path,
//           through its shell line); store = du of .swarm/ after the chain less the tree
//           cache (a plaintext checkout of the newest node, the counterpart of git's work tree,
//           reported on its own line)
//   git     `git add -A && git commit` (step 1 is the first commit of the whole tree) plus, from step
//           2 on, `git checkout HEAD~1 && git checkout <branch>` (the restore); store = du of .git as
//           is (gc.auto=0, no gc)
//   restic  `restic backup` (step 1 is the first, full backup); repository initialised once
//   borg    `borg create` (likewise)
// restic's and borg's restore of the previous snapshot is measured after the chain (median of 3).
// The rounds are interleaved, tools in a rotating order, so drift on a shared machine hits all alike.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, heading, median } from './lib.mjs';

const BIN = fileURLToPath(new URL('../packages/cli/bin/swarm.js', import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;
// SWARM_BENCH_STEPS changes the chain's length (the issue's pattern is ten steps): more samples of
// a small step on a noisy machine.
const STEPS = stepsFrom(process.env.SWARM_BENCH_STEPS);
function stepsFrom(value) {
  if (value === undefined || value.trim() === '') return 10;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 2 || n > 200) throw new Error(`SWARM_BENCH_STEPS: ${value} is not a whole number of steps from 2 to 200`);
  return n;
}
/**
 * SWARM_BENCH_BASELINE=<another build's packages/cli/bin/swarm.js>: an A/B of two builds in one run.
 * The chain is then 2 × STEPS + 2 steps, and from step 2 on the builds take turns (this one the even
 * steps, the baseline the odd ones) on the same store, each resuming from the node the other made.
 * Each build's first resume (steps 2 and 3) fills its code cache and is left out of the comparison.
 */
const BASELINE = process.env.SWARM_BENCH_BASELINE ? path.resolve(process.env.SWARM_BENCH_BASELINE) : null;
const NEW_FILE_BYTES = 100 * KiB;
const PASSWORD = 'swarm-bench-storage-not-a-secret';

// The issue's targets (docs: issue 12, "Must show").
const TARGETS = {
  small: { stepS: 0.3 },
  large: { stepS: 1.5, storeOverRestic: 1.1 },
};

// ---------------------------------------------------------------------------------------------
// Trees. Each group: `count` files of `kind` text (source-like, compressible) or binary
// (incompressible), sizes uniform in [min, max], placed by `place(i, rng)`.

const TREES = {
  small: {
    timeoutMs: 120_000,
    groups: [
      { count: 1, kind: 'text', min: 4 * KiB, max: 4 * KiB, place: () => 'README.md' },
      { count: 960, kind: 'text', min: 512, max: 5632, place: (i) => `src/m${i % 24}/s${i % 5}/file${i}.ts` },
      { count: 64, kind: 'binary', min: 2 * KiB, max: 18 * KiB, place: (i) => `assets/a${i % 4}/img${i}.png` },
    ],
  },
  medium: {
    timeoutMs: 300_000,
    groups: [
      { count: 1, kind: 'text', min: 6 * KiB, max: 6 * KiB, place: () => 'README.md' },
      { count: 1, kind: 'text', min: 2 * KiB, max: 2 * KiB, place: () => 'package.json' },
      { count: 1, kind: 'text', min: 256 * KiB, max: 256 * KiB, place: () => 'package-lock.json' },
      { count: 420, kind: 'text', min: 512, max: 8 * KiB, place: (i) => `src/m${i % 30}/file${i}.ts` },
      { count: 120, kind: 'text', min: 512, max: 7 * KiB, place: (i) => `test/t${i % 8}/case${i}.test.ts` },
      { count: 3200, kind: 'text', min: 256, max: 40 * KiB, place: (i) => nodeModule(i, ['index.js', 'package.json', 'README.md', 'lib/util.js', 'dist/index.d.ts', 'dist/index.mjs', 'lib/core.js', 'LICENSE']) },
      { count: 20, kind: 'binary', min: 512 * KiB, max: 1536 * KiB, place: (i) => `node_modules/wasm-pkg-${i}/dist/module.wasm` },
      { count: 14, kind: 'binary', min: 3 * MiB, max: 6.5 * MiB, place: (i) => `node_modules/@native/tool-${i}-linux-x64/bin/tool${i}` },
    ],
  },
  large: {
    timeoutMs: 1_800_000,
    groups: [
      { count: 1, kind: 'text', min: 8 * KiB, max: 8 * KiB, place: () => 'README.md' },
      { count: 30_000, kind: 'text', min: 256, max: 8 * KiB, place: (i) => `src/m${i % 60}/s${Math.floor(i / 60) % 5}/file${i}.ts` },
      { count: 15_000, kind: 'text', min: 512, max: 16 * KiB, place: (i) => nodeModule(i, ['index.js', 'package.json', 'README.md', 'lib/a.js', 'lib/b.js', 'dist/index.d.ts', 'dist/index.cjs', 'LICENSE', 'src/x.ts', 'src/y.ts']) },
      { count: 4950, kind: 'binary', min: 16 * KiB, max: 224 * KiB, place: (i) => `data/d${i % 50}/part${i}.bin` },
      { count: 50, kind: 'binary', min: 2 * MiB, max: 6 * MiB, place: (i) => `blobs/blob${i}.bin` },
    ],
  },
};

/** node_modules/<package>/<file>: ~1 package per `files.length` entries, nested scopes for some. */
function nodeModule(i, files) {
  const pkg = Math.floor(i / files.length);
  const scope = pkg % 7 === 0 ? `@scope${pkg % 5}/` : '';
  return `node_modules/${scope}pkg-${pkg}/${files[i % files.length]}`;
}

/** xoshiro128** seeded from a string: the tree's sizes and text. */
function prng(seed) {
  const h = crypto.createHash('sha256').update(seed).digest();
  let a = h.readUInt32LE(0), b = h.readUInt32LE(4), c = h.readUInt32LE(8), d = h.readUInt32LE(12);
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
    return r;
  };
  const rotl = (x, k) => ((x << k) | (x >>> (32 - k))) >>> 0;
  return { u32: next, int: (lo, hi) => lo + (next() % (hi - lo + 1)), pick: (arr) => arr[next() % arr.length] };
}

/** Incompressible bytes from an AES-128-CTR keystream keyed from `seed`. */
function keystream(seed) {
  const key = crypto.createHash('sha256').update(`bytes:${seed}`).digest();
  const cipher = crypto.createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(MiB);
  return (length) => {
    const parts = [];
    for (let left = length; left > 0; left -= MiB) parts.push(cipher.update(left >= MiB ? zeros : zeros.subarray(0, left)));
    return Buffer.concat(parts);
  };
}

const KEYWORDS = 'const let function return if else for while import export from default async await new this class extends true false null undefined typeof require module exports throw try catch switch case break'.split(' ');
const PUNCT = ['(', ')', '{', '}', ';', '=', '=>', '.', ',', '[', ']', '+', '===', '&&', '||', ':', '?'];

/** Source-like text: lines of keywords, identifiers and punctuation from a per-tree vocabulary. */
function textMaker(rng) {
  const syl = ['al', 'be', 'co', 'da', 'en', 'fi', 'go', 'ha', 'in', 'jo', 'ka', 'lu', 'me', 'no', 'or', 'pa', 'qu', 'ri', 'st', 'tu', 'un', 've', 'wo', 'xe', 'yo', 'ze'];
  const idents = [];
  for (let i = 0; i < 400; i += 1) {
    let w = '';
    const n = rng.int(2, 4);
    for (let j = 0; j < n; j += 1) w += j > 0 && rng.u32() % 3 === 0 ? rng.pick(syl).toUpperCase() : rng.pick(syl);
    idents.push(w);
  }
  const vocab = [...KEYWORDS, ...PUNCT, ...idents];
  return (length) => {
    let s = '';
    while (s.length < length) {
      let line = ' '.repeat(2 * (rng.u32() % 5));
      const words = rng.int(2, 11);
      for (let j = 0; j < words; j += 1) line += (j ? ' ' : '') + vocab[rng.u32() % vocab.length];
      s += `${line}\n`;
    }
    return Buffer.from(s.slice(0, length));
  };
}

/** Writes the tree under `dir`; returns { bytes, files, text: [relative paths of text files] }. */
function generateTree(name, dir) {
  const rng = prng(`swarm-bench-storage:${name}`);
  const bytes = keystream(`swarm-bench-storage:${name}`);
  const text = textMaker(rng);
  const made = new Set();
  const textFiles = [];
  let total = 0;
  let files = 0;
  for (const group of TREES[name].groups) {
    for (let i = 0; i < group.count; i += 1) {
      const rel = group.place(i, rng);
      if (made.has(rel)) throw new Error(`tree ${name}: duplicate path ${rel}`);
      made.add(rel);
      const size = group.min === group.max ? group.min : rng.int(group.min, group.max);
      const file = path.join(dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, group.kind === 'text' ? text(size) : bytes(size));
      if (group.kind === 'text') textFiles.push(rel);
      total += size;
      files += 1;
    }
  }
  return { bytes: total, files, textFiles, rng };
}

/** The ten changes: append a line to an existing text file, add a 100 KiB file beside it. */
function changes(name, tree, steps) {
  const key = crypto.createHash('sha256').update(`swarm-bench-storage:change:${name}`).digest('hex').slice(0, 32);
  const chosen = new Set();
  const out = [];
  for (let k = 1; k <= steps; k += 1) {
    let target;
    do target = tree.rng.pick(tree.textFiles);
    while (chosen.has(target));
    chosen.add(target);
    const added = path.posix.join(path.posix.dirname(target), `bench-step-${String(k).padStart(2, '0')}.bin`);
    // The IV's counter half starts at 0 and the step number sits in the nonce half, so the ten
    // keystreams never overlap (no accidental cross-step duplicates for a deduplicating store).
    const iv = k.toString(16).padStart(16, '0') + '0'.repeat(16);
    const cmd =
      `printf '%s\\n' '// swarm bench step ${k}' >> '${target}' && ` +
      `dd if=/dev/zero bs=${NEW_FILE_BYTES} count=1 2>/dev/null | openssl enc -aes-128-ctr -nosalt -K ${key} -iv ${iv} > '${added}'`;
    out.push({ k, target, added, cmd });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one has a timeout and runs in its own process group, killed whole.

const live = new Set();

function run(cmd, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let ms = 0;
    let timedOut = false;
    const out = [];
    const err = [];
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child);
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('exit', () => {
      ms = Number(process.hrtime.bigint() - t0) / 1e6;
    });
    const done = (code, signal, error) => {
      clearTimeout(timer);
      live.delete(child);
      if (!ms) ms = Number(process.hrtime.bigint() - t0) / 1e6;
      resolve({ code, signal, timedOut, ms, error, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    };
    child.on('error', (e) => done(null, null, e));
    child.on('close', (code, signal) => done(code, signal, null));
  });
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}

async function must(cmd, args, options, what = `${path.basename(cmd)} ${args.slice(0, 3).join(' ')}`) {
  const r = await run(cmd, args, options);
  if (r.timedOut) throw new Error(`${what}: timed out after ${options.timeoutMs / 1000} s`);
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code ?? r.signal}: ${tail(r.stderr || r.stdout)}`);
  return r;
}

const tail = (s, n = 400) => (s.length > n ? `…${s.slice(-n)}` : s).trim().replace(/\s+/g, ' ');

async function duBytes(dir, timeoutMs) {
  const r = await must('du', ['-s', '-B1', dir], { timeoutMs }, `du ${dir}`);
  return Number(r.stdout.split(/\s/)[0]);
}

async function have(cmd, args) {
  const r = await run(cmd, args, { timeoutMs: 20_000 });
  return r.code === 0 ? (r.stdout || r.stderr).trim().split('\n')[0] : null;
}

/** restic and borg: found, installed with apt-get (root only), or a note saying why not. */
async function peers() {
  const probe = { restic: ['restic', ['version']], borg: ['borg', ['--version']] };
  const found = { restic: await have(...probe.restic), borg: await have(...probe.borg) };
  const notes = [];
  const missing = Object.keys(found).filter((k) => !found[k]);
  if (missing.length === 0) return { found, notes };
  const pkgs = missing.map((k) => (k === 'borg' ? 'borgbackup' : 'restic'));
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const apt = await have('sh', ['-c', 'command -v apt-get']);
  if (process.env.SWARM_BENCH_NO_INSTALL === '1') {
    notes.push(`${pkgs.join(', ')} not installed and SWARM_BENCH_NO_INSTALL=1: not installing`);
  } else if (!isRoot || !apt) {
    notes.push(`${pkgs.join(', ')} not installed, and ${!isRoot ? 'not running as root' : 'no apt-get'}: install the Debian packages restic and borgbackup to compare against them`);
  } else {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    console.log(`(installing ${pkgs.join(' ')} with apt-get …)`);
    let r = await run('apt-get', ['install', '-y', '-qq', ...pkgs], { env, timeoutMs: 600_000 });
    if (r.code !== 0) {
      await run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
      for (const p of pkgs) r = await run('apt-get', ['install', '-y', '-qq', p], { env, timeoutMs: 600_000 });
    }
    for (const k of missing) found[k] = await have(...probe[k]);
    const still = missing.filter((k) => !found[k]);
    if (still.length) notes.push(`apt-get install failed for ${still.join(', ')}: ${tail(r.stderr || r.stdout, 200)}`);
    else notes.push(`installed ${pkgs.join(', ')} with apt-get`);
  }
  for (const k of Object.keys(found)) if (!found[k]) notes.push(`${k}: skipped (not available)`);
  return { found, notes };
}

/** Whether bubblewrap sandboxing works here; otherwise swarm needs --unsandboxed-egress. */
async function sandboxProbe(tmp) {
  const dir = path.join(tmp, 'probe');
  const ws = path.join(dir, 'ws');
  fs.mkdirSync(ws, { recursive: true });
  fs.writeFileSync(path.join(ws, 'a.txt'), 'a\n');
  const env = { ...process.env, SWARM_HOME: path.join(dir, 'home'), NO_COLOR: '1' };
  await must(BIN, ['init', '--quiet'], { cwd: dir, env, timeoutMs: 60_000 }, 'swarm init');
  const r = await run(BIN, ['run', 'launch', '--workspace', ws, '--run-id', 'probe', '--step', 'true', '--json'], { cwd: dir, env, timeoutMs: 60_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.code === 0) return { extra: [], label: 'sandboxed (bwrap)', short: 'bwrap', note: null };
  if (r.code === 6) return { extra: ['--unsandboxed-egress'], label: 'unsandboxed (--unsandboxed-egress)', short: 'unsandboxed', note: `the sandbox is unavailable here (exit 6), so swarm runs with --unsandboxed-egress: ${tail(r.stderr, 200)}` };
  throw new Error(`swarm probe run failed: exit ${r.code ?? r.signal}: ${tail(r.stderr || r.stdout)}`);
}

// ---------------------------------------------------------------------------------------------
// The tools. Each has init(), step(change) -> records, store(), and optional restore().

function swarmTool(dir, tree, sandbox, timeoutMs) {
  const project = path.join(dir, 'swarm-project');
  const env = { ...process.env, SWARM_HOME: path.join(dir, 'swarm-home'), NO_COLOR: '1' };
  // steps, restores, phases, stats and sources are this build's; `baseline` the other build's resumes (A/B).
  const t = { name: 'swarm', steps: [], restores: [], phases: {}, notes: [], stats: [], sources: [], ids: [], baseline: [] };
  t.init = async () => {
    fs.mkdirSync(project, { recursive: true });
    await must(BIN, ['init', '--quiet'], { cwd: project, env, timeoutMs }, 'swarm init');
  };
  t.step = async (c) => {
    const id = `s${String(c.k).padStart(2, '0')}`;
    const head = c.k === 1 ? ['run', 'launch', '--workspace', tree] : ['run', 'resume', '--node', `run:s${String(c.k - 1).padStart(2, '0')}`];
    const baseline = BASELINE !== null && c.k > 1 && c.k % 2 === 1;
    const bin = baseline ? BASELINE : BIN;
    const r = await must(bin, [...head, '--run-id', id, '--step', c.cmd, '--json', ...sandbox.extra], { cwd: project, env, timeoutMs }, `swarm ${head[1]} (step ${c.k}${baseline ? ', baseline' : ''})`);
    const data = JSON.parse(r.stdout).data;
    if (data.status !== 'succeeded' || data.exit_code !== 0) throw new Error(`swarm step ${c.k}: ${data.status}, exit ${data.exit_code}`);
    t.ids.push(id);
    if (baseline) {
      if (c.k > 3) t.baseline.push(r.ms);
      return;
    }
    t.steps.push(r.ms);
    t.restores.push(data.timings_ms?.restore ?? null);
    t.stats.push(data.storage?.snapshot ?? null);
    t.sources.push(data.storage?.restored_from ?? '—');
    if (c.k > 1) for (const [k, v] of Object.entries(data.timings_ms ?? {})) (t.phases[k] ??= []).push(v);
  };
  // A restore that cannot use the cache: the previous node exported from its chunks.
  t.restore = async (target) =>
    (await must(BIN, ['state', 'export', '--node', `run:${t.ids.at(-2)}`, '--out', path.join(target, 'x'), '--json'], { cwd: project, env, timeoutMs }, 'swarm state export')).ms;
  t.store = async () => {
    const total = await duBytes(path.join(project, '.swarm'), timeoutMs);
    const part = async (name) => (fs.existsSync(path.join(project, '.swarm', name)) ? duBytes(path.join(project, '.swarm', name), timeoutMs) : 0);
    const [objects, packs, cache] = [await part('objects'), await part('packs'), await part('cache')];
    t.notes.push(`store ${size(total - cache)}: packs ${size(packs)}, objects ${size(objects)}, catalog and runs ${size(total - cache - packs - objects)}; tree cache (plaintext checkout, not counted) ${size(cache)}`);
    const read = t.stats.map((s) => s?.files_read ?? '—').join(' ');
    t.notes.push(`files read per step (the rest reused by stat): ${read}; restored from: ${t.sources.join(' ')}`);
    return total - cache;
  };
  return t;
}

function gitTool(dir, work, timeoutMs) {
  const env = {
    ...process.env,
    HOME: path.join(dir, 'git-home'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'bench',
    GIT_AUTHOR_EMAIL: 'bench@example.invalid',
    GIT_COMMITTER_NAME: 'bench',
    GIT_COMMITTER_EMAIL: 'bench@example.invalid',
  };
  const opt = { cwd: work, env, timeoutMs };
  const t = { name: 'git', steps: [], commits: [], restores: [], notes: ['gc.auto=0, store as is (loose objects, no gc)'] };
  t.init = async () => {
    fs.mkdirSync(env.HOME, { recursive: true });
    await must('git', ['init', '-q', '-b', 'bench'], opt, 'git init');
    await must('git', ['config', 'gc.auto', '0'], opt, 'git config');
    await must('git', ['config', 'advice.detachedHead', 'false'], opt, 'git config');
  };
  t.step = async (c) => {
    await must('sh', ['-c', c.cmd], opt, `change ${c.k} (git copy)`);
    const commit = await must('sh', ['-c', `git add -A && git commit -q -m 'step ${c.k}'`], opt, `git commit (step ${c.k})`);
    let restore = 0;
    if (c.k > 1) {
      restore = (await must('sh', ['-c', 'git checkout -q HEAD~1 && git checkout -q bench'], opt, `git checkout (step ${c.k})`)).ms;
      t.restores.push(restore);
    }
    t.commits.push(commit.ms);
    t.steps.push(commit.ms + restore);
  };
  t.store = () => duBytes(path.join(work, '.git'), timeoutMs);
  return t;
}

function resticTool(dir, work, timeoutMs) {
  const repo = path.join(dir, 'restic-repo');
  const env = { ...process.env, HOME: path.join(dir, 'restic-home'), RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: path.join(dir, 'restic-cache') };
  const t = { name: 'restic', steps: [], snapshots: [], notes: [] };
  t.init = async () => {
    fs.mkdirSync(env.HOME, { recursive: true });
    await must('restic', ['init', '-q'], { cwd: dir, env, timeoutMs }, 'restic init');
  };
  t.step = async (c) => {
    const r = await must('restic', ['backup', '--json', '--host', 'swarm-bench', '.'], { cwd: work, env, timeoutMs }, `restic backup (step ${c.k})`);
    const summary = r.stdout.split('\n').filter((l) => l.includes('"summary"')).map((l) => JSON.parse(l)).pop();
    if (!summary?.snapshot_id) throw new Error(`restic backup (step ${c.k}): no snapshot id in its output`);
    t.snapshots.push(summary.snapshot_id);
    t.steps.push(r.ms);
  };
  t.restore = async (target) => (await must('restic', ['restore', t.snapshots.at(-2) ?? t.snapshots.at(-1), '--target', target], { cwd: dir, env, timeoutMs }, 'restic restore')).ms;
  t.store = () => duBytes(repo, timeoutMs);
  return t;
}

function borgTool(dir, work, timeoutMs) {
  const repo = path.join(dir, 'borg-repo');
  const env = {
    ...process.env,
    BORG_BASE_DIR: path.join(dir, 'borg-base'),
    BORG_REPO: repo,
    BORG_PASSPHRASE: PASSWORD,
    BORG_DISPLAY_PASSPHRASE: 'no',
    BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
  };
  const t = { name: 'borg', steps: [], archives: [], notes: ['repokey-blake2, default compression (lz4)'] };
  t.init = async () => {
    fs.mkdirSync(env.BORG_BASE_DIR, { recursive: true });
    await must('borg', ['init', '--encryption=repokey-blake2'], { cwd: dir, env, timeoutMs }, 'borg init');
  };
  t.step = async (c) => {
    const name = `step-${String(c.k).padStart(2, '0')}`;
    const r = await must('borg', ['create', `::${name}`, '.'], { cwd: work, env, timeoutMs }, `borg create (step ${c.k})`);
    t.archives.push(name);
    t.steps.push(r.ms);
  };
  t.restore = async (target) => (await must('borg', ['extract', `::${t.archives.at(-2) ?? t.archives.at(-1)}`], { cwd: target, env, timeoutMs }, 'borg extract')).ms;
  t.store = () => duBytes(repo, timeoutMs);
  return t;
}

// ---------------------------------------------------------------------------------------------

function size(bytes) {
  if (bytes == null) return '—';
  if (bytes >= 1e9) return `${fmt(bytes / 1e9, 2)} GB`;
  return `${fmt(bytes / 1e6, bytes >= 1e8 ? 0 : 1)} MB`;
}
const secs = (ms) => (ms == null ? '—' : `${fmt(ms / 1000, ms < 10_000 ? 2 : 1)} s`);
const ratio = (a, b) => (a == null || b == null || !b ? '—' : `${fmt(a / b, a / b >= 10 ? 0 : 1)}×`);

function selectTrees(value) {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'default') return ['small', 'medium'];
  if (v === 'large' || v === 'all') return ['small', 'medium', 'large'];
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !TREES[n]);
  if (unknown.length) throw new Error(`SWARM_BENCH_STORAGE: unknown tree ${unknown.join(', ')} (small, medium, large, all)`);
  return Object.keys(TREES).filter((n) => names.includes(n));
}

async function benchTree(name, root, sandbox, found, steps) {
  const dir = fs.mkdtempSync(path.join(root, `${name}-`));
  const { timeoutMs } = TREES[name];
  try {
    const gen = path.join(dir, 'tree');
    const g0 = Date.now();
    const tree = generateTree(name, gen);
    const genMs = Date.now() - g0;
    const chain = changes(name, tree, steps);
    const gitWork = path.join(dir, 'git-work');
    await must('cp', ['-a', gen, gitWork], { timeoutMs }, 'cp -a (git copy)');
    // swarm seeds from `gen` at step 1; restic and borg then read `gen` itself, which the chain
    // changes in place after swarm has taken its copy (the copy is made inside step 1's process).
    const tools = [swarmTool(dir, gen, sandbox, timeoutMs), gitTool(dir, gitWork, timeoutMs)];
    if (found.restic) tools.push(resticTool(dir, gen, timeoutMs));
    if (found.borg) tools.push(borgTool(dir, gen, timeoutMs));
    for (const t of tools) {
      try {
        await t.init();
      } catch (e) {
        t.failed = e.message;
      }
    }
    // Round k: swarm takes change k inside its step; the change is then applied (untimed) to the git
    // copy and to `gen` (which restic and borg share), and each tool stores it, in a rotating order.
    for (const c of chain) {
      const order = tools.map((_, i) => tools[(i + c.k - 1) % tools.length]);
      const swarm = tools[0];
      // swarm first in step 1: it must seed from the unchanged tree.
      if (c.k === 1) order.sort((a, b) => (a === swarm ? -1 : b === swarm ? 1 : 0));
      let appliedToGen = false;
      for (const t of order) {
        if (t.failed) continue;
        try {
          if ((t.name === 'restic' || t.name === 'borg') && !appliedToGen) {
            await must('sh', ['-c', c.cmd], { cwd: gen, timeoutMs }, `change ${c.k}`);
            appliedToGen = true;
          }
          await t.step(c);
        } catch (e) {
          t.failed = e.message;
        }
      }
      // Without restic and borg, `gen` still follows the chain (for the record; nobody reads it).
      if (!appliedToGen) await must('sh', ['-c', c.cmd], { cwd: gen, timeoutMs }, `change ${c.k}`);
    }
    for (const t of tools) {
      if (t.failed) continue;
      try {
        t.storeBytes = await t.store();
        if (t.restore) {
          const times = [];
          for (let i = 0; i < 3; i += 1) {
            const target = path.join(dir, `restore-${t.name}-${i}`);
            fs.mkdirSync(target);
            times.push(await t.restore(target));
            fs.rmSync(target, { recursive: true, force: true });
          }
          t.restoreMs = median(times);
        }
      } catch (e) {
        t.failed = e.message;
      }
    }
    return { name, tree, genMs, tools, steps };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function report(result, sandbox) {
  const { name, tree, genMs, tools, steps } = result;
  heading(`${name} tree: ${fmt(tree.bytes / MiB, 1)} MiB, ${tree.files.toLocaleString('en-US')} files (generated in ${fmt(genMs / 1000, 1)} s), ${steps} steps`);
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  const sw = byName.swarm;
  const m10 = (t) => (t && !t.failed && t.steps.length ? median(t.steps) : null);
  const rest = (t) => (t && !t.failed && t.steps.length > 1 ? median(t.steps.slice(1)) : null);
  const swStore = sw.failed ? null : sw.storeBytes;
  const rows = [];
  for (const label of ['swarm', 'git', 'restic', 'borg']) {
    const t = byName[label];
    if (!t) {
      rows.push([label, 'skipped (not installed)', '', '', '', '', '', '']);
      continue;
    }
    if (t.failed) {
      rows.push([label, `failed: ${tail(t.failed, 140)}`, '', '', '', '', '', '']);
      continue;
    }
    const restore =
      label === 'swarm' ? `${secs(median(t.phases.restore ?? [0]))} in step (cache); ${secs(t.restoreMs)} from chunks (export prev.)` : label === 'git' ? `${secs(median(t.restores))} (checkout prev + back)` : `${secs(t.restoreMs)} (prev. snapshot, median of 3)`;
    const me = label === 'swarm';
    rows.push([
      label === 'swarm' ? `swarm (${sandbox.short})` : label === 'git' ? 'git (commit + checkout)' : label,
      secs(m10(t)),
      secs(t.steps[0]),
      secs(rest(t)),
      restore,
      size(t.storeBytes),
      me ? '' : ratio(m10(sw), m10(t)),
      me ? '' : ratio(swStore, t.storeBytes),
    ]);
  }
  printTable(['tool', `per step, median of ${steps}`, 'step 1 (import)', `steps 2–${steps} median`, 'restore', `store after ${steps} steps`, 'swarm/tool time', 'swarm/tool store'], rows);
  if (byName.git && !byName.git.failed) console.log(`git commit alone: median ${secs(median(byName.git.commits))} per step (the checkout adds ${secs(median(byName.git.restores))})`);
  if (!sw.failed && Object.keys(sw.phases).length) {
    console.log(`swarm resume phases (median ms over steps 2–${steps}): ${Object.entries(sw.phases).map(([k, v]) => `${k} ${fmt(median(v), 0)}`).join(', ')}`);
  }
  if (!sw.failed) {
    console.log(`swarm per step, in order (s): ${sw.steps.map((ms) => fmt(ms / 1000, 2)).join(' ')}`);
    console.log(`swarm restore phase, in order (s): ${sw.restores.map((ms) => (ms == null ? '—' : fmt(ms / 1000, 2))).join(' ')}`);
  }
  for (const t of tools) for (const n of t.notes) console.log(`${t.name}: ${n}`);
  if (BASELINE !== null && !sw.failed) {
    console.log(`A/B: swarm's rows, phases and per-step lists above are this build's steps only (step 1 and the even steps, ${sw.steps.length} of ${steps})`);
    // This build's steps are 1, 2, 4, 6 …: from the third on, they are its resumes after the first.
    const compared = sw.steps.slice(2);
    const [a, b] = [compared, sw.baseline].map((v) => (v.length ? median(v) : null));
    console.log(
      `A/B, the builds taking turns on one chain (steps 4 on; each build's first resume left out): this build ${a == null ? '—' : fmt(a, 0)} ms (median of ${compared.length}), ` +
        `baseline ${BASELINE} ${b == null ? '—' : fmt(b, 0)} ms (median of ${sw.baseline.length}); this ÷ baseline ${a && b ? fmt(a / b, 2) : '—'}×`,
    );
  }
  return {
    name,
    tree,
    swarm: m10(sw),
    swarmResume: rest(sw),
    swarmStore: swStore,
    restore: sw.failed ? null : median(sw.phases.restore ?? [0]),
    seal: sw.failed ? null : median(sw.phases.seal ?? [0]),
    git: m10(byName.git),
    restic: m10(byName.restic),
    borg: m10(byName.borg),
    stores: ['git', 'restic', 'borg'].map((n) => (byName[n] && !byName[n].failed ? byName[n].storeBytes : null)),
  };
}

/**
 * What any Node process costs here before its first line runs (`node -e 0`, median of 7), in the
 * environment swarm runs in; the part of a small step no program of Node can save. Where
 * NODE_EXTRA_CA_CERTS is set, Node reads and parses that file at every start: measured without it too.
 */
async function nodeFloor(cwd) {
  const time = async (env) => {
    const ms = [];
    for (let i = 0; i < 7; i += 1) ms.push((await run(process.execPath, ['-e', '0'], { cwd, env, timeoutMs: 30_000 })).ms);
    return median(ms);
  };
  const asIs = await time(process.env);
  let line = `Node start-up here (\`node -e 0\`, median of 7): ${fmt(asIs, 0)} ms`;
  if (process.env.NODE_EXTRA_CA_CERTS) {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    line += `; this environment sets NODE_EXTRA_CA_CERTS, which every Node process reads at start: ${fmt(await time(env), 0)} ms without it (swarm runs as the \`swarm\` command, its bin started by path: its shell line leaves the file to swarm's first HTTPS request, and the processes it starts get the variable as it was)`;
  }
  return line;
}

function printTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

function targets(summaries) {
  heading("issue 12's targets");
  const s = Object.fromEntries(summaries.map((x) => [x.name, x]));
  const verdict = (ok) => (ok == null ? 'not measured' : ok ? 'met' : 'NOT met');
  const small = s.small;
  console.log(
    `small tree, a whole \`run resume\` process under ${TARGETS.small.stepS} s: ` +
      (small ? `${secs(small.swarmResume)} (median of the resumes, steps 2 on; of all steps: ${secs(small.swarm)}) — ${verdict(small.swarmResume == null ? null : small.swarmResume < TARGETS.small.stepS * 1000)}` : `not measured (tree not selected)`),
  );
  const large = s.large;
  if (!large) {
    console.log(`large tree, a step under ${TARGETS.large.stepS} s and the store ≤ ${TARGETS.large.storeOverRestic}× restic's: not measured (set SWARM_BENCH_STORAGE=large to run the 1 GiB / 50,001-file tree)`);
    return;
  }
  console.log(`large tree, a whole \`run resume\` process under ${TARGETS.large.stepS} s: ${secs(large.swarmResume)} (median of the resumes; of all steps: ${secs(large.swarm)}) — ${verdict(large.swarmResume == null ? null : large.swarmResume < TARGETS.large.stepS * 1000)}`);
  const restic = large.stores[1];
  console.log(
    `large tree, store after ten steps ≤ ${TARGETS.large.storeOverRestic}× restic's: ` +
      (restic == null || large.swarmStore == null ? 'not measured (restic unavailable or failed)' : `${size(large.swarmStore)} vs ${size(restic)} = ${fmt(large.swarmStore / restic, 2)}× — ${verdict(large.swarmStore <= TARGETS.large.storeOverRestic * restic)}`),
  );
}

function summaryTable(summaries) {
  heading("summary, the issue's table (per-step medians over the chain, same run, same trees)");
  const rows = summaries.map((x) => [
    `${fmt(x.tree.bytes / MiB, 1)} MiB, ${x.tree.files.toLocaleString('en-US')} files (${x.name})`,
    `${secs(x.swarm)} (restore ${secs(x.restore)}, seal ${secs(x.seal)})`,
    secs(x.git),
    secs(x.restic),
    secs(x.borg),
    size(x.swarmStore),
    x.stores.map(size).join(' / '),
    [ratio(x.swarm, x.git), ratio(x.swarm, x.restic), ratio(x.swarm, x.borg)].join(' / '),
    x.stores.map((b) => ratio(x.swarmStore, b)).join(' / '),
  ]);
  printTable(['workspace', 'swarm per step', 'git', 'restic', 'borg', 'swarm store', 'git / restic / borg store', 'swarm ÷ git/restic/borg time', 'swarm ÷ git/restic/borg store'], rows);
}

export async function main({ steps = BASELINE === null ? STEPS : 2 * STEPS + 2, trees = selectTrees(process.env.SWARM_BENCH_STORAGE) } = {}) {
  const base = process.env.SWARM_BENCH_TMPDIR || os.tmpdir();
  const tmp = fs.mkdtempSync(path.join(base, 'swarm-bench-storage-'));
  const onSignal = (sig) => {
    for (const c of live) killGroup(c);
    fs.rmSync(tmp, { recursive: true, force: true });
    console.error(`\nstorage bench: ${sig}, scratch space removed`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const skipped = Object.keys(TREES).filter((n) => !trees.includes(n));
    heading(`storage: swarm vs git, restic and borg, ${steps} steps per tree (append one line + add one 100 KiB file)`);
    console.log(`trees: ${trees.join(', ')}` + (skipped.length ? `; skipped: ${skipped.join(', ')} (SWARM_BENCH_STORAGE=large or all runs all three; the 1 GiB tree needs ~20 GB of free disk and took ~17 min on 2 cores)` : ''));
    if (!fs.existsSync(BIN)) throw new Error(`${BIN} not found: run \`npm run build\` first`);
    if (BASELINE !== null && !fs.existsSync(BASELINE)) throw new Error(`SWARM_BENCH_BASELINE: ${BASELINE} not found`);
    if (!(await have('sh', ['-c', 'command -v openssl']))) throw new Error('openssl not found: the change pattern writes its 100 KiB files with `openssl enc`');
    const gitVersion = await have('git', ['--version']);
    if (!gitVersion) throw new Error('git not found');
    const sandbox = await sandboxProbe(tmp);
    const { found, notes } = await peers();
    console.log(`swarm ${(await have(BIN, ['--version'])) ?? '?'} (${sandbox.label}); ${gitVersion}; ${found.restic ?? 'restic: not available'}; ${found.borg ?? 'borg: not available'}`);
    if (sandbox.note) console.log(`note: ${sandbox.note}`);
    for (const n of notes) console.log(`note: ${n}`);
    console.log('store sizes are disk usage (du -s -B1) in decimal MB/GB; times are whole-process wall clock');
    console.log(await nodeFloor(tmp));
    const summaries = [];
    for (const name of trees) {
      if (name === 'large') {
        const free = fs.statfsSync(tmp);
        const freeBytes = free.bavail * free.bsize;
        if (freeBytes < 20e9) {
          console.log(`\n## large tree: skipped, only ${size(freeBytes)} free under ${base} (needs ~20 GB; set SWARM_BENCH_TMPDIR)`);
          continue;
        }
      }
      const result = await benchTree(name, tmp, sandbox, found, steps);
      summaries.push(report(result, sandbox));
    }
    if (summaries.length) summaryTable(summaries);
    targets(summaries);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of live) killGroup(c);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main();
}
