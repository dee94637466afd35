/**
 * A run's options from its flags, the profile's settings and a policy file; the backend it goes
 * to and its egress provider.
 */
import path from 'node:path';
import { SwarmError, configPath, loadConfig, resolveProfile, type EgressProvider, type RouteMode } from '@swarm/core';
import { createEgressProvider, normalizeAllowlist, resolveUpstreamProxy } from '@swarm/proxy';
import type { LaunchOptions } from '@swarm/state';
import { backendFor, type Backend } from '../backends/index.js';
import { MAX_TIMEOUT_S, MIN_TIMEOUT_S, readPolicyFile } from './policy-file.js';

export interface RunFlags {
  node: string;
  step?: string;
  stepFile?: string;
  prompt?: string;
  agent?: string;
  agentArgs: string[];
  interactive: boolean;
  quiet?: boolean;
  secrets: string[];
  runId?: string;
  timeout?: string;
  allowColdStart: boolean;
  workspace?: string;
  allowHost: string[];
  routeMode?: string;
  policyFile?: string;
  unsandboxedEgress: boolean;
  /** `--env NAME=VALUE` entries. */
  env: string[];
  passEnv: string[];
  keepWorkspace: boolean;
  discardFailed: boolean;
  noInheritEgress: boolean;
  mountPath?: string;
  publish?: string[];
  profile?: string;
}

export function resolveRunOptions(flags: RunFlags, env: NodeJS.ProcessEnv, cwd: string): Omit<LaunchOptions, 'operation'> {
  const { settings } = resolveProfile(loadConfig(configPath(env)), flags.profile);
  const fromFile = flags.policyFile ? readPolicyFile(flags.policyFile, cwd) : { allowlist: [] };
  // The broker's own parser, so what is accepted here is exactly what the broker enforces.
  const allowHosts = normalizeAllowlist([...((settings['egress.allow'] as string[] | undefined) ?? []), ...fromFile.allowlist, ...flags.allowHost]);
  let timeoutS: number | undefined = fromFile.timeoutS ?? (settings['run.timeout_s'] as number | undefined);
  if (flags.timeout !== undefined) {
    const n = Number(flags.timeout);
    if (!/^\d+(\.\d+)?$/.test(flags.timeout) || !(n >= MIN_TIMEOUT_S && n <= MAX_TIMEOUT_S)) {
      throw new SwarmError('INVALID_ARGUMENT', `--timeout must be between ${MIN_TIMEOUT_S} and ${MAX_TIMEOUT_S} seconds`);
    }
    timeoutS = n;
  }
  const routeMode = (flags.routeMode ?? fromFile.routeMode ?? (settings['proxy.route_mode'] as string | undefined) ?? 'direct') as RouteMode;
  if (routeMode !== 'direct' && routeMode !== 'client_exit') throw new SwarmError('INVALID_ARGUMENT', '--route-mode must be direct or client_exit');
  if (flags.agentArgs.length > 0 && flags.agent === undefined) {
    throw new SwarmError('INVALID_ARGUMENT', `unexpected argument ${JSON.stringify(flags.agentArgs[0])}`, { hint: 'arguments after -- go to the agent CLI of --agent' });
  }
  if (flags.interactive && flags.agent === undefined) throw new SwarmError('AGENT_OPTIONS_INVALID', '--interactive needs --agent');
  if (flags.interactive && flags.quiet) throw new SwarmError('AGENT_OPTIONS_INVALID', '--interactive shows the agent on your terminal; it cannot be --quiet');
  return {
    cwd,
    node: flags.node,
    step: flags.step,
    stepFile: flags.stepFile,
    prompt: flags.prompt,
    agent: flags.agent,
    agentArgs: flags.agentArgs,
    interactive: flags.interactive,
    secrets: flags.secrets,
    runId: flags.runId,
    timeoutS,
    allowColdStart: flags.allowColdStart || settings['run.allow_cold_start'] === true,
    workspace: flags.workspace !== undefined ? path.resolve(cwd, flags.workspace) : undefined,
    allowHosts,
    routeMode,
    unsandboxedEgress: flags.unsandboxedEgress,
    grantEnv: parseEnvGrants(flags.env),
    passEnv: flags.passEnv,
    keepWorkspace: flags.keepWorkspace,
    noInheritEgress: flags.noInheritEgress,
    mountPath: flags.mountPath,
    publish: parsePublish(flags.publish ?? []),
    discardFailed: flags.discardFailed,
    env,
  };
}

function parseEnvGrants(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new SwarmError('INVALID_ARGUMENT', `--env ${JSON.stringify(entry)}: expected NAME=VALUE`);
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** The backend a run goes to: `--backend`, else the profile's `backend`, else local. */
export function resolveBackend(flag: string | undefined, env: NodeJS.ProcessEnv, profile?: string): Backend {
  const { settings } = resolveProfile(loadConfig(configPath(env)), profile);
  return backendFor(flag ?? (settings.backend as string | undefined) ?? 'local');
}

/** The egress provider for runs, honouring the profile's `egress.sandbox` and `egress.upstream_proxy`. */
export async function loadEgressProvider(env: NodeJS.ProcessEnv, profile?: string): Promise<EgressProvider> {
  const { settings } = resolveProfile(loadConfig(configPath(env)), profile);
  const sandbox = (settings['egress.sandbox'] as 'auto' | 'require' | 'off' | undefined) ?? 'auto';
  const upstream = resolveUpstreamProxy(settings['egress.upstream_proxy'] as string | undefined, env);
  return createEgressProvider({ sandbox, env, upstreamProxy: upstream?.url });
}

/** Runs with Ctrl-C/SIGTERM wired to an abort, and the step's output shown live. */

/** `--publish <host-port>:<port>` or `--publish <port>` (a free host port). */
export function parsePublish(specs: readonly string[]): Array<{ port: number; hostPort: number }> {
  const out: Array<{ port: number; hostPort: number }> = [];
  for (const spec of specs) {
    const match = /^(?:(\d{1,5}):)?(\d{1,5})$/.exec(spec.trim());
    const hostPort = match?.[1] === undefined ? 0 : Number(match[1]);
    const port = match ? Number(match[2]) : NaN;
    if (!match || !(port >= 1 && port <= 65535) || !(hostPort >= 0 && hostPort <= 65535)) {
      throw new SwarmError('INVALID_ARGUMENT', `--publish takes <host-port>:<port> or <port> (1-65535), not ${JSON.stringify(spec)}`);
    }
    if (out.some((p) => p.port === port)) throw new SwarmError('INVALID_ARGUMENT', `--publish names port ${port} twice`);
    out.push({ port, hostPort });
  }
  if (out.length > 16) throw new SwarmError('INVALID_ARGUMENT', '--publish: at most 16 ports');
  return out;
}
