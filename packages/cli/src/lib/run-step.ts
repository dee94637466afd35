/**
 * Wires a run: options from flags, config and a policy file; the egress provider from the proxy
 * package; Ctrl-C/SIGTERM to an abort signal; step output to the terminal.
 */
import path from 'node:path';
import { SwarmError, configPath, loadConfig, parseStrictJson, readBoundedFile, resolveProfile, type EgressProvider, type RouteMode } from '@swarm/core';
import { createEgressProvider, normalizeAllowlist, resolveUpstreamProxy } from '@swarm/proxy';
import type { LaunchOptions, LaunchResult } from '@swarm/state';
import { backendFor, type Backend } from '../backends/index.js';
import type { Output } from '../output.js';

export interface RunFlags {
  node: string;
  step?: string;
  stepFile?: string;
  prompt?: string;
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
  profile?: string;
}

interface PolicyInput {
  allowlist: string[];
  routeMode?: RouteMode;
  timeoutS?: number;
}

const MAX_POLICY_FILE_BYTES = 1024 * 1024;

function readPolicyFile(file: string, cwd: string): PolicyInput {
  // Bounded: `--policy-file /dev/zero` or a FIFO is a coded error, never a read that does not end.
  const bytes = readBoundedFile(path.resolve(cwd, file), { what: 'policy file', maxBytes: MAX_POLICY_FILE_BYTES });
  // The same strict reading as `schema validate` and `verify`: no BOM, no lone surrogates.
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} ${parsed.reason}`, { details: { path: file, problem: parsed.problem } });
  }
  const doc = parsed.value;
  // The input fields, and the record fields of an agent_swarm-policy-v1 document (written by a run, or
  // by another implementation), which describe the run that wrote them and are accepted but not applied.
  const knownKeys: Record<string, readonly string[] | null> = {
    schema_version: null,
    route_mode: null,
    egress: ['allowlist', 'sandbox'],
    limits: ['timeout_s'],
    backend: null,
    step: null,
    env: null,
    restore: null,
    workflow_ref: null,
    generated_at: null,
    swarm: null,
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(doc)) throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} is not a JSON object`, { details: { path: file } });
  // Fail closed: a misspelt key (`limit`, `egress.allow`) would otherwise be a silently ignored limit.
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    if (!Object.prototype.hasOwnProperty.call(knownKeys, key)) unknown.push(`/${key}`);
    const nested = knownKeys[key];
    if (nested && isObject(value)) for (const inner of Object.keys(value)) if (!nested.includes(inner)) unknown.push(`/${key}/${inner}`);
  }
  if (unknown.length > 0) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} has unknown keys: ${unknown.join(', ')}`, { details: { path: file, unknown } });
  }
  if (doc.schema_version !== undefined && doc.schema_version !== 'agent_swarm-policy-v1') {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: schema_version must be agent_swarm-policy-v1`, { details: { path: file } });
  }
  for (const key of ['egress', 'limits']) {
    if (doc[key] !== undefined && !isObject(doc[key])) throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: ${key} must be an object`, { details: { path: file } });
  }
  const egress = doc.egress as { allowlist?: unknown } | undefined;
  const limits = doc.limits as { timeout_s?: unknown } | undefined;
  const allowlist = egress?.allowlist ?? [];
  if (!Array.isArray(allowlist) || !allowlist.every((h) => typeof h === 'string')) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: egress.allowlist must be a list of hosts`);
  }
  if (doc.route_mode !== undefined && doc.route_mode !== 'direct' && doc.route_mode !== 'client_exit') {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: route_mode must be direct or client_exit`);
  }
  const timeout = limits?.timeout_s;
  // The same range as --timeout: outside it a Node timer would fire at once or never.
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout >= MIN_TIMEOUT_S && timeout <= MAX_TIMEOUT_S)) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: limits.timeout_s must be between ${MIN_TIMEOUT_S} and ${MAX_TIMEOUT_S} seconds`, {
      details: { path: file },
    });
  }
  return { allowlist: allowlist as string[], routeMode: doc.route_mode as RouteMode | undefined, timeoutS: (timeout as number | null | undefined) ?? undefined };
}

