import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { configPath, loadConfig, swarmHome } from '@swarm/core';
import '../errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  required: boolean;
  detail: string;
  hint?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
}

export const MIN_NODE = [20, 19, 0] as const;

interface ProcResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  missing: boolean;
}

function exec(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<ProcResult> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const missing = (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      resolve({ ok: !error, stdout: String(stdout ?? ''), stderr: String(stderr ?? ''), missing });
    });
  });
}

export function checkNode(version: string = process.versions.node): DoctorCheck {
  const parts = version.split('.').map(Number);
  const ok = compare(parts, MIN_NODE) >= 0;
  return {
    name: 'node',
    status: ok ? 'ok' : 'fail',
    required: true,
    detail: `Node.js ${version}${ok ? '' : ` (need >= ${MIN_NODE.join('.')})`}`,
    hint: ok ? undefined : `install Node.js ${MIN_NODE.join('.')} or newer`,
  };
}

function compare(a: number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export async function checkSqlite(): Promise<DoctorCheck> {
  try {
    // Required here, not imported: a native module that fails to load is what this check reports.
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(':memory:');
    const row = db.prepare('select sqlite_version() as v').get() as { v: string };
    db.close();
    return { name: 'sqlite', status: 'ok', required: true, detail: `better-sqlite3 loads, SQLite ${row.v}` };
  } catch (error) {
    return {
      name: 'sqlite',
      status: 'fail',
      required: true,
      detail: `native SQLite module does not load: ${(error as Error).message.split('\n')[0]}`,
      hint: 'run `npm rebuild better-sqlite3` (needs python3, make and a C++ compiler)',
    };
  }
}

export function checkHome(env: NodeJS.ProcessEnv): DoctorCheck {
  const home = swarmHome(env);
  try {
    loadConfig(configPath(env));
  } catch (error) {
    return { name: 'config', status: 'fail', required: true, detail: (error as Error).message, hint: 'fix or move the config file' };
  }
  try {
    fs.mkdirSync(home, { recursive: true });
    fs.accessSync(home, fs.constants.W_OK);
  } catch {
    return { name: 'config', status: 'fail', required: true, detail: `${home} is not writable`, hint: 'set SWARM_HOME to a writable directory' };
  }
  return { name: 'config', status: 'ok', required: true, detail: `swarm home ${home}, config valid` };
}

export async function checkGit(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const r = await exec('git', ['--version'], env);
  if (!r.ok) {
    return { name: 'git', status: 'warn', required: false, detail: 'git not found', hint: 'install git (needed for commit pins and the GitHub backend)' };
  }
  return { name: 'git', status: 'ok', required: false, detail: r.stdout.trim() };
}

export async function checkGh(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const bin = env.SWARM_GH_BIN || 'gh';
  const version = await exec(bin, ['--version'], env);
  if (!version.ok) {
    return {
      name: 'gh',
      status: 'warn',
      required: false,
      detail: version.missing ? 'GitHub CLI (gh) not found' : 'gh --version failed',
      hint: 'install the GitHub CLI to use the github backend',
    };
  }
  // Its output holds a token prefix: only the exit code is used.
  const auth = await exec(bin, ['auth', 'status'], env);
  const first = version.stdout.split('\n')[0]?.trim() ?? 'gh';
  if (!auth.ok) {
    return { name: 'gh', status: 'warn', required: false, detail: `${first}, not logged in`, hint: 'run `gh auth login` to use the github backend' };
  }
  return { name: 'gh', status: 'ok', required: false, detail: `${first}, logged in` };
}

const LAYER_NAMES = {
  user_namespace: ['sandbox.user', 'user namespace: the step has no privilege over the host'],
  pid_namespace: ['sandbox.pid', 'PID namespace: the step cannot see, signal, trace or dump swarm, and nothing it starts outlives it'],
  mount_namespace: ['sandbox.mount', 'mount namespace: the host is read-only, only the workspace, state DB and private home are writable'],
  hidden_paths: ['sandbox.hidden', 'SWARM_HOME and the project store are invisible to the step'],
  network_namespace: ['sandbox.network', 'network namespace: no address but the broker is reachable'],
  broker_bridge: ['sandbox.bridge', 'the broker is reachable from inside'],
} as const;

/** Where the broker's own connections go: straight out, or through the operator's proxy. */
async function checkUpstreamProxy(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const { describeUpstreamProxy, resolveUpstreamProxy } = await import('@swarm/proxy');
  const { resolveProfile } = await import('@swarm/core');
  try {
    const { settings } = resolveProfile(loadConfig(configPath(env)));
    const setting = resolveUpstreamProxy(settings['egress.upstream_proxy'] as string | undefined, env);
    return { name: 'egress.upstream', status: 'ok', required: false, detail: `broker connects ${describeUpstreamProxy(setting)}` };
  } catch (error) {
    return {
      name: 'egress.upstream',
      status: 'fail',
      required: false,
      detail: (error as Error).message,
      hint: 'set egress.upstream_proxy to http://host:port, or fix HTTPS_PROXY',
    };
  }
}

/** Each isolation layer as its own check, so a user sees which guarantee holds on this machine. */
export async function checkSandbox(env: NodeJS.ProcessEnv): Promise<DoctorCheck[]> {
  const { probeSandbox, userNamespaceSysctls } = await import('@swarm/proxy');
  const probe = await probeSandbox(env);
  const sysctls = Object.entries(userNamespaceSysctls())
    .filter(([, value]) => value !== null)
    .map(([name, value]) => `${name} = ${value}`)
    .join(', ');
  const checks: DoctorCheck[] = [
    {
      name: 'sandbox',
      status: probe.ok ? 'ok' : 'fail',
      required: true,
      detail: `${probe.detail}${sysctls ? ` (${sysctls})` : ''}`,
      hint: probe.ok ? undefined : `${probe.hint ?? 'see docs/security.md'}; until then runs refuse (exit 6) unless --unsandboxed-egress`,
    },
  ];
  for (const [layer, [name, meaning]] of Object.entries(LAYER_NAMES)) {
    const held = probe.layers?.[layer as keyof typeof LAYER_NAMES];
    if (held === undefined) continue;
    checks.push({ name, status: held ? 'ok' : 'fail', required: true, detail: `${held ? '' : 'does not hold: '}${meaning}` });
  }
  checks.push(await checkUpstreamProxy(env));
  const { disableCoreDumps } = await import('@swarm/core');
  const noCores = disableCoreDumps();
  checks.push({
    name: 'core-dumps',
    status: noCores ? 'ok' : 'warn',
    required: false,
    detail: noCores ? 'swarm sets its core-size limit to 0 while it holds keys' : 'swarm cannot set its core-size limit to 0 (prlimit missing?)',
    hint: noCores ? undefined : 'install util-linux (prlimit)',
  });
  return checks;
}

export async function runDoctor(options: { env: NodeJS.ProcessEnv; cwd: string; repo?: string; repoRequired?: boolean }): Promise<DoctorReport> {
  const checks = await Promise.all([
    Promise.resolve(checkNode()),
    checkSqlite(),
    Promise.resolve(checkHome(options.env)),
    checkGit(options.env),
    options.repo ? Promise.resolve(null) : checkGh(options.env),
  ]);
  // With a repository (--repo, or github.repo configured) the github section replaces the gh line.
  const github = options.repo ? await (await import('./github.js')).githubChecks({ repo: options.repo, env: options.env, required: options.repoRequired ?? false }) : [];
  return { checks: [...checks.filter((c): c is DoctorCheck => c !== null), ...github, ...(await checkSandbox(options.env))] };
}
