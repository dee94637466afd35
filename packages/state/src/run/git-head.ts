/**
 * The commit a project's HEAD names, for the local run's workflow ref: read from the repository's
 * files where git's answer is plain (a repository or worktree found by walking up, a branch or a
 * detached HEAD, loose or packed refs), so a run does not start a git process for it (a fork of a
 * large process and git's own start cost 5–10 ms). Everything else — GIT_* variables that move the
 * repository, a repository on another file system or owned by someone else, reftable, symbolic
 * refs pointing at refs — is left to git itself.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const HEX40 = /^[0-9a-f]{40}$/;
/** Variables that change where git looks or what it trusts. */
const GIT_LOCATION_VARIABLES = ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_COMMON_DIR', 'GIT_CEILING_DIRECTORIES', 'GIT_DISCOVERY_ACROSS_FILESYSTEM', 'GIT_CONFIG', 'GIT_CONFIG_GLOBAL', 'GIT_CONFIG_SYSTEM', 'GIT_CONFIG_COUNT'];

/** HEAD's commit (40 hex), or undefined when there is none (no repository, an unborn branch). */
export async function projectHead(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const read = readHead(dir, env);
  return read === null ? askGit(dir) : read.commit;
}

/** What the files say; null where only git should answer. */
export function readHead(dir: string, env: NodeJS.ProcessEnv = process.env): { commit: string | undefined } | null {
  if (GIT_LOCATION_VARIABLES.some((name) => env[name] !== undefined)) return null;
  try {
    const gitDir = findGitDir(path.resolve(dir));
    if (gitDir === undefined) return { commit: undefined };
    if (gitDir === null) return null;
    const commonFile = path.join(gitDir, 'commondir');
    const common = fs.existsSync(commonFile) ? path.resolve(gitDir, fs.readFileSync(commonFile, 'utf8').trim()) : gitDir;
    if (fs.existsSync(path.join(common, 'reftable'))) return null;
    const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
    if (HEX40.test(head)) return { commit: head };
    const ref = /^ref: (refs\/heads\/[^\s]+)$/.exec(head)?.[1];
    if (!ref || ref.split('/').some((part) => part === '' || part === '.' || part === '..')) return null;
    const loose = path.join(common, ref);
    if (fs.existsSync(loose)) {
      const value = fs.readFileSync(loose, 'utf8').trim();
      return HEX40.test(value) ? { commit: value } : null;
    }
    const packed = path.join(common, 'packed-refs');
    if (fs.existsSync(packed)) {
      for (const line of fs.readFileSync(packed, 'utf8').split('\n')) {
        if (line.startsWith('#') || line.startsWith('^')) continue;
        const [sha, name] = line.split(' ');
        if (name === ref) return HEX40.test(sha ?? '') ? { commit: sha } : null;
      }
    }
    // An unborn branch: git has no commit to name either.
    return { commit: undefined };
  } catch {
    return null;
  }
}

/**
 * The git directory of the repository holding `start`, as git's discovery finds it; undefined for
 * none; null where git's discovery has rules this does not follow (another file system, another
 * owner, a bare repository).
 */
function findGitDir(start: string): string | undefined | null {
  const device = fs.statSync(start).dev;
  const uid = process.getuid?.();
  for (let dir = start; ; dir = path.dirname(dir)) {
    const here = fs.statSync(dir);
    if (here.dev !== device) return null;
    if (fs.existsSync(path.join(dir, 'HEAD')) && fs.existsSync(path.join(dir, 'objects'))) return null;
    const dotGit = path.join(dir, '.git');
    const stat = fs.lstatSync(dotGit, { throwIfNoEntry: false });
    if (stat) {
      let gitDir: string;
      if (stat.isDirectory()) gitDir = dotGit;
      else if (stat.isFile()) {
        const pointer = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'))?.[1]?.trim();
        if (!pointer) return null;
        gitDir = path.resolve(dir, pointer);
      } else return null;
      // git refuses a repository someone else owns (safe.directory); it answers for itself there.
      const mine = (p: string) => uid === undefined || fs.statSync(p).uid === uid;
      return mine(dir) && mine(gitDir) ? gitDir : null;
    }
    if (dir === path.dirname(dir)) return undefined;
  }
}

function askGit(dir: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    try {
      execFile('git', ['rev-parse', 'HEAD'], { cwd: dir, timeout: 5000 }, (error, stdout) => {
        const out = String(stdout ?? '').trim();
        resolve(!error && HEX40.test(out) ? out : undefined);
      });
    } catch {
      resolve(undefined);
    }
  });
}