/** Node timers hold at most 2^31-1 ms; below a millisecond a timeout would round to none. */
const MIN_TIMEOUT_S = 0.001;
const MAX_TIMEOUT_S = 2_147_483;

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
  return {
    cwd,
    node: flags.node,
    step: flags.step,
    stepFile: flags.stepFile,
    prompt: flags.prompt,
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
export async function runWithSignals(
  options: LaunchOptions,
  output: Output,
  launch: (options: LaunchOptions) => Promise<LaunchResult>,
): Promise<LaunchResult> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    output.info(`\nswarm: ${signal} received, stopping the step…`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const sink = output.options.json ? output.options.stderr : output.options.stdout;
  // On a terminal the status line and the step's output share the screen: clear the line before
  // each output, and start the next status line below output that did not end its line.
  let midLine = false;
  const transfer = transferMeter();
  try {
    return await launch({
      ...options,
      signal: controller.signal,
      onOutput: output.options.quiet
        ? undefined
        : (chunk) => {
            output.progressDone();
            sink.write(chunk);
            if (chunk.length > 0) midLine = chunk[chunk.length - 1] !== 0x0a;
          },
      onProgress: (phase, bytes) => {
        const line = bytes ? transfer.line(phase, bytes.done, bytes.total) : `swarm: ${phase}…`;
        if (line === null) return;
        if (midLine) output.progressBreak();
        midLine = false;
        output.progress(line);
      },
      onStart: ({ run_id, workspace, seed, sandbox }) => {
        if (seed) {
          const left = seed.excluded.length > 0 ? ` (left out: ${seed.excluded.map((e) => `${e}/`).join(', ')})` : '';
          output.info(`swarm: seeded run ${run_id} from ${seed.source}${left}`);
        }
        output.info(`swarm: run ${run_id}, workspace ${workspace}`);
        // Said before the step runs, not only after it.
        if (sandbox === 'unsandboxed') {
          output.warn("--unsandboxed-egress: no sandbox can be made here, so the step runs with the host's network, files (swarm's keys included) and processes in reach; recorded in the policy and certificate");
        } else if (sandbox === 'bwrap-open-network') {
          output.warn("--unsandboxed-egress: the step has the host's network (it is sandboxed otherwise); recorded in the policy and certificate");
        }
      },
    });
  } finally {
    output.progressDone();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

const MIB = 1024 * 1024;
/** Below this a restore or seal is over before a line could be read. */
const PROGRESS_MIN_BYTES = 16 * MIB;
const PROGRESS_EVERY_MS = 100;

/** `swarm: sealing 120.0 / 300.0 MiB (41.2 MiB/s)`, at most ten times a second, for large workspaces only. */
export function transferMeter(now: () => number = () => performance.now()): { line(phase: string, done: number, total: number): string | null } {
  let phase = '';
  let started = 0;
  let last = -Infinity;
  return {
    line(next, done, total) {
      const t = now();
      if (next !== phase) {
        phase = next;
        started = t;
        last = -Infinity;
      }
      if (total < PROGRESS_MIN_BYTES || (t - last < PROGRESS_EVERY_MS && done < total)) return null;
      last = t;
      const amount = `swarm: ${phase} ${(done / MIB).toFixed(1)} / ${(total / MIB).toFixed(1)} MiB`;
      // A rate over the first few milliseconds says nothing.
      if (t - started < PROGRESS_EVERY_MS) return amount;
      return `${amount} (${(done / MIB / ((t - started) / 1000)).toFixed(1)} MiB/s)`;
    },
  };
}

export function describeLaunch(result: LaunchResult): string {
  const lines = [
    `run ${result.run_id} ${result.status}${result.exit_code !== null ? ` (exit ${result.exit_code})` : ''}`,
    `node ${result.node_id} ← ${result.parent_node_id} (restore: ${result.restore_mode}${result.restore_reason ? `, ${result.restore_reason}` : ''})`,
    `bundle ${result.bundle_sha256}`,
    `certificate ${result.artifact_hash}`,
    `egress: ${result.sandbox}${result.egress ? `, ${result.egress.allowed} allowed / ${result.egress.denied} denied` : ''}`,
    `allowlist: ${result.allowlist.length > 0 ? result.allowlist.join(', ') : '(none)'}${
      result.inherited_egress.from_run ? ` (inherited from run ${result.inherited_egress.from_run}${result.inherited_egress.allowlist.length === 0 ? ': none' : ''})` : ''
    }; route mode ${result.route_mode}`,
    result.workspace.kept
      ? `workspace kept at ${result.workspace.path}`
      : `workspace was ${result.workspace.path} (removed after sealing; \`swarm state export --node ${result.node_id ?? `run:${result.run_id}`}\` brings it back)`,
  ];
  if (result.seed) lines.push(`seeded from ${result.seed.source} as ${result.seed.node_id}`);
  if (result.revealed) {
    lines.push(`state_cap_next: ${result.revealed.state_cap_next}`, `net_cap_next: ${result.revealed.net_cap_next}`);
  }
  return lines.join('\n');
}
