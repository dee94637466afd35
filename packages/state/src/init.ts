import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findProjectRoot, STORE_DIR } from './store/paths.js';
import { Store } from './store/store.js';

/** Creates `.swarm/` in cwd (unless one exists here or above) with its root node. */
export async function initStore(
  cwd: string,
  options: { env?: NodeJS.ProcessEnv; home?: string } = {},
): Promise<{ path: string; created: boolean; git_excluded: string | null }> {
  const existing = findProjectRoot(cwd);
  const created = !existing;
  const store = Store.open(cwd, { env: options.env, home: options.home });
  try {
    await store.ensureRoot();
    return { path: store.paths.root, created, git_excluded: excludeFromGit(store.paths.projectRoot) };
  } finally {
    store.close();
  }
}

/**
 * Inside a git work tree, keeps `.swarm/` out of git through `info/exclude` (local to this clone,
 * so nothing in the repository changes). Returns the exclude file, or null outside git.
 */
function excludeFromGit(projectRoot: string): string | null {
  const git = spawnSync('git', ['-C', projectRoot, 'rev-parse', '--show-toplevel', '--git-common-dir'], { encoding: 'utf8', timeout: 10_000 });
  if (git.status !== 0) return null;
  const [top, common] = git.stdout.trim().split('\n');
  if (!top || !common) return null;
  const file = path.join(path.resolve(projectRoot, common), 'info', 'exclude');
  const line = `/${path.relative(fs.realpathSync(top), fs.realpathSync(path.join(projectRoot, STORE_DIR))).split(path.sep).join('/')}/`;
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (!text.split('\n').some((l) => l.trim() === line)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}# swarm's project store\n${line}\n`);
  }
  return file;
}
