/**
 * readHead against the real git: for every layout it answers, its answer is `git rev-parse HEAD`'s;
 * for the layouts it leaves to git, it says so (null) rather than guess.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectHead, readHead } from './git-head.js';

let tmp: string;
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: tmp } }).trim();
const revParse = (cwd: string): string | undefined => {
  try {
    return git(cwd, 'rev-parse', '--verify', '-q', 'HEAD') || undefined;
  } catch {
    return undefined;
  }
};
const plainEnv = () => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  return env;
};

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-git-head-'));
  fs.writeFileSync(path.join(tmp, '.gitconfig'), '[user]\n\tname = t\n\temail = t@example.invalid\n[init]\n\tdefaultBranch = main\n');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function repo(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  git(dir, 'init', '-q');
  fs.writeFileSync(path.join(dir, 'a.txt'), name);
  git(dir, 'add', '.');
  git(dir, 'commit', '-qm', 'one');
  return dir;
}

describe('project HEAD without a git process', () => {
  it("agrees with git on a branch, from a subdirectory, detached, with packed refs, and in a worktree", () => {
    const dir = repo('plain');
    fs.mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    const checks: string[] = [dir, path.join(dir, 'sub', 'deeper')];
    for (const where of checks) expect(readHead(where, plainEnv())).toEqual({ commit: revParse(where) });
    fs.writeFileSync(path.join(dir, 'b.txt'), 'b');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'two');
    git(dir, 'checkout', '-q', '--detach', 'HEAD~1');
    expect(readHead(dir, plainEnv())).toEqual({ commit: revParse(dir) });
    git(dir, 'checkout', '-q', 'main');
    git(dir, 'pack-refs', '--all');
    expect(fs.existsSync(path.join(dir, '.git', 'refs', 'heads', 'main'))).toBe(false);
    expect(readHead(dir, plainEnv())).toEqual({ commit: revParse(dir) });
    const tree = path.join(tmp, 'worktree');
    git(dir, 'worktree', 'add', '-q', '-b', 'side', tree, 'HEAD~1');
    expect(readHead(tree, plainEnv())).toEqual({ commit: revParse(tree) });
    expect(readHead(tree, plainEnv())!.commit).not.toBe(readHead(dir, plainEnv())!.commit);
  });

  it('says there is no commit on an unborn branch, as git does', () => {
    const dir = path.join(tmp, 'unborn');
    fs.mkdirSync(dir);
    git(dir, 'init', '-q');
    expect(revParse(dir)).toBeUndefined();
    expect(readHead(dir, plainEnv())).toEqual({ commit: undefined });
  });

  it('leaves GIT_DIR and a bare repository to git, and still gets git\'s answer', async () => {
    const dir = repo('moved');
    const env = { ...plainEnv(), GIT_DIR: path.join(dir, '.git') };
    expect(readHead(tmp, env)).toBeNull();
    const bare = path.join(tmp, 'bare.git');
    git(tmp, 'clone', '-q', '--bare', dir, bare);
    expect(readHead(bare, plainEnv())).toBeNull();
    expect(await projectHead(bare, plainEnv())).toBe(revParse(bare));
  });
});
