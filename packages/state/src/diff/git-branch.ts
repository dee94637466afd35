/**
 * `swarm apply --branch <name>`: a commit whose tree is HEAD's tree with a node's changes applied,
 * on a new branch, made with git plumbing through a temporary index, so the working tree, the
 * real index and HEAD are never touched.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SwarmError } from '@swarm/core';
import type { NodeRow } from '../store/catalog.js';
import type { Store } from '../store/store.js';
import './errors.js';
import { applyTarget } from './apply.js';
import { withNodePair, type StoreCall } from './node-trees.js';
import { compareTrees, entryContent, gitMode, partitionChanges, type PathChange, type TreeEntry } from './tree.js';

/** Runs git; tests may pass another runner. */
export type GitRunner = (args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; input?: Buffer | string }) => { status: number | null; stdout: Buffer; stderr: string };

export const runGit: GitRunner = (args, options) => {
  const r = spawnSync('git', args, { cwd: options.cwd, env: options.env, input: options.input, maxBuffer: 1024 * 1024 * 1024 });
  if (r.error) throw new SwarmError('APPLY_GIT_FAILED', `cannot run git: ${r.error.message}`, { cause: r.error, hint: 'install git' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
};

interface GitEntry {
  mode: string;
  oid: string;
}

export interface BranchResult {
  node_id: string;
  base_node_id: string;
  repository: string;
  branch: string;
  commit: string;
  tree: string;
  parent: string | null;
  message: string;
  written: string[];
  deleted: string[];
  unchanged: string[];
  forced: string[];
  ignored: string[];
}

class Git {
  constructor(
    private readonly runner: GitRunner,
    readonly cwd: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  run(args: string[], options: { input?: Buffer | string; env?: NodeJS.ProcessEnv; allowFailure?: boolean } = {}): { ok: boolean; out: string } {
    const r = this.runner(args, { cwd: this.cwd, env: { ...this.env, ...options.env }, input: options.input });
    if (r.status !== 0 && !options.allowFailure) {
      throw new SwarmError('APPLY_GIT_FAILED', `git ${args[0]} failed: ${r.stderr.trim().split('\n').pop() ?? ''}`, { details: { args, status: r.status } });
    }
    return { ok: r.status === 0, out: r.stdout.toString('utf8') };
  }
}

/** The git repository `dir` lies in, as its top-level directory. */
function repositoryRoot(runner: GitRunner, dir: string, env: NodeJS.ProcessEnv): string {
  const r = runner(['rev-parse', '--show-toplevel'], { cwd: dir, env });
  const top = r.stdout.toString('utf8').trim();
  if (r.status !== 0 || top === '') throw new SwarmError('APPLY_TARGET_INVALID', `${dir} is not inside a git repository with a working tree`, { details: { path: dir } });
  return top;
}

/** HEAD's tree as path → mode and object id, plus the directories it holds. */
function headTree(git: Git, head: string | null): { entries: Map<string, GitEntry>; dirs: Set<string> } {
  const entries = new Map<string, GitEntry>();
  const dirs = new Set<string>();
  if (head === null) return { entries, dirs };
  for (const record of git.run(['ls-tree', '-r', '-z', '--full-tree', head]).out.split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode, , oid] = record.slice(0, tab).split(' ');
    const file = record.slice(tab + 1);
    entries.set(file, { mode: mode!, oid: oid! });
    const parts = file.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return { entries, dirs };
}

/** Object ids of entries as git would store them; written into the repository when `write`. */
function hashEntries(git: Git, entries: TreeEntry[], write: boolean): string[] {
  const flags = write ? ['-w'] : [];
  const ids: string[] = new Array(entries.length);
  const batch = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.kind === 'file' && !e.file.includes('\n'));
  if (batch.length > 0) {
    const out = git.run(['hash-object', ...flags, '--no-filters', '--stdin-paths'], { input: batch.map(({ e }) => (e as { file: string }).file).join('\n') + '\n' }).out;
    out.trim().split('\n').forEach((oid, k) => (ids[batch[k]!.i] = oid));
  }
  entries.forEach((e, i) => {
    if (ids[i] !== undefined) return;
    ids[i] = git.run(['hash-object', ...flags, '--stdin'], { input: entryContent(e) }).out.trim();
  });
  return ids;
}

/** The commit message: the run and its certificate, found from the node (a fork names its source's run). */
function commitMessage(store: Store, node: NodeRow): string {
  for (let at: NodeRow | undefined = node; at; at = at.parent_node_id ? store.catalog.getNode(at.parent_node_id) : undefined) {
    if (!at.run_id) continue;
    const hash = store.catalog.getRun(at.run_id)?.artifact_hash;
    const certificate = hash ? `\ncertificate ${hash.startsWith('sha256:') ? hash : `sha256:${hash}`}` : '';
    return `swarm: run ${at.run_id}\n\nnode ${node.node_id}${certificate}\n`;
  }
  return `swarm: node ${node.node_id}\n`;
}

/** Git's own identity when it has one; otherwise a fixed one, so a commit can always be made. */
function identityEnv(git: Git, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const config = (key: string) => git.run(['config', '--get', key], { allowFailure: true }).out.trim();
  const name = config('user.name');
  const email = config('user.email');
  const out: NodeJS.ProcessEnv = {};
  for (const role of ['AUTHOR', 'COMMITTER']) {
    if (!env[`GIT_${role}_NAME`] && !name) out[`GIT_${role}_NAME`] = 'swarm';
    if (!env[`GIT_${role}_EMAIL`] && !email) out[`GIT_${role}_EMAIL`] = 'swarm@localhost';
  }
  return out;
}

interface BranchPlan {
  actions: Array<{ change: PathChange; oid?: string }>;
  unchanged: string[];
  forced: string[];
}

function planBranch(git: Git, head: ReturnType<typeof headTree>, changes: PathChange[], force: boolean): BranchPlan {
  const befores = changes.filter((c) => c.before);
  const afters = changes.filter((c) => c.after);
  const beforeIds = new Map(hashEntries(git, befores.map((c) => c.before!), false).map((oid, i) => [befores[i]!.path, oid]));
  const afterIds = new Map(hashEntries(git, afters.map((c) => c.after!), true).map((oid, i) => [afters[i]!.path, oid]));
  const removed = new Set(changes.filter((c) => !c.after).map((c) => c.path));
  const same = (at: GitEntry | undefined, entry: TreeEntry | undefined, oid: string | undefined) =>
    at === undefined ? entry === undefined : entry !== undefined && at.mode === gitMode(entry) && at.oid === oid;
  const plan: BranchPlan = { actions: [], unchanged: [], forced: [] };
  const conflicts: string[] = [];
  const blocked: string[] = [];
  for (const change of changes) {
    const at = head.entries.get(change.path);
    const parts = change.path.split('/');
    const underFile = parts.slice(1).some((_, i) => {
      const parent = parts.slice(0, i + 1).join('/');
      return head.entries.has(parent) && !removed.has(parent);
    });
    const afterId = afterIds.get(change.path);
    if (same(at, change.after, afterId) || (underFile && !change.after)) plan.unchanged.push(change.path);
    else if (underFile || head.dirs.has(change.path) || at?.mode === '160000') blocked.push(change.path);
    else if (same(at, change.before, beforeIds.get(change.path))) plan.actions.push({ change, oid: afterId });
    else if (force) {
      plan.actions.push({ change, oid: afterId });
      plan.forced.push(change.path);
    } else conflicts.push(change.path);
  }
  if (conflicts.length > 0 || blocked.length > 0) {
    const paths = [...conflicts, ...blocked].sort();
    throw new SwarmError('APPLY_CONFLICT', `HEAD differs from the base in ${paths.length} path(s) the change touches; no branch was made`, {
      details: { paths, blocked },
      hint: blocked.length > 0 ? 'a directory or file in HEAD stands where the change writes' : 'compare with `swarm diff`, or pass --force to overwrite them',
    });
  }
  return plan;
}

export async function applyNodeToBranch(
  options: StoreCall & { node: string; base?: string; branch: string; to?: string; force?: boolean; git?: GitRunner },
): Promise<BranchResult> {
  const runner = options.git ?? runGit;
  const env = { ...(options.env ?? process.env) };
  delete env.GIT_INDEX_FILE;
  const dir = applyTarget(options.cwd, options.to ?? '.');
  const root = repositoryRoot(runner, dir, env);
  const git = new Git(runner, root, env);
  const ref = `refs/heads/${options.branch}`;
  if (options.branch.startsWith('-') || !git.run(['check-ref-format', ref], { allowFailure: true }).ok) {
    throw new SwarmError('INVALID_ARGUMENT', `${JSON.stringify(options.branch)} is not a valid git branch name`);
  }
  if (git.run(['rev-parse', '--verify', '--quiet', ref], { allowFailure: true }).ok) {
    throw new SwarmError('APPLY_GIT_BRANCH_EXISTS', `git branch ${options.branch} already exists`, { details: { branch: options.branch } });
  }
  const headLookup = git.run(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { allowFailure: true });
  const head = headLookup.ok ? headLookup.out.trim() : null;

  return withNodePair({ ...options, defaultBase: 'seed' }, ({ store, node, base, nodeTree, baseTree }) => {
    const { changes, ignored } = partitionChanges(compareTrees(baseTree, nodeTree));
    const plan = planBranch(git, headTree(git, head), changes, options.force ?? false);
    const zero = '0'.repeat(head?.length ?? (git.run(['rev-parse', '--show-object-format']).out.trim() === 'sha256' ? 64 : 40));
    const records = [
      ...plan.actions.filter((a) => !a.change.after).map((a) => `0 ${zero}\t${a.change.path}\0`),
      ...plan.actions.filter((a) => a.change.after).map((a) => `${gitMode(a.change.after!)} ${a.oid}\t${a.change.path}\0`),
    ];
    const indexDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-apply-index-'));
    try {
      const indexEnv = { GIT_INDEX_FILE: path.join(indexDir, 'index') };
      git.run(head ? ['read-tree', head] : ['read-tree', '--empty'], { env: indexEnv });
      if (records.length > 0) git.run(['update-index', '-z', '--index-info'], { env: indexEnv, input: records.join('') });
      const tree = git.run(['write-tree'], { env: indexEnv }).out.trim();
      const message = commitMessage(store, node);
      const commit = git.run(['commit-tree', tree, ...(head ? ['-p', head] : []), '-F', '-'], { input: message, env: identityEnv(git, env) }).out.trim();
      const created = git.run(['update-ref', '-m', `swarm apply ${node.node_id}`, ref, commit, ''], { allowFailure: true });
      if (!created.ok) throw new SwarmError('APPLY_GIT_BRANCH_EXISTS', `git branch ${options.branch} was created meanwhile`, { details: { branch: options.branch } });
      const done = (removedOnly: boolean) => plan.actions.filter((a) => (a.change.after === undefined) === removedOnly).map((a) => a.change.path);
      return {
        node_id: node.node_id,
        base_node_id: base.node_id,
        repository: root,
        branch: options.branch,
        commit,
        tree,
        parent: head,
        message,
        written: done(false),
        deleted: done(true),
        unchanged: plan.unchanged,
        forced: plan.forced,
        ignored,
      };
    } finally {
      fs.rmSync(indexDir, { recursive: true, force: true });
    }
  });
}
