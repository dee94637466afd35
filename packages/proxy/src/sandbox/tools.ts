/**
 * What the egress sandbox needs from the machine, and the command line that starts a step in it:
 *
 *   unshare --user --map-root-user --net -- node launcher.js --socket S --port P [...] -- step…
 *
 * `unshare` makes a user + network namespace (no fork: it execs the launcher, so the launcher
 * keeps the caller's pid and process group). The launcher brings up loopback, forwards
 * 127.0.0.1:P to the broker's Unix socket, and runs the step.
 */
import { SwarmError } from '@swarm/core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SandboxTools {
  unshare: string;
  /** `ip` (iproute2) or, failing that, `ifconfig`, to bring up loopback inside the namespace. */
  loopback: { tool: 'ip' | 'ifconfig'; path: string };
  /** `mount`, to cover paths the step must not see; null when unavailable. */
  mount: string | null;
  launcher: string;
  node: string;
}

export type MissingTool = 'unshare' | 'loopback' | 'launcher';

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Finds an executable on PATH, then in the usual system directories (ip lives in sbin). */
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

/** The compiled launcher script: beside this module in dist, or in dist when running from sources. */
export function launcherPath(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'launcher.js'), path.resolve(here, '../../dist/sandbox/launcher.js')];
  return candidates.find((file) => fs.existsSync(file)) ?? null;
}

export function findSandboxTools(env: NodeJS.ProcessEnv = process.env): SandboxTools | MissingTool {
  const unshare = findExecutable('unshare', env);
  if (!unshare) return 'unshare';
  const ip = findExecutable('ip', env);
  const ifconfig = ip ? null : findExecutable('ifconfig', env);
  if (!ip && !ifconfig) return 'loopback';
  const launcher = launcherPath();
  if (!launcher) return 'launcher';
  return {
    unshare,
    loopback: ip ? { tool: 'ip', path: ip } : { tool: 'ifconfig', path: ifconfig! },
    launcher,
    node: process.execPath,
    mount: findExecutable('mount', env),
  };
}

/** The namespace part of the command line (what `unshare` needs). */
export function unshareArgv(tools: SandboxTools): string[] {
  // A private mount namespace too, so the launcher can cover the operator's keys for the step.
  return [tools.unshare, '--user', '--map-root-user', '--net', '--mount', '--'];
}

export interface LauncherPlan {
  tools: SandboxTools;
  socketPath: string;
  port: number;
  /** Directories to cover with an empty tmpfs before the step starts. */
  hidePaths?: readonly string[];
}

/**
 * The full command line for a step. When swarm itself is not root, the launcher restores the
 * caller's uid/gid for the step with a nested user namespace, so tools that refuse to run as
 * root behave as they do outside the sandbox.
 */
export function sandboxArgv(plan: LauncherPlan, argv: readonly string[]): string[] {
  const { tools } = plan;
  const launcher = [
    tools.node,
    tools.launcher,
    '--socket',
    plan.socketPath,
    '--port',
    String(plan.port),
    `--${tools.loopback.tool}`,
    tools.loopback.path,
  ];
  for (const hidden of plan.hidePaths ?? []) {
    if (!tools.mount) throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', '`mount` was not found, so the sandbox cannot hide the operator keys from the step');
    launcher.push('--hide', hidden, '--mount-bin', tools.mount);
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const gid = typeof process.getgid === 'function' ? process.getgid() : 0;
  // The step runs in a nested user + mount namespace: as the caller's uid, and with the covering
  // mounts locked, so even a step that is root inside cannot unmount them to reveal the keys.
  if (uid !== 0 || (plan.hidePaths ?? []).length > 0) {
    launcher.push('--unshare', tools.unshare, '--map-user', String(uid), '--map-group', String(gid));
  }
  return [...unshareArgv(tools), ...launcher, '--', ...argv];
}

export const MISSING_TOOL_HINTS: Record<MissingTool, { detail: string; hint: string }> = {
  unshare: { detail: '`unshare` (util-linux) was not found', hint: 'install util-linux (Debian/Ubuntu: apt-get install util-linux)' },
  loopback: {
    detail: 'neither `ip` nor `ifconfig` was found to bring up loopback inside the namespace',
    hint: 'install iproute2 (Debian/Ubuntu: apt-get install iproute2)',
  },
  launcher: {
    detail: 'the sandbox launcher is not built (dist/sandbox/launcher.js is missing)',
    hint: 'run `npm run build`',
  },
};
