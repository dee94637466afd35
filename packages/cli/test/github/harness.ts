/**
 * A GitHub for the github backend's tests: the loopback API emulator, the loopback runner that
 * executes the shipped workflow and action with this checkout's built swarm, a repository set up
 * with `swarm github setup` through the real gh, and helpers to run swarm (asynchronously: the
 * emulator answers from this process) and scan for leaked secrets.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { decodeCapability, validateDocument } from '@swarm/core';
import { startEmulator, type GithubEmulator } from '../../../test-utils/src/github/emulator.js';
import { createLoopbackRunner, type LoopbackRunner } from '../../../test-utils/src/github/runner.js';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = path.join(ROOT, 'packages/cli/bin/swarm.js');
export const REPO = 'acme/agents';
/** The swarm release the workflow runs: mapped to this checkout by the runner. */
export const ACTION = `swarm-dev/swarm@${'5'.repeat(40)}`;
export const GH_AVAILABLE = fs.existsSync('/usr/bin/gh') || Boolean(process.env.SWARM_TEST_GH);

export interface Swarm {
  code: number;
  stdout: string;
  stderr: string;
  envelope: any;
}

export interface Harness {
  tmp: string;
  project: string;
  env: NodeJS.ProcessEnv;
  emulator: GithubEmulator;
  runner: LoopbackRunner;
  /** Everything swarm printed, for the leak scan. */
  outputs: string[];
  /** `asCommand`: the bin started by its path, as `swarm` on PATH is (its shell line defers NODE_EXTRA_CA_CERTS), not by `node`. */
  swarm(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; asCommand?: boolean }): Promise<Swarm>;
  close(): Promise<void>;
}

export async function startHarness(name: string, options: { returnRunDetails?: boolean; setup?: boolean; path?: string } = {}): Promise<Harness> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `swarm-gh-${name}-`));
  const project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  const runner = createLoopbackRunner({ actions: { [ACTION]: ROOT }, workDir: path.join(tmp, 'runner'), env: { PATH: options.path ?? process.env.PATH ?? '/usr/bin:/bin' }, killGraceMs: 2000 });
  const emulator = await startEmulator({ runner, returnRunDetails: options.returnRunDetails });
  emulator.createRepo(REPO, { defaultBranch: 'main' });
  const env: NodeJS.ProcessEnv = {
    ...emulator.env(),
    PATH: options.path ?? process.env.PATH,
    HOME: path.join(tmp, 'user'),
    SWARM_HOME: path.join(tmp, 'swarm-home'),
    NO_COLOR: '1',
    SWARM_GH_CORRELATE_S: '4',
    SWARM_GH_POLL_S: '0.25',
    SWARM_GH_TIMEOUT_S: '20',
  };
  const outputs: string[] = [];
  const swarm = (args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; asCommand?: boolean } = {}) =>
    new Promise<Swarm>((resolve) => {
      const [file, head] = o.asCommand ? [BIN, []] : [process.execPath, [BIN]];
      execFile(file, [...head, ...args, '--json'], { cwd: o.cwd ?? project, env: o.env ?? env, timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
        outputs.push(stdout, stderr);
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
        let envelope: any = null;
        try {
          envelope = JSON.parse(stdout.trim().split('\n').pop() ?? '');
        } catch {
          envelope = null;
        }
        if (envelope) expect(validateDocument('output', envelope).errors).toEqual([]);
        resolve({ code, stdout, stderr, envelope });
      });
    });
  const harness: Harness = {
    tmp,
    project,
    env,
    emulator,
    runner,
    outputs,
    swarm,
    async close() {
      await runner.idle();
      await emulator.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  if (options.setup !== false) {
    const setup = await swarm(['github', 'setup', '--repo', REPO, '--action', ACTION]);
    expect(setup.code, setup.stderr + setup.stdout).toBe(0);
  }
  return harness;
}

/** Raw, hex, base64 and base64url forms of a secret's bytes. */
export function forms(secret: Buffer | string): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const out = new Set<string>([bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url')]);
  if (typeof secret === 'string') out.add(secret);
  return [...out].filter((f) => f.length >= 16);
}

/** The chain keys inside raw capability tokens (what `--reveal` prints). */
export function chainKeyForms(token: string, kind: 'state_cap' | 'net_cap'): string[] {
  const cap = decodeCapability(token, kind);
  return [...forms(token), ...forms(Buffer.from(cap.chain_key, 'hex'))];
}

/** The operator's and the runner's private keys and the gh token: what must never leave. */
export function standingSecrets(h: Harness): Array<[string, string[]]> {
  const keys = path.join(h.env.SWARM_HOME!, 'keys');
  const out: Array<[string, string[]]> = [];
  for (const name of ['root.secret', 'sealing.x25519']) {
    const file = path.join(keys, name);
    if (fs.existsSync(file)) out.push([`operator ${name}`, forms(fs.readFileSync(file))]);
  }
  const pem = path.join(keys, 'signing.ed25519.pem');
  if (fs.existsSync(pem)) out.push(['operator signing key', [fs.readFileSync(pem, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----')).join('')]]);
  const runnerKey = h.emulator.secretValue(REPO, 'SWARM_RUNNER_KEY', 'swarm');
  if (runnerKey) {
    const k = JSON.parse(Buffer.from(runnerKey, 'base64url').toString('utf8')) as { ed25519_sk: string; x25519_sk: string };
    out.push(['runner key', [...forms(runnerKey), ...forms(Buffer.from(k.ed25519_sk, 'base64url')), ...forms(Buffer.from(k.x25519_sk, 'base64url'))]]);
  }
  out.push(['gh token', [h.emulator.token]], ['job token', h.emulator.jobTokens()]);
  return out;
}

/** Everything the emulator received or stores, every job log, and everything swarm printed. */
export function leakCorpus(h: Harness): string {
  const logs = h.emulator.runs(REPO).flatMap((r) => h.emulator.log(r.id));
  const ledger = fs.existsSync(path.join(h.project, '.swarm')) ? readAll(path.join(h.project, '.swarm', 'runs')) : '';
  return [h.emulator.leakCorpus().toString('latin1'), logs.join('\n'), h.outputs.join('\n'), ledger].join('\n');
}

function readAll(dir: string): string {
  if (!fs.existsSync(dir)) return '';
  const parts: string[] = [];
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) parts.push(fs.readFileSync(path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name), 'latin1'));
  }
  return parts.join('\n');
}

export function expectNoLeak(corpus: string, secrets: Array<[string, string[]]>): void {
  for (const [what, list] of secrets) {
    for (const form of list) {
      const at = corpus.indexOf(form);
      expect(at, `${what} leaked (${form.slice(0, 6)}…) in: ${at >= 0 ? JSON.stringify(corpus.slice(Math.max(0, at - 300), at + 80)) : ''}`).toBe(-1);
    }
  }
}
