/**
 * The bubblewrap command line that fences a step (DESIGN section 9b): new user, PID, mount,
 * network, IPC, UTS and cgroup namespaces; the host file system read-only; private /tmp,
 * /var/tmp, /run and /dev/shm; a minimal /dev; the hidden directories covered by empty tmpfs;
 * only the layout's writable directories writable; and swarm-init as PID 1, bridging
 * 127.0.0.1:<port> to the broker's Unix socket.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, type SandboxLayout } from '@swarm/core';
import type { SandboxTools } from './tools.js';

/** Where the broker's socket directory appears inside the sandbox. */
export const SANDBOX_BROKER_DIR = '/run/swarm/egress';
/**
 * Where swarm-init appears inside the sandbox: bound there read-only, since swarm itself may be
 * installed below a directory the sandbox covers (a checkout under /tmp).
 */
export const SANDBOX_INIT = '/run/swarm/swarm-init';
/** bwrap's --info-fd and swarm-init's --report-fd, as the spawned process sees them. */
export const INFO_FD = 3;
export const REPORT_FD = 4;

const PRIVATE_TMPFS = ['/tmp', '/var/tmp', '/run'];

export interface BwrapPlan {
  tools: SandboxTools;
  layout: SandboxLayout;
  /** The broker bridge: its Unix socket on the host and the loopback port inside. Null: host network. */
  bridge: { socketPath: string; port: number } | null;
  /** Published ports: swarm-init relays connections handed over PUBLISH_FD to these ports inside. */
  publish?: number[];
}

/** Where swarm-init receives published connections (Node's IPC channel, after the control pipes). */
export const PUBLISH_FD = 5;

export function bwrapArgv(plan: BwrapPlan, argv: readonly string[]): string[] {
  const { layout } = plan;
  checkLayout(layout);
  const out = [
    plan.tools.bwrap,
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(plan.bridge ? ['--unshare-net'] : []),
    // A step that could make user namespaces of its own would gain capabilities over its mounts.
    '--disable-userns',
    // No capability inside either (bwrap keeps them for a root caller otherwise).
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    // No controlling terminal: a step cannot push keystrokes into the operator's shell (TIOCSTI).
    '--new-session',
    '--as-pid-1',
    '--hostname',
    'swarm-step',
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
  ];
  for (const dir of PRIVATE_TMPFS) if (fs.existsSync(dir)) out.push('--tmpfs', dir);
  out.push('--tmpfs', '/dev/shm');
  // Outer paths first, so a bind below a hidden directory is mounted on top of its cover (and a
  // hidden directory inside a writable one covers it). An empty tmpfs, not mode 000: the step must
  // still traverse a cover to reach the binds mounted below it.
  const binds = layout.binds ?? [];
  const coveredByBind = (dir: string) => binds.some((b) => dir === b.target || dir.startsWith(`${b.target}/`));
  const mounts = [
    ...layout.hidden.filter((dir) => fs.existsSync(dir) && !coveredByBind(dir)).map((dir) => ({ dir, args: cover(dir) })),
    ...layout.writable.map((dir) => ({ dir, args: ['--bind', dir, dir] })),
    ...binds.map((b) => ({ dir: b.target, args: [b.writable ? '--bind' : '--ro-bind', b.source, b.target] })),
  ];
  for (const mount of mounts.sort((a, b) => byDepth(a.dir, b.dir))) out.push(...mount.args);
  for (const file of layout.readable) out.push('--ro-bind', file, file);
  if (plan.bridge) out.push('--ro-bind', path.dirname(plan.bridge.socketPath), SANDBOX_BROKER_DIR);
  out.push('--ro-bind', plan.tools.init, SANDBOX_INIT);
  out.push('--chdir', layout.cwd, '--info-fd', String(INFO_FD), '--', SANDBOX_INIT, '--report-fd', String(REPORT_FD));
  if (plan.bridge) {
    out.push('--port', String(plan.bridge.port), '--socket', path.posix.join(SANDBOX_BROKER_DIR, path.basename(plan.bridge.socketPath)));
  }
  if (plan.publish && plan.publish.length > 0) {
    out.push('--publish-fd', String(PUBLISH_FD));
    for (const port of plan.publish) out.push('--publish', String(port));
  }
  out.push('--', ...argv);
  return out;
}

/** An empty tmpfs over a directory; an empty file (the null device) over anything else. */
function cover(hidden: string): string[] {
  return fs.statSync(hidden).isDirectory() ? ['--tmpfs', hidden] : ['--ro-bind', '/dev/null', hidden];
}

function byDepth(a: string, b: string): number {
  return a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0);
}

/** bwrap takes paths literally; a relative or odd path would silently mount the wrong thing. */
function checkLayout(layout: SandboxLayout): void {
  const binds = layout.binds ?? [];
  const all = [...layout.writable, ...layout.readable, ...layout.hidden, layout.cwd, ...binds.flatMap((b) => [b.source, b.target])];
  for (const p of all) {
    if (!path.isAbsolute(p) || path.normalize(p) !== p || p === '/') {
      throw new SwarmError('INTERNAL', `sandbox layout path ${JSON.stringify(p)} is not a normalized absolute path`);
    }
  }
  if (!layout.writable.includes(layout.cwd) && !binds.some((b) => b.writable && b.target === layout.cwd)) {
    throw new SwarmError('INTERNAL', "the step's working directory must be one of its writable directories");
  }
}
