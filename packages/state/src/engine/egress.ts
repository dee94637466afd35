/**
 * Phase 2, egress: a session from the egress provider — the run's ticket, its broker, and the
 * sandbox the step will run in, fenced to the run's layout. Without a provider a run needs
 * explicit unsandboxed egress, and is then not fenced at all.
 */
import path from 'node:path';
import { SwarmError, type EgressProvider, type EgressSession, type RouteMode, type SandboxKind, type SandboxLayout } from '@swarm/core';
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
}

/**
 * Where an operator's home keeps credentials and agent sockets (ssh keys and ControlMaster
 * sockets, gpg-agent, cloud and cluster credentials, the Docker client config). A read-only
 * mount does not stop a connect() to a socket, and the host is otherwise readable: these are
 * covered like SWARM_HOME.
 */
export const OPERATOR_SECRET_DIRS = ['.ssh', '.gnupg', '.aws', '.azure', '.kube', '.docker', '.config/gcloud', '.password-store', '.netrc.d'] as const;

export function operatorSecretDirs(home: string | undefined): string[] {
  if (!home || !path.isAbsolute(home)) return [];
  return OPERATOR_SECRET_DIRS.map((dir) => path.join(path.resolve(home), dir));
}

export interface Egress {
  session: EgressSession | undefined;
  sandbox: SandboxKind;
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
  if (!input.provider) return { session: undefined, sandbox: 'unsandboxed' };
  const session = await input.provider.open({
    runId: input.runId,
    runDir: input.paths.dir,
    allowlist: input.allowlist,
    routeMode: input.routeMode,
    netCapChainKey: input.netChainKey.toString('hex'),
    expiresAtUnix: input.expiresAtUnix,
    unsandboxed: input.unsandboxed,
    layout: sandboxLayout(input),
  });
  return { session, sandbox: session.sandbox };
}

function sandboxLayout(input: EgressInput): SandboxLayout {
  const { paths } = input;
  return {
    writable: [paths.workspaceDir, paths.stateDir, paths.homeDir],
    readable: [
      ...(input.inputs.prompt ? [paths.promptFile] : []),
      ...(input.inputs.script ? [paths.scriptFile] : []),
      ...(input.readable ?? []).map((p) => path.resolve(p)),
    ],
    hidden: input.hidden,
    cwd: paths.workspaceDir,
  };
}
