/**
 * What the step sandbox needs from the machine: bubblewrap (`bwrap`, the Debian package
 * `bubblewrap`) and swarm's own first process for the sandbox (`swarm-init`, compiled from
 * init.c when swarm is built).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SandboxTools {
  bwrap: string;
  init: string;
}

export type MissingTool = 'bwrap' | 'init';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Finds an executable on PATH, then in the usual system directories. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The compiled sandbox init: beside this module in dist, or in dist when running from sources. */
export function initPath(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'swarm-init'), path.resolve(here, '../../dist/sandbox/swarm-init')];
  return candidates.find((file) => fs.existsSync(file)) ?? null;
}

/** `SWARM_BWRAP` names another bubblewrap binary (tests use it to simulate a missing one). */
export function findSandboxTools(env: NodeJS.ProcessEnv = process.env): SandboxTools | MissingTool {
  const bwrap = env.SWARM_BWRAP !== undefined ? (env.SWARM_BWRAP !== '' && fs.existsSync(env.SWARM_BWRAP) ? env.SWARM_BWRAP : null) : findExecutable('bwrap', env);
  if (!bwrap) return 'bwrap';
  const init = initPath();
  if (!init) return 'init';
  return { bwrap, init };
}

export const MISSING_TOOL_HINTS: Record<MissingTool, { detail: string; hint: string }> = {
  bwrap: {
    detail: 'bubblewrap (`bwrap`) was not found',
    hint: 'install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)',
  },
  init: {
    detail: "the sandbox's first process is not built (dist/sandbox/swarm-init is missing; it needs a C compiler)",
    hint: 'install a C compiler (Debian/Ubuntu: sudo apt-get install gcc) and run `npm run build`',
  },
};
