import { execFile } from 'node:child_process';
import fs from 'node:fs';
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
    const { default: Database } = await import('better-sqlite3');
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
  const version = await exec('gh', ['--version'], env);
  if (!version.ok) {
    return {
      name: 'gh',
      status: 'warn',
      required: false,
      detail: version.missing ? 'GitHub CLI (gh) not found' : 'gh --version failed',
      hint: 'install the GitHub CLI to use the github backend',
    };
  }
  const auth = await exec('gh', ['auth', 'status'], env);
  const first = version.stdout.split('\n')[0]?.trim() ?? 'gh';
  if (!auth.ok) {
    return { name: 'gh', status: 'warn', required: false, detail: `${first}, not logged in`, hint: 'run `gh auth login` to use the github backend' };
  }
  return { name: 'gh', status: 'ok', required: false, detail: `${first}, logged in` };
}

export async function checkSandbox(env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const { probeSandbox } = await import('@swarm/proxy');
  const probe = await probeSandbox(env);
  return {
    name: 'sandbox',
    status: probe.ok ? 'ok' : 'warn',
    required: false,
    detail: probe.detail,
    hint: probe.ok ? undefined : (probe.hint ?? 'runs will need --unsandboxed-egress'),
  };
}

export async function runDoctor(options: { env: NodeJS.ProcessEnv; cwd: string }): Promise<DoctorReport> {
  const checks = await Promise.all([
    Promise.resolve(checkNode()),
    checkSqlite(),
    Promise.resolve(checkHome(options.env)),
    checkGit(options.env),
    checkGh(options.env),
    checkSandbox(options.env),
  ]);
  return { checks };
}
