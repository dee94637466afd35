/**
 * Phase 2, egress: a session from the egress provider — the run's ticket, its broker, and the
 * sandbox the step will run in, fenced to the run's layout. Without a provider a run needs
 * explicit unsandboxed egress, and is then not fenced at all.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, type EgressProvider, type EgressSession, type PublishedPort, type RouteMode, type SandboxKind, type SandboxLayout } from '@swarm/core';
import type { RunPaths } from './run-paths.js';

export interface EgressInput {
  provider: EgressProvider | undefined;
  runId: string;
  paths: RunPaths;
  allowlist: string[];
  routeMode: RouteMode;
  netChainKey: Buffer;
  expiresAtUnix: number;
  unsandboxed: boolean;
  /** Directories the step must not see: the operator's SWARM_HOME, every store of this operator. */
  hidden: string[];
  /** Files the step reads although they lie in its (hidden) run directory. */
  inputs: { prompt: boolean; script: boolean };
  /** More host paths the step may read although the sandbox covers them. */
  readable?: string[];
  /** Where the step sees its workspace when it is sandboxed. */
  mountPath: string;
  /** `--publish`: ports of the step reached from the host's loopback. */
  publish?: PublishedPort[];
}

/**
 * Where an operator's home keeps credentials and agent sockets (ssh keys and ControlMaster
 * sockets, gpg-agent, cloud and cluster credentials, the Docker and GitHub CLI configs, package
 * registry tokens, and the agent CLIs' own keys, tokens and transcripts). A read-only mount does
 * not stop a connect() to a socket, and the host is otherwise readable: these are covered like
 * SWARM_HOME — a directory with an empty tmpfs, a file with an empty one.
 */
export const OPERATOR_SECRET_DIRS = [
  '.ssh',
  '.gnupg',
  '.aws',
  '.azure',
  '.kube',
  '.docker',
  '.config/gcloud',
  '.config/gh',
  '.password-store',
  '.netrc.d',
  '.netrc',
  '.git-credentials',
  '.npmrc',
  '.pypirc',
  // The agent CLIs' own homes and config: keys, OAuth tokens, environment dumps, transcripts.
  '.claude',
  '.claude.json',
  '.codex',
  '.gemini',
] as const;

export function operatorSecretDirs(home: string | undefined): string[] {
  if (!home || !path.isAbsolute(home)) return [];
  return OPERATOR_SECRET_DIRS.map((dir) => path.join(path.resolve(home), dir));
}

/**
 * Where the step sees its files. In a sandbox: its workspace at the chain's mount path (the same
 * absolute path in every run of a chain, so tools that key their state by directory find it
 * again), its state DB, home and inputs at fixed places under /run/swarm. Unsandboxed: where they
 * are on the host.
 */
export interface StepView {
  workspace: string;
  stateDb: string;
  home: string;
  prompt: string;
  script: string;
}

/** A chain not seeded from a directory gets this mount path. */
export const DEFAULT_MOUNT_PATH = '/run/swarm/workspace';
const VIEW_DIR = '/run/swarm';

export function sandboxView(mountPath: string): StepView {
  return { workspace: mountPath, stateDb: `${VIEW_DIR}/state/state.db`, home: `${VIEW_DIR}/home`, prompt: `${VIEW_DIR}/prompt.txt`, script: `${VIEW_DIR}/step.sh` };
}

export function hostView(paths: RunPaths): StepView {
  return { workspace: paths.workspaceDir, stateDb: paths.stateDbPath, home: paths.homeDir, prompt: paths.promptFile, script: paths.scriptFile };
}

export interface Egress {
  session: EgressSession | undefined;
  sandbox: SandboxKind;
  /** Where the step sees its files: the sandbox's view, or the host's when it is not sandboxed. */
  view: StepView;
}

/** Fail closed: with no provider and no explicit override, nothing runs. */
export function requireEgress(provider: EgressProvider | undefined, unsandboxed: boolean): void {
  if (!provider && !unsandboxed) {
    throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', 'no step sandbox was provided for this run, and unsandboxed egress was not allowed', {
      hint: 'pass --unsandboxed-egress to run with no sandbox at all (recorded in the policy and certificate)',
    });
  }
}

export async function openEgress(input: EgressInput): Promise<Egress> {
  requireEgress(input.provider, input.unsandboxed);
  if (!input.provider) return { session: undefined, sandbox: 'unsandboxed', view: hostView(input.paths) };
  const session = await input.provider.open({
    runId: input.runId,
    runDir: input.paths.dir,
    allowlist: input.allowlist,
    routeMode: input.routeMode,
    netCapChainKey: input.netChainKey.toString('hex'),
    expiresAtUnix: input.expiresAtUnix,
    unsandboxed: input.unsandboxed,
    layout: sandboxLayout(input),
    publish: input.publish,
  });
  return { session, sandbox: session.sandbox, view: session.sandbox === 'unsandboxed' ? hostView(input.paths) : sandboxView(input.mountPath) };
}

function sandboxLayout(input: EgressInput): SandboxLayout {
  const { paths } = input;
  const view = sandboxView(input.mountPath);
  return {
    writable: [],
    readable: (input.readable ?? []).map((p) => path.resolve(p)),
    hidden: input.hidden,
    binds: [
      { source: paths.workspaceDir, target: view.workspace, writable: true },
      { source: paths.stateDir, target: path.dirname(view.stateDb), writable: true },
      { source: paths.homeDir, target: view.home, writable: true },
      ...(input.inputs.prompt ? [{ source: paths.promptFile, target: view.prompt, writable: false }] : []),
      ...(input.inputs.script ? [{ source: paths.scriptFile, target: view.script, writable: false }] : []),
    ],
    cwd: view.workspace,
  };
}

/**
 * A mount path must be a place bwrap can mount on: an existing directory of the host, or one
 * below the sandbox's private /run or /tmp; never inside a directory the step may not see.
 */
export function checkMountPath(mountPath: string, hidden: string[]): void {
  const bad = (why: string) =>
    new SwarmError('MOUNT_PATH_INVALID', `the workspace mount path ${JSON.stringify(mountPath)} ${why}`, {
      details: { mount_path: mountPath },
      hint: 'pass --mount-path <absolute path> (an existing directory, or one below /run/swarm or /tmp)',
    });
  if (!path.isAbsolute(mountPath) || path.normalize(mountPath) !== mountPath || mountPath === '/') throw bad('is not a normalized absolute path');
  const under = (dir: string) => mountPath === dir || mountPath.startsWith(`${dir}/`);
  if (['/proc', '/dev', '/sys', '/run/swarm/egress', '/run/swarm/state', '/run/swarm/home'].some(under)) throw bad('is a place the sandbox itself uses');
  if (hidden.some(under)) throw bad("lies inside a directory the step may not see (swarm's home, a store, credentials)");
  if (!['/run', '/tmp', '/var/tmp'].some(under)) {
    let isDir = false;
    try {
      isDir = fs.statSync(mountPath).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) throw bad('is not a directory on this machine, nor below /run or /tmp');
  }
}
