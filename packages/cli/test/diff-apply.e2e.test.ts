import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let env: NodeJS.ProcessEnv;
let seedNode: string;
let artifactHash: string;

function run(cmd: string, args: string[], cwd = tmp, extraEnv: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const swarm = (args: string[], cwd = tmp) => run(process.execPath, [BIN, ...args], cwd);
const git = (args: string[], cwd: string) => run('git', args, cwd);

function json(args: string[], cwd = tmp) {
  const r = swarm([...args, '--json'], cwd);
  const envelope = JSON.parse(r.stdout);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { ...r, envelope };
}

/** Every path with what apply must reproduce: content, permission bits, link text. */
function listing(dir: string, options: { gitModes?: boolean } = {}): Record<string, string> {
  const skip = new Set(['.git']);
  // Git keeps only the executable bit; a checkout's other bits come from the umask.
  const mode = (m: number) => (options.gitModes ? (m & 0o100 ? 0o755 : 0o644) : m & 0o777);
  const out: Record<string, string> = {};
  const walk = (at: string, rel: string) => {
    for (const name of fs.readdirSync(at).sort()) {
      if (skip.has(name)) continue;
      const file = path.join(at, name);
      const key = rel ? `${rel}/${name}` : name;
      const stat = fs.lstatSync(file);
      if (stat.isSymbolicLink()) out[key] = `-> ${fs.readlinkSync(file)}`;
      else if (stat.isDirectory()) walk(file, key);
      else out[key] = `${mode(stat.mode).toString(8)} ${fs.readFileSync(file, 'latin1')}`;
    }
  };
  walk(dir, '');
  return out;
}

const numbered = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';

function writeSeed(dir: string): string {
  fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a.txt'), numbered);
  fs.writeFileSync(path.join(dir, 'keep.txt'), 'keep\n');
  fs.writeFileSync(path.join(dir, 'gone.txt'), 'gone\n');
  fs.writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\necho hi\n');
  fs.chmodSync(path.join(dir, 'run.sh'), 0o644);
  fs.writeFileSync(path.join(dir, 'sub/x.txt'), 'x\n');
  fs.symlinkSync('a.txt', path.join(dir, 'link'));
  return dir;
}

/** The node's workspace, restored by swarm itself. */
function exported(ref: string): string {
  const out = path.join(tmp, `export-${ref.replace(/\W/g, '_')}`);
  if (!fs.existsSync(out)) expect(swarm(['state', 'export', '--node', ref, '--out', out]).code).toBe(0);
  return path.join(out, 'workspace');
}

function gitRepoFrom(src: string, name: string): string {
  const repo = path.join(tmp, name);
  fs.cpSync(src, repo, { recursive: true, verbatimSymlinks: true });
  expect(git(['init', '-q'], repo).code).toBe(0);
  expect(git(['add', '-A'], repo).code).toBe(0);
  expect(run('git', ['commit', '-qm', 'base'], repo, { GIT_AUTHOR_NAME: 'base', GIT_AUTHOR_EMAIL: 'b@b', GIT_COMMITTER_NAME: 'base', GIT_COMMITTER_EMAIL: 'b@b' }).code).toBe(0);
  return repo;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-diff-'));
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), HOME: tmp, NO_COLOR: '1', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_AUTHOR') || k.startsWith('GIT_COMMITTER') || k === 'SOURCE_DATE_EPOCH') delete env[k];
  const seed = writeSeed(path.join(tmp, 'seed'));
  const a = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'a', '--workspace', seed, '--step', 'sed -i "s/line 5$/line five/" a.txt; echo new > new.txt']);
  expect(a.code).toBe(0);
  const b = json([
    'run', 'resume', '--unsandboxed-egress', '--node', 'run:a', '--run-id', 'b', '--step',
    'sed -i "s/line 15$/line fifteen/" a.txt; rm gone.txt; chmod +x run.sh; ln -sf keep.txt link; mkdir -p deep/dir; printf "no newline" > deep/dir/f.txt',
  ]);
  expect(b.code).toBe(0);
  const c = json(['run', 'resume', '--unsandboxed-egress', '--node', 'run:b', '--run-id', 'c', '--step', 'printf "\\000\\001" > blob.bin']);
  expect(c.code).toBe(0);
  // The launch records the seeded directory as a node of its own, the run's parent.
  seedNode = a.envelope.data.parent_node_id;
  expect(json(['graph', '--format', 'json']).envelope.data.graph.nodes.find((n: { node_id: string }) => n.node_id === seedNode)?.status).toBe('seeded');
  artifactHash = json(['run', 'status', '--run-id', 'c']).envelope.data.artifact_hash;
  expect(artifactHash).toMatch(/^sha256:[0-9a-f]{64}$/);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('swarm diff (built binary)', () => {
  it('lists the changes of a node against its parent', () => {
    const d = json(['diff', '--node', 'run:b']);
    expect(d.code).toBe(0);
    expect(d.envelope.data.base_node_id).toBe('node-a');
    expect(d.envelope.data.files).toEqual([
      { path: 'a.txt', status: 'modified', binary: false, additions: 1, deletions: 1 },
      { path: 'deep/dir/f.txt', status: 'added', binary: false, additions: 1, deletions: 0 },
      { path: 'gone.txt', status: 'deleted', binary: false, additions: 0, deletions: 1 },
      { path: 'link', status: 'modified', binary: false, additions: 1, deletions: 1 },
      { path: 'run.sh', status: 'mode', binary: false, additions: 0, deletions: 0 },
    ]);
    // Human output is the patch itself.
    expect(swarm(['diff', '--node', 'run:b']).stdout).toBe(d.envelope.data.patch);
    const binary = json(['diff', '--node', 'run:c']);
    expect(binary.envelope.data.files).toEqual([{ path: 'blob.bin', status: 'added', binary: true, additions: 0, deletions: 0 }]);
    expect(binary.envelope.data.patch).toContain('\nBinary files /dev/null and b/blob.bin differ\n');
  });

  it('is a patch git apply takes: the base tree plus the patch is the node tree, and --stat matches git', () => {
    const patch = json(['diff', '--node', 'run:b', '--base', seedNode]).envelope.data.patch;
    expect(patch).not.toBe('');
    const repo = gitRepoFrom(path.join(tmp, 'seed'), 'git-apply');
    fs.writeFileSync(path.join(tmp, 'a.patch'), patch);
    const applied = git(['apply', path.join(tmp, 'a.patch')], repo);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(listing(repo)).toEqual(listing(exported('run:b')));
    expect(git(['add', '-A'], repo).code).toBe(0);
    const stat = swarm(['diff', '--node', 'run:b', '--base', seedNode, '--stat']);
    expect(stat.code).toBe(0);
    expect(stat.stdout).toBe(git(['diff', '--cached', '--stat=80'], repo).stdout);
  });

  it('refuses an unknown node with exit 2', () => {
    const r = json(['diff', '--node', 'run:nope']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('NODE_NOT_FOUND');
  });
});

describe('swarm apply --to (built binary)', () => {
  it('writes the node tree into a copy of the seed (the default base is the seeded workspace)', () => {
    const target = path.join(tmp, 'apply-copy');
    fs.cpSync(path.join(tmp, 'seed'), target, { recursive: true, verbatimSymlinks: true });
    const r = json(['apply', '--node', 'run:c', '--to', target]);
    expect(r.code).toBe(0);
    expect(r.envelope.data.base_node_id).toBe(seedNode);
    expect(r.envelope.data.deleted).toEqual(['gone.txt']);
    expect(listing(target)).toEqual(listing(exported('run:c')));
  });

  it('refuses with exit 2 and writes nothing when the target changed a touched file; --force overrides', () => {
    const target = path.join(tmp, 'apply-conflict');
    fs.cpSync(path.join(tmp, 'seed'), target, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(target, 'a.txt'), 'edited here\n');
    const before = listing(target);
    const refused = json(['apply', '--node', 'run:c', '--to', target]);
    expect(refused.code).toBe(2);
    expect(refused.envelope.error.code).toBe('APPLY_CONFLICT');
    expect(refused.envelope.error.details.paths).toEqual(['a.txt']);
    expect(listing(target)).toEqual(before);
    const forced = json(['apply', '--node', 'run:c', '--to', target, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.envelope.data.forced).toEqual(['a.txt']);
    expect(listing(target)).toEqual(listing(exported('run:c')));
  });

  it('needs --to or --branch, and an existing directory', () => {
    expect(json(['apply', '--node', 'run:c']).envelope.error.code).toBe('INVALID_ARGUMENT');
    const missing = json(['apply', '--node', 'run:c', '--to', path.join(tmp, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.envelope.error.code).toBe('APPLY_TARGET_INVALID');
  });
});

describe('swarm apply --branch (built binary)', () => {
  it('commits the node tree on a new branch without touching the working tree, the index or HEAD', () => {
    const repo = gitRepoFrom(path.join(tmp, 'seed'), 'branch-repo');
    const head = git(['rev-parse', 'HEAD'], repo).stdout.trim();
    const r = json(['apply', '--node', 'run:c', '--branch', 'swarm/c'], repo);
    expect(r.code).toBe(0);
    expect(git(['status', '--porcelain', '--ignored'], repo).stdout).toBe('');
    expect(git(['rev-parse', 'HEAD'], repo).stdout.trim()).toBe(head);
    expect(git(['symbolic-ref', 'HEAD'], repo).stdout.trim()).not.toBe('refs/heads/swarm/c');
    const commit = git(['rev-parse', 'swarm/c'], repo).stdout.trim();
    expect(r.envelope.data.commit).toBe(commit);
    expect(git(['rev-parse', 'swarm/c^'], repo).stdout.trim()).toBe(head);
    expect(git(['log', '-1', '--format=%B', 'swarm/c'], repo).stdout).toBe(`swarm: run c\n\nnode node-c\ncertificate ${artifactHash}\n\n`);
    expect(git(['log', '-1', '--format=%an <%ae>|%cn <%ce>', 'swarm/c'], repo).stdout.trim()).toBe('swarm <swarm@localhost>|swarm <swarm@localhost>');
    const checkout = path.join(tmp, 'branch-checkout');
    fs.mkdirSync(checkout);
    expect(run('sh', ['-c', `git -C "${repo}" archive swarm/c | tar -x -C "${checkout}"`]).code).toBe(0);
    expect(listing(checkout, { gitModes: true })).toEqual(listing(exported('run:c'), { gitModes: true }));

    const again = json(['apply', '--node', 'run:c', '--branch', 'swarm/c'], repo);
    expect(again.code).toBe(2);
    expect(again.envelope.error.code).toBe('APPLY_GIT_BRANCH_EXISTS');
    expect(git(['rev-parse', 'swarm/c'], repo).stdout.trim()).toBe(commit);
  });

  it("uses git's configured identity, and refuses a HEAD that changed a touched file", () => {
    const repo = gitRepoFrom(path.join(tmp, 'seed'), 'branch-conflict');
    expect(git(['config', 'user.name', 'Dev'], repo).code).toBe(0);
    expect(git(['config', 'user.email', 'dev@example.com'], repo).code).toBe(0);
    const ok = json(['apply', '--node', 'run:c', '--to', repo, '--branch', 'from-config']);
    expect(ok.code).toBe(0);
    expect(git(['log', '-1', '--format=%an <%ae>', 'from-config'], repo).stdout.trim()).toBe('Dev <dev@example.com>');

    fs.writeFileSync(path.join(repo, 'gone.txt'), 'changed on HEAD\n');
    expect(git(['commit', '-qam', 'edit'], repo).code).toBe(0);
    const refused = json(['apply', '--node', 'run:c', '--to', repo, '--branch', 'conflicted']);
    expect(refused.code).toBe(2);
    expect(refused.envelope.error.code).toBe('APPLY_CONFLICT');
    expect(refused.envelope.error.details.paths).toEqual(['gone.txt']);
    expect(git(['rev-parse', '--verify', '--quiet', 'refs/heads/conflicted'], repo).code).not.toBe(0);
    expect(json(['apply', '--node', 'run:c', '--to', repo, '--branch', 'conflicted', '--force']).code).toBe(0);
    expect(git(['ls-tree', '--name-only', 'conflicted', 'gone.txt'], repo).stdout).toBe('');
  });
});
