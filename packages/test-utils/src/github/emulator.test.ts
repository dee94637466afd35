/**
 * The GitHub emulator driven by the real Debian `gh` (2.23) over loopback HTTPS. gh runs as an
 * asynchronous child process: the emulator lives in this worker's event loop, so a synchronous
 * spawn would deadlock.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitBlobSha, policyPatternMatches, startEmulator, type EmulatorOptions, type GithubEmulator } from './emulator.js';
import { openSealed, seal, sealKeyPair } from './sealed-box.js';
import type { EmulatedRun, Runner, RunnerHost } from './types.js';
import { writeZip } from './zip-write.js';

const GH = '/usr/bin/gh';
const haveGh = fs.existsSync(GH);
if (!haveGh) console.warn(`emulator.test.ts: skipped, ${GH} is absent (CI installs it with apt-get install -y gh)`);

const WORKFLOW = `name: Swarm worker
run-name: swarm \${{ inputs.request_id }}
on:
  workflow_dispatch:
    inputs:
      request_id:
        description: correlation id
        required: true
      envelope:
        required: false
        default: none
permissions:
  contents: read
jobs:
  run:
    runs-on: ubuntu-latest
    environment: swarm
    steps:
      - run: echo hello
`;

interface GhResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
}

interface GhOptions {
  input?: string | Buffer;
  env?: Record<string, string | undefined>;
  /** Kill (SIGKILL) after this long, like `timeout -s KILL`. */
  timeoutMs?: number;
}

function gh(em: GithubEmulator, args: string[], options: GhOptions = {}): Promise<GhResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(GH, args, { env: em.env(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, ms: Date.now() - started });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

async function ghJson<T = Record<string, unknown>>(em: GithubEmulator, args: string[], options: GhOptions = {}): Promise<T> {
  const result = await gh(em, args, options);
  if (result.code !== 0) throw new Error(`gh ${args.join(' ')} → ${String(result.code)}: ${result.stderr}${result.stdout.toString()}`);
  return JSON.parse(result.stdout.toString('utf8')) as T;
}

/** A Runner for these tests: marks the run in progress, then (unless told to hold) uploads one artifact and succeeds. */
class StubRunner implements Runner {
  readonly started: EmulatedRun[] = [];
  readonly cancelled: number[] = [];
  readonly secretsSeen = new Map<number, Record<string, string>>();
  artifactZip = writeZip([{ name: 'result.json', data: '{"ok":true}\n' }]);
  #host: RunnerHost | undefined;
  #pending = new Set<Promise<void>>();

  constructor(private readonly mode: 'complete' | 'hold' = 'complete') {}

  start(run: EmulatedRun, host: RunnerHost): void {
    this.#host = host;
    this.started.push(run);
    host.setStatus(run.id, 'in_progress');
    const workflow = host.readFile(run.repo, run.head_sha, run.path);
    host.appendLog(run.id, `workflow ${run.path}: ${workflow ? `${workflow.length} bytes` : 'missing'}`);
    this.secretsSeen.set(run.id, host.secretsFor(run, 'swarm'));
    if (this.mode === 'hold') return;
    const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      host.addArtifact(run.id, `swarm-${run.inputs.request_id ?? 'x'}`, this.artifactZip);
      host.appendLog(run.id, 'uploaded');
      host.setStatus(run.id, 'completed', 'success');
    });
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
  }

  cancel(runId: number): void {
    this.cancelled.push(runId);
    this.#host?.appendLog(runId, 'cancelled by request');
    this.#host?.setStatus(runId, 'completed', 'cancelled');
  }

  async idle(): Promise<void> {
    await Promise.all([...this.#pending]);
  }
}

function dispatchBody(ref: string, inputs: Record<string, string>, returnRunDetails?: boolean): string {
  return JSON.stringify(returnRunDetails === undefined ? { ref, inputs } : { ref, inputs, return_run_details: returnRunDetails });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe.skipIf(!haveGh)('GitHub emulator with the real gh', () => {
  let em: GithubEmulator;
  let runner: StubRunner;
  let pin: string;

  async function fresh(options: EmulatorOptions = {}): Promise<void> {
    await em?.close();
    runner = new StubRunner();
    em = await startEmulator({ runner, ...options });
    const repo = em.createRepo('o/r', { files: { 'README.md': 'hi\n', '.github/workflows/swarm.yml': WORKFLOW } });
    pin = repo.sha;
    em.moveRef('o/r', 'refs/tags/swarm-pin-a', pin);
  }

  beforeEach(async () => {
    await fresh();
  });

  afterEach(async () => {
    await runner.idle();
    await em.close();
  });

  it('answers gh api repos/o/r with the repository', async () => {
    const repo = await ghJson(em, ['api', 'repos/o/r']);
    expect(repo).toMatchObject({ full_name: 'o/r', name: 'r', default_branch: 'main', private: true, permissions: { admin: true, push: true } });
    expect(em.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /api/v3/repos/o/r 200']);
    expect(em.requests[0]?.credential).toBe('operator');
    expect(em.requests[0]?.headers['user-agent']).toMatch(/^GitHub CLI 2\./);
  });

  it('shows the status line and GitHub headers with gh api -i', async () => {
    const result = await gh(em, ['api', '-i', 'repos/o/r']);
    expect(result.code).toBe(0);
    const text = result.stdout.toString('utf8');
    expect(text.split('\n')[0]?.trim()).toBe('HTTP/1.1 200 OK');
    expect(text).toMatch(/^X-Github-Request-Id: [0-9A-F]{4}:[0-9A-F]{4}:[0-9A-F]{6}:[0-9A-F]{6}:[0-9A-F]{8}\r?$/im);
    expect(text).toMatch(/^X-Ratelimit-Remaining: 4999\r?$/im);
    expect(text).toMatch(/^X-Ratelimit-Resource: core\r?$/im);
    expect(text).toMatch(/^Content-Type: application\/json; charset=utf-8\r?$/im);
    const unknown = await gh(em, ['api', '-i', 'repos/o/r/nothing-here']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout.toString()).toContain('HTTP/1.1 404 Not Found');
    expect(unknown.stdout.toString()).toContain('"message":"Not Found"');
  });

  it('refuses a wrong token with 401 Bad credentials', async () => {
    const result = await gh(em, ['api', 'repos/o/r'], { env: { GH_ENTERPRISE_TOKEN: 'ghp_000000000000000000000000000000000000' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Bad credentials (HTTP 401)');
    expect(em.requests.at(-1)).toMatchObject({ status: 401, credential: 'invalid' });
    const ok = await gh(em, ['api', 'repos/o/r']);
    expect(ok.code).toBe(0);
  });

  it('reports the operator with read:org scopes, /meta and a minimal GraphQL', async () => {
    const status = await gh(em, ['auth', 'status', '-h', `localhost:${em.port}`]);
    expect(status.code).toBe(0);
    expect(status.stderr).toContain('Logged in to');
    expect(status.stderr).toContain('monalisa');
    expect(await ghJson(em, ['api', 'meta', '--jq', '{v: .installed_version}'])).toEqual({ v: '3.21.0' });
    const gql = await ghJson(em, ['api', 'graphql', '-f', 'query=query($owner:String!,$name:String!){ repository(owner:$owner,name:$name){ defaultBranchRef { name } } me: viewer { login } }', '-f', 'owner=o', '-f', 'name=r']);
    expect(gql).toEqual({ data: { repository: { defaultBranchRef: { name: 'main' } }, me: { login: 'monalisa' } } });
    await fresh({ installedVersion: '3.20.4' });
    expect(await ghJson(em, ['api', 'meta', '--jq', '{v: .installed_version}'])).toEqual({ v: '3.20.4' });
  });

  it('opens the sealed box of gh secret set --env, and never sees the plaintext', async () => {
    em.setEnvironment('o/r', 'swarm');
    const value = `runner-key-${randomBytes(12).toString('hex')}`;
    const result = await gh(em, ['secret', 'set', 'SWARM_RUNNER_KEY', '-R', 'o/r', '--env', 'swarm'], { input: value });
    expect(result.code).toBe(0);
    expect(em.secretValue('o/r', 'SWARM_RUNNER_KEY', 'swarm')).toBe(value);
    expect(em.secretValue('o/r', 'SWARM_RUNNER_KEY')).toBeUndefined();
    // The exact calls gh 2.23 makes for --env (no repository-id lookup).
    expect(em.requests.map((r) => `${r.method} ${r.url} ${r.status}`)).toEqual([
      'GET /api/v3/repos/o/r/environments/swarm/secrets/public-key 200',
      'PUT /api/v3/repos/o/r/environments/swarm/secrets/SWARM_RUNNER_KEY 201',
    ]);
    const put = JSON.parse(em.requests[1]?.body.toString() ?? '{}') as { encrypted_value: string; key_id: string };
    expect(Object.keys(put).sort()).toEqual(['encrypted_value', 'key_id']);
    expect(Buffer.from(put.encrypted_value, 'base64').length).toBe(value.length + 48);
    for (const request of em.requests) {
      expect(JSON.stringify(request)).not.toContain(value);
      expect(request.body.toString('latin1')).not.toContain(value);
    }
    expect(em.leakCorpus().includes(value)).toBe(false);

    const again = await gh(em, ['secret', 'set', 'SWARM_RUNNER_KEY', '-R', 'o/r', '--env', 'swarm'], { input: 'second' });
    expect(again.code).toBe(0);
    expect(em.requests.at(-1)?.status).toBe(204);
    expect(em.secretValue('o/r', 'SWARM_RUNNER_KEY', 'swarm')).toBe('second');

    const repoSecret = await gh(em, ['secret', 'set', 'REPO_ONLY', '-R', 'o/r'], { input: 'repo-value' });
    expect(repoSecret.code).toBe(0);
    expect(em.secretValue('o/r', 'REPO_ONLY')).toBe('repo-value');
    const list = await gh(em, ['secret', 'list', '-R', 'o/r', '--env', 'swarm']);
    expect(list.stdout.toString()).toMatch(/^SWARM_RUNNER_KEY\t\d{4}-\d{2}-\d{2}/);
    const repoId = (await ghJson(em, ['api', 'repos/o/r'])).id as number;
    const byId = await ghJson<{ total_count: number; secrets: Array<{ name: string }> }>(em, ['api', `repositories/${repoId}/environments/swarm/secrets`]);
    expect(byId.secrets.map((x) => x.name)).toEqual(['SWARM_RUNNER_KEY']);
    const meta = await ghJson(em, ['api', 'repos/o/r/environments/swarm/secrets/SWARM_RUNNER_KEY']);
    expect(Object.keys(meta).sort()).toEqual(['created_at', 'name', 'updated_at']);
    const missingEnv = await gh(em, ['secret', 'set', 'X', '-R', 'o/r', '--env', 'nope'], { input: 'v' });
    expect(missingEnv.code).toBe(1);
  });

  it('dispatches with return_run_details: 200 with the run id, and the run reaches the runner', async () => {
    const result = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('swarm-pin-a', { request_id: 'req-1' }, true) });
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout.toString()) as { workflow_run_id: number; run_url: string; html_url: string };
    expect(body).toEqual({
      workflow_run_id: 9_000_000_001,
      run_url: `https://localhost:${em.port}/api/v3/repos/o/r/actions/runs/9000000001`,
      html_url: `https://localhost:${em.port}/o/r/actions/runs/9000000001`,
    });
    expect(runner.started).toHaveLength(1);
    expect(runner.started[0]).toMatchObject({ id: 9_000_000_001, repo: 'o/r', workflow_id: 1001, path: '.github/workflows/swarm.yml', name: 'Swarm worker', display_title: 'swarm req-1', head_branch: 'swarm-pin-a', head_sha: pin, event: 'workflow_dispatch', inputs: { request_id: 'req-1' }, run_number: 1, run_attempt: 1 });
    await runner.idle();
    const run = await ghJson(em, ['api', `repos/o/r/actions/runs/${body.workflow_run_id}`]);
    expect(run).toMatchObject({ id: body.workflow_run_id, status: 'completed', conclusion: 'success', display_title: 'swarm req-1', head_sha: pin, head_branch: 'swarm-pin-a', workflow_id: 1001, repository: { full_name: 'o/r' } });
    const jobs = await ghJson<{ total_count: number; jobs: Array<Record<string, unknown>> }>(em, ['api', `repos/o/r/actions/runs/${body.workflow_run_id}/jobs`]);
    expect(jobs.total_count).toBe(1);
    expect(jobs.jobs[0]).toMatchObject({ name: 'run', run_id: body.workflow_run_id, status: 'completed', conclusion: 'success', steps: [] });
    expect(em.log(body.workflow_run_id)).toEqual([`workflow .github/workflows/swarm.yml: ${WORKFLOW.length} bytes`, 'uploaded']);

    const view = await ghJson<{ databaseId: number; displayTitle: string; conclusion: string; jobs: Array<{ name: string }> }>(em, ['run', 'view', String(body.workflow_run_id), '-R', 'o/r', '--json', 'databaseId,displayTitle,conclusion,jobs']);
    expect(view).toMatchObject({ databaseId: body.workflow_run_id, displayTitle: 'swarm req-1', conclusion: 'success' });
    expect(view.jobs.map((j) => j.name)).toEqual(['run']);
  });

  it('answers 204 without return_run_details, and gh workflow run works', async () => {
    const result = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'req-2' }) });
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(em.requests.at(-1)?.status).toBe(204);
    expect(em.runs('o/r').map((r) => [r.display_title, r.head_branch])).toEqual([['swarm req-2', 'main']]);

    const porcelain = await gh(em, ['workflow', 'run', 'swarm.yml', '-R', 'o/r', '--ref', 'swarm-pin-a', '-f', 'request_id=req-3']);
    expect(porcelain.code).toBe(0);
    expect(em.runs('o/r').map((r) => r.display_title)).toEqual(['swarm req-2', 'swarm req-3']);
    expect(em.requests.slice(-2).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v3/repos/o/r/actions/workflows/swarm.yml', 'POST /api/v3/repos/o/r/actions/workflows/1001/dispatches']);
    // Without --ref, gh 2.23 asks GraphQL for the default branch first.
    const noRef = await gh(em, ['workflow', 'run', 'swarm.yml', '-R', 'o/r', '-f', 'request_id=req-4']);
    expect(noRef.code).toBe(0);
    expect(em.runs('o/r').at(-1)).toMatchObject({ display_title: 'swarm req-4', head_branch: 'main' });
    expect(em.requests.filter((r) => r.path === '/api/graphql').map((r) => r.status)).toEqual([200]);
  });

  it('rejects return_run_details with 400 in GHES 3.20 mode', async () => {
    await fresh({ returnRunDetails: false });
    const refused = await gh(em, ['api', '-i', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'r' }, true) });
    expect(refused.code).toBe(1);
    expect(refused.stdout.toString()).toContain('HTTP/1.1 400 Bad Request');
    expect(refused.stdout.toString()).toContain('\\"return_run_details\\" is not a permitted key.');
    expect(em.runs('o/r')).toEqual([]);
    const plain = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'r' }) });
    expect(plain.code).toBe(0);
    expect(em.runs('o/r')).toHaveLength(1);
  });

  it('refuses a raw sha ref, undeclared inputs and oversized inputs with 422', async () => {
    const post = (body: string) => gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: body });
    const bySha = await post(dispatchBody(pin, { request_id: 'x' }));
    expect(bySha.code).toBe(1);
    expect(bySha.stderr).toContain(`No ref found for: ${pin} (HTTP 422)`);
    const undeclared = await post(dispatchBody('main', { request_id: 'x', bogus: '1', other: '2' }));
    expect(undeclared.code).toBe(1);
    expect(undeclared.stderr).toContain('Unexpected inputs provided: ["bogus","other"] (HTTP 422)');
    const missing = await post(dispatchBody('main', {}));
    expect(missing.stderr).toContain("Required input 'request_id' not provided (HTTP 422)");
    const tooMany = await post(dispatchBody('main', Object.fromEntries(Array.from({ length: 26 }, (_, i) => [`i${i}`, 'v']))));
    expect(tooMany.stderr).toContain('HTTP 422');
    expect(tooMany.stderr).toContain('maximum of 25');
    const tooLong = await post(dispatchBody('main', { request_id: 'x', envelope: 'e'.repeat(65_536) }));
    expect(tooLong.stderr).toContain('HTTP 422');
    const porcelain = await gh(em, ['workflow', 'run', 'swarm.yml', '-R', 'o/r', '--ref', 'nope', '-f', 'request_id=x']);
    expect(porcelain.stderr).toContain('HTTP 422: No ref found for: nope');
    expect(em.runs('o/r')).toEqual([]);
    expect(runner.started).toEqual([]);
  });

  it('lists runs with filters and Link pagination that gh --paginate follows', async () => {
    const dispatch = async (ref: string, id: string) => {
      const r = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/1001/dispatches', '--input', '-'], { input: dispatchBody(ref, { request_id: id }) });
      expect(r.code).toBe(0);
    };
    runner = new StubRunner('hold');
    em.setRunner(runner);
    for (const id of ['a1', 'a2', 'a3']) await dispatch('swarm-pin-a', id);
    const other = em.commit('o/r', 'main', { 'x.txt': 'x' });
    for (const id of ['m1', 'm2']) await dispatch('main', id);
    em.host.setStatus(9_000_000_002, 'completed', 'failure');

    const ids = await gh(em, ['api', '-X', 'GET', 'repos/o/r/actions/workflows/swarm.yml/runs', '-f', 'branch=swarm-pin-a', '-f', 'event=workflow_dispatch', '-F', 'per_page=2', '--paginate', '--jq', '.workflow_runs[].id']);
    expect(ids.code).toBe(0);
    expect(ids.stdout.toString().trim().split('\n').map(Number)).toEqual([9_000_000_003, 9_000_000_002, 9_000_000_001]);
    const pages = em.requests.filter((r) => r.path.endsWith('/runs'));
    expect(pages.map((r) => r.query.page ?? '1')).toEqual(['1', '2']);

    const headers = await gh(em, ['api', '-i', '-X', 'GET', 'repos/o/r/actions/runs', '-F', 'per_page=2']);
    const link = /^Link: (.*)$/im.exec(headers.stdout.toString())?.[1] ?? '';
    expect(link).toContain(`<https://localhost:${em.port}/api/v3/repos/o/r/actions/runs?per_page=2&page=2>; rel="next"`);
    expect(link).toContain('page=3>; rel="last"');
    const filtered = async (query: string[]) => (await ghJson<{ total_count: number; workflow_runs: Array<{ display_title: string }> }>(em, ['api', '-X', 'GET', 'repos/o/r/actions/runs', ...query.flatMap((q) => ['-f', q])])).workflow_runs.map((r) => r.display_title);
    expect(await filtered([`head_sha=${other}`])).toEqual(['swarm m2', 'swarm m1']);
    expect(await filtered(['status=failure'])).toEqual(['swarm a2']);
    expect(await filtered(['status=in_progress', 'branch=main'])).toEqual(['swarm m2', 'swarm m1']);
    const created = em.run(9_000_000_001)?.created_at ?? '';
    expect(await filtered([`created=>=${created}`])).toHaveLength(5);
    expect(await filtered([`created=<${created}`])).toEqual([]);
    expect(await filtered([`created=${created}..${new Date(Date.parse(created) + 3_600_000).toISOString()}`])).toHaveLength(5);
    expect(await filtered(['created=>=2999-01-01T00:00:00Z'])).toEqual([]);

    const list = await ghJson<Array<{ databaseId: number; displayTitle: string }>>(em, ['run', 'list', '-R', 'o/r', '--workflow', 'swarm.yml', '--json', 'databaseId,displayTitle,headSha,status']);
    expect(list.map((r) => r.displayTitle)).toEqual(['swarm m2', 'swarm m1', 'swarm a3', 'swarm a2', 'swarm a1']);
  });

  it('hides new runs from the API for a while, but not from the runner', async () => {
    em.hideNewRuns(30_000);
    const r = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'h' }, true) });
    const id = (JSON.parse(r.stdout.toString()) as { workflow_run_id: number }).workflow_run_id;
    expect(runner.started.map((s) => s.id)).toEqual([id]);
    expect((await ghJson<{ total_count: number }>(em, ['api', 'repos/o/r/actions/runs'])).total_count).toBe(0);
    expect((await gh(em, ['api', `repos/o/r/actions/runs/${id}`])).code).toBe(1);
    em.advanceClock(31_000);
    expect((await ghJson<{ total_count: number }>(em, ['api', 'repos/o/r/actions/runs'])).total_count).toBe(1);
    expect((await ghJson(em, ['api', `repos/o/r/actions/runs/${id}`])).id).toBe(id);
  });

  it('cancels a run in progress with 202, then answers 409', async () => {
    runner = new StubRunner('hold');
    em.setRunner(runner);
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'c' }) });
    const id = em.runs('o/r')[0]?.id ?? 0;
    expect(em.run(id)?.status).toBe('in_progress');
    const first = await gh(em, ['api', '-i', '-X', 'POST', `repos/o/r/actions/runs/${id}/cancel`]);
    expect(first.code).toBe(0);
    expect(first.stdout.toString()).toContain('HTTP/1.1 202 Accepted');
    expect(runner.cancelled).toEqual([id]);
    expect(em.run(id)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    const second = await gh(em, ['api', '-X', 'POST', `repos/o/r/actions/runs/${id}/cancel`]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('Cannot cancel a workflow run that is completed. (HTTP 409)');
    expect(runner.cancelled).toEqual([id]);

    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'f' }) });
    const forced = em.runs('o/r')[1]?.id ?? 0;
    const force = await gh(em, ['api', '-X', 'POST', `repos/o/r/actions/runs/${forced}/force-cancel`]);
    expect(force.code).toBe(0);
    expect(em.run(forced)).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    em.host.setStatus(forced, 'completed', 'success');
    expect(em.run(forced)?.conclusion).toBe('cancelled');
  });

  it('serves an artifact zip through a 302 to another host; the bytes match the digest', async () => {
    runner.artifactZip = writeZip([
      { name: 'manifest.json', data: '{"files":1}\n' },
      { name: 'out/result.bin', data: randomBytes(4096) },
    ]);
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('swarm-pin-a', { request_id: 'art' }) });
    await runner.idle();
    const runId = em.runs('o/r')[0]?.id ?? 0;
    const listed = await ghJson<{ total_count: number; artifacts: Array<Record<string, unknown> & { id: number; digest: string }> }>(em, ['api', `repos/o/r/actions/runs/${runId}/artifacts?name=swarm-art`]);
    expect(listed.total_count).toBe(1);
    const artifact = listed.artifacts[0];
    if (!artifact) throw new Error('no artifact listed');
    expect(artifact).toMatchObject({ id: 5_000_001, name: 'swarm-art', size_in_bytes: runner.artifactZip.length, expired: false, digest: `sha256:${sha256(runner.artifactZip)}`, workflow_run: { id: runId, head_branch: 'swarm-pin-a', head_sha: pin } });
    expect((await ghJson<{ total_count: number }>(em, ['api', `repos/o/r/actions/runs/${runId}/artifacts?name=other`])).total_count).toBe(0);

    const before = em.requests.length;
    const download = await gh(em, ['api', `repos/o/r/actions/artifacts/${artifact.id}/zip`]);
    expect(download.code).toBe(0);
    expect(download.stdout.equals(runner.artifactZip)).toBe(true);
    expect(`sha256:${sha256(download.stdout)}`).toBe(artifact.digest);
    const [redirect, blob] = em.requests.slice(before);
    expect(redirect?.status).toBe(302);
    expect(blob).toMatchObject({ method: 'GET', status: 200 });
    expect(blob?.path).toMatch(/^\/_blob\/[0-9a-f]{48}$/);
    expect(blob?.headers.host).toBe(`127.0.0.1:${em.port}`);
    expect(Object.keys(blob?.headers ?? {})).not.toContain('authorization');
    expect(blob?.credential).toBe('operator'); // gh 2.23 sends its token to the redirect host too; the log keeps none of it

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emulator-dl-'));
    try {
      const porcelain = await gh(em, ['run', 'download', String(runId), '-R', 'o/r', '-n', 'swarm-art', '-D', dir]);
      expect(porcelain.code).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe('{"files":1}\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }

    const cut = em.fault({ path: /^\/_blob\//, truncateAfterBytes: 100 });
    const truncated = await gh(em, ['api', `repos/o/r/actions/artifacts/${artifact.id}/zip`]);
    expect(cut.hits).toBe(1);
    expect(truncated.code).toBe(1);
    expect(truncated.stdout.length).toBeLessThanOrEqual(100);

    em.tamperArtifact(artifact.id, writeZip([{ name: 'manifest.json', data: 'evil' }]));
    const tampered = await gh(em, ['api', `repos/o/r/actions/artifacts/${artifact.id}/zip`]);
    expect(`sha256:${sha256(tampered.stdout)}`).not.toBe(artifact.digest);
    expect((await ghJson(em, ['api', `repos/o/r/actions/artifacts/${artifact.id}`])).digest).toBe(artifact.digest);

    em.setArtifact(artifact.id, { expired: true });
    const expired = await gh(em, ['api', `repos/o/r/actions/artifacts/${artifact.id}/zip`]);
    expect(expired.code).toBe(1);
    expect(expired.stderr).toContain('HTTP 410');
  });

  it('lets a blob URL expire after a minute', async () => {
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'u' }) });
    await runner.idle();
    const runId = em.runs('o/r')[0]?.id ?? 0;
    const raw = em.addRawArtifact(runId, 'swarm-u', writeZip([{ name: 'a', data: 'b' }]), { digest: null });
    expect(em.artifacts(runId).map((a) => [a.name, a.digest === null])).toEqual([['swarm-u', false], ['swarm-u', true]]);
    const redirect = await gh(em, ['api', '-i', `repos/o/r/actions/artifacts/${raw.id}/zip`, '-H', 'Accept: application/json']);
    expect(redirect.stdout.toString()).toContain('HTTP/1.1 200 OK'); // gh follows the redirect
    const location = em.requests.find((r) => r.path.startsWith('/_blob/'))?.path ?? '';
    em.advanceClock(61_000);
    const url = `https://127.0.0.1:${em.port}${location}`;
    const late = await gh(em, ['api', url]);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('HTTP 403');
  });

  it('keeps the run after a fault that answers 502 once the dispatch was handled', async () => {
    const fault = em.fault({ method: 'POST', path: /\/dispatches$/, after: true, status: 502 });
    const result = await gh(em, ['api', '-i', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'dup' }, true) });
    expect(result.code).toBe(1);
    expect(result.stdout.toString()).toContain('HTTP/1.1 502 Bad Gateway');
    expect(result.stdout.toString()).not.toContain('workflow_run_id');
    expect(fault.hits).toBe(1);
    expect(em.runs('o/r').map((r) => r.display_title)).toEqual(['swarm dup']);
    const retry = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'dup' }) });
    expect(retry.code).toBe(0);
    expect(fault.hits).toBe(1);
    expect(em.runs('o/r')).toHaveLength(2);

    const before = em.fault({ method: 'POST', path: /\/dispatches$/, status: 503, headers: { 'Retry-After': '7' } });
    const refused = await gh(em, ['api', '-i', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'no' }) });
    expect(refused.stdout.toString()).toMatch(/^Retry-After: 7\r?$/m);
    expect(before.hits).toBe(1);
    expect(em.runs('o/r')).toHaveLength(2);
  });

  it('hangs on a delay fault until the caller kills gh', async () => {
    const fault = em.fault({ path: /^\/api\/v3\/repos\/o\/r$/, delayMs: 4000 });
    const result = await gh(em, ['api', 'repos/o/r'], { timeoutMs: 700 });
    expect(result.signal).toBe('SIGKILL');
    expect(result.ms).toBeLessThan(3000);
    expect(fault.hits).toBe(1);
    expect(em.requests.at(-1)?.status).toBe(0);
    const next = await gh(em, ['api', 'repos/o/r'], { timeoutMs: 5000 });
    expect(next.code).toBe(0);

    // The dispatch is done, then the answer stalls: the caller gives up, yet the run exists.
    const stall = em.fault({ method: 'POST', path: /\/dispatches$/, after: true, delayMs: 4000 });
    const stalled = await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'slow' }), timeoutMs: 700 });
    expect(stalled.signal).toBe('SIGKILL');
    expect(stall.hits).toBe(1);
    expect(em.runs('o/r').map((r) => r.display_title)).toEqual(['swarm slow']);

    const dropped = em.fault({ path: /^\/api\/v3\/repos\/o\/r$/, dropConnection: true });
    const reset = await gh(em, ['api', 'repos/o/r'], { timeoutMs: 5000 });
    expect(reset.code).toBe(1);
    expect(dropped.hits).toBe(1);
  });

  it('round-trips a 3 MiB git blob through POST and a raw GET', async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const created = await ghJson<{ sha: string; url: string }>(em, ['api', '-X', 'POST', 'repos/o/r/git/blobs', '--input', '-'], { input: JSON.stringify({ content: bytes.toString('base64'), encoding: 'base64' }) });
    const gitSha = execFileSync('git', ['hash-object', '--stdin'], { input: bytes }).toString().trim();
    expect(created.sha).toBe(gitSha);
    expect(gitBlobSha(bytes)).toBe(gitSha);
    expect(em.requests.at(-1)?.status).toBe(201);
    const raw = await gh(em, ['api', `repos/o/r/git/blobs/${created.sha}`, '-H', 'Accept: application/vnd.github.raw']);
    expect(raw.code).toBe(0);
    expect(raw.stdout.equals(bytes)).toBe(true);
    const json = await ghJson<{ sha: string; size: number; content: string; encoding: string }>(em, ['api', `repos/o/r/git/blobs/${created.sha}`]);
    expect(json).toMatchObject({ sha: created.sha, size: bytes.length, encoding: 'base64' });
    expect(json.content.split('\n')[0]).toHaveLength(60);
    expect(Buffer.from(json.content, 'base64').equals(bytes)).toBe(true);
    expect((await gh(em, ['api', `repos/o/r/git/blobs/${'0'.repeat(40)}`])).stderr).toContain('HTTP 404');

    await fresh({ maxBlobBytes: 1024 });
    const big = await gh(em, ['api', '-X', 'POST', 'repos/o/r/git/blobs', '--input', '-'], { input: JSON.stringify({ content: randomBytes(1025).toString('base64'), encoding: 'base64' }) });
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('HTTP 422');
  });

  it('creates a commit with contents PUT; the workflow then shows in the list', async () => {
    const content = Buffer.from('name: Added\non: workflow_dispatch\njobs: {}\n');
    const put = (body: Record<string, unknown>) => gh(em, ['api', '-X', 'PUT', 'repos/o/r/contents/.github/workflows/added.yml', '--input', '-'], { input: JSON.stringify(body) });
    const created = await put({ message: 'add workflow', content: content.toString('base64') });
    expect(created.code).toBe(0);
    expect(em.requests.at(-1)?.status).toBe(201);
    const answer = JSON.parse(created.stdout.toString()) as { content: { sha: string; path: string }; commit: { sha: string; parents: Array<{ sha: string }> } };
    expect(answer.content).toMatchObject({ path: '.github/workflows/added.yml', sha: gitBlobSha(content) });
    expect(answer.commit.parents.map((p) => p.sha)).toEqual([pin]);
    expect(answer.commit.sha).toMatch(/^[0-9a-f]{40}$/);
    const head = await ghJson<{ sha: string; commit: { message: string } }>(em, ['api', 'repos/o/r/commits/main']);
    expect(head.sha).toBe(answer.commit.sha);
    expect(head.commit.message).toBe('add workflow');
    expect((await ghJson(em, ['api', 'repos/o/r/commits/swarm-pin-a'])).sha).toBe(pin);
    expect((await ghJson(em, ['api', `repos/o/r/commits/${pin.slice(0, 10)}`])).sha).toBe(pin);

    const workflows = await ghJson<{ total_count: number; workflows: Array<{ id: number; path: string; name: string; state: string }> }>(em, ['api', 'repos/o/r/actions/workflows']);
    expect(workflows.workflows.map((w) => [w.id, w.path, w.name, w.state])).toEqual([
      [1001, '.github/workflows/swarm.yml', 'Swarm worker', 'active'],
      [1002, '.github/workflows/added.yml', 'Added', 'active'],
    ]);
    expect((await ghJson(em, ['api', 'repos/o/r/actions/workflows/added.yml'])).id).toBe(1002);

    const file = await ghJson<{ type: string; sha: string; content: string; encoding: string }>(em, ['api', 'repos/o/r/contents/.github/workflows/added.yml?ref=main']);
    expect(file).toMatchObject({ type: 'file', sha: gitBlobSha(content), encoding: 'base64' });
    expect(Buffer.from(file.content, 'base64').equals(content)).toBe(true);
    expect((await gh(em, ['api', 'repos/o/r/contents/.github/workflows/added.yml?ref=swarm-pin-a'])).stderr).toContain('HTTP 404');

    const noSha = await put({ message: 'again', content: content.toString('base64') });
    expect(noSha.stderr).toContain('HTTP 422');
    const wrongSha = await put({ message: 'again', content: content.toString('base64'), sha: '1'.repeat(40) });
    expect(wrongSha.stderr).toContain('HTTP 409');
    const update = await put({ message: 'update', content: Buffer.from('name: Renamed\non: workflow_dispatch\njobs: {}\n').toString('base64'), sha: gitBlobSha(content) });
    expect(update.code).toBe(0);
    expect(em.requests.at(-1)?.status).toBe(200);
    expect((await ghJson(em, ['api', 'repos/o/r/actions/workflows/1002'])).name).toBe('Renamed');
  });

  it('creates, reads, moves and deletes git refs', async () => {
    const second = em.commit('o/r', 'main', { 'b.txt': 'b' });
    const created = await ghJson<{ ref: string; object: { sha: string; type: string } }>(em, ['api', '-X', 'POST', 'repos/o/r/git/refs', '-f', 'ref=refs/tags/swarm-pin-b', '-f', `sha=${pin}`]);
    expect(created).toMatchObject({ ref: 'refs/tags/swarm-pin-b', object: { sha: pin, type: 'commit' } });
    const again = await gh(em, ['api', '-X', 'POST', 'repos/o/r/git/refs', '-f', 'ref=refs/tags/swarm-pin-b', '-f', `sha=${pin}`]);
    expect(again.stderr).toContain('Reference already exists (HTTP 422)');
    expect((await ghJson(em, ['api', 'repos/o/r/git/ref/tags/swarm-pin-b'])).object).toMatchObject({ sha: pin });
    expect((await gh(em, ['api', 'repos/o/r/git/ref/tags/missing'])).stderr).toContain('HTTP 404');
    const moved = await ghJson<{ object: { sha: string } }>(em, ['api', '-X', 'PATCH', 'repos/o/r/git/refs/tags/swarm-pin-b', '-f', `sha=${second}`]);
    expect(moved.object.sha).toBe(second);
    const back = await gh(em, ['api', '-X', 'PATCH', 'repos/o/r/git/refs/tags/swarm-pin-b', '-f', `sha=${pin}`]);
    expect(back.stderr).toContain('Update is not a fast forward (HTTP 422)');
    const forced = await ghJson<{ object: { sha: string } }>(em, ['api', '-X', 'PATCH', 'repos/o/r/git/refs/tags/swarm-pin-b', '-f', `sha=${pin}`, '-F', 'force=true']);
    expect(forced.object.sha).toBe(pin);
    const matching = await ghJson<Array<{ ref: string }>>(em, ['api', 'repos/o/r/git/matching-refs/tags/swarm-pin-']);
    expect(matching.map((m) => m.ref)).toEqual(['refs/tags/swarm-pin-a', 'refs/tags/swarm-pin-b']);
    const deleted = await gh(em, ['api', '-X', 'DELETE', 'repos/o/r/git/refs/tags/swarm-pin-b']);
    expect(deleted.code).toBe(0);
    expect(em.requests.at(-1)?.status).toBe(204);
    expect(em.refSha('o/r', 'refs/tags/swarm-pin-b')).toBeUndefined();
  });

  it('releases environment secrets only to refs that pass the deployment policy', async () => {
    const env = await ghJson(em, ['api', '-X', 'PUT', 'repos/o/r/environments/swarm', '--input', '-'], { input: JSON.stringify({ deployment_branch_policy: { protected_branches: false, custom_branch_policies: true } }) });
    expect(env).toMatchObject({ name: 'swarm', deployment_branch_policy: { protected_branches: false, custom_branch_policies: true } });
    const policy = await ghJson(em, ['api', '-X', 'POST', 'repos/o/r/environments/swarm/deployment-branch-policies', '-f', 'name=swarm-pin-*', '-f', 'type=tag']);
    expect(policy).toMatchObject({ name: 'swarm-pin-*', type: 'tag' });
    expect((await ghJson<{ total_count: number }>(em, ['api', 'repos/o/r/environments/swarm/deployment-branch-policies'])).total_count).toBe(1);
    await gh(em, ['secret', 'set', 'SWARM_RUNNER_KEY', '-R', 'o/r', '--env', 'swarm'], { input: 'env-secret' });
    await gh(em, ['secret', 'set', 'SHARED', '-R', 'o/r'], { input: 'repo-secret' });
    em.moveRef('o/r', 'refs/heads/swarm-pin-branch', pin); // a branch with a pin-like name must not pass a tag policy

    for (const ref of ['swarm-pin-a', 'main', 'swarm-pin-branch']) {
      await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody(ref, { request_id: ref }) });
    }
    await runner.idle();
    const seen = runner.started.map((r) => [r.head_branch, runner.secretsSeen.get(r.id)]);
    expect(seen).toEqual([
      ['swarm-pin-a', { SHARED: 'repo-secret', SWARM_RUNNER_KEY: 'env-secret' }],
      ['main', { SHARED: 'repo-secret' }],
      ['swarm-pin-branch', { SHARED: 'repo-secret' }],
    ]);
    expect(policyPatternMatches('swarm-pin-*', 'swarm-pin-abc')).toBe(true);
    expect(policyPatternMatches('swarm-pin-*', 'swarm-pin-a/b')).toBe(false);
    expect(policyPatternMatches('release/**', 'release/a/b')).toBe(true);
  });

  it('gives runs a job token valid for their repository only', async () => {
    em.createRepo('o/other');
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 't' }) });
    const run = em.runs('o/r')[0];
    if (!run) throw new Error('no run');
    const token = em.host.jobToken(run);
    expect(token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(em.host.jobToken(run)).toBe(token);
    expect(em.jobTokens()).toEqual([token]);
    const env = { GH_ENTERPRISE_TOKEN: token };
    expect((await ghJson(em, ['api', 'repos/o/r/actions/runs'], { env })).total_count).toBe(1);
    expect(em.requests.at(-1)?.credential).toBe('job');
    expect((await gh(em, ['api', 'repos/o/other'], { env })).stderr).toContain('HTTP 404');
    expect((await gh(em, ['api', 'user'], { env })).stderr).toContain('HTTP 403');
    expect(em.leakCorpus().includes(token)).toBe(false);
  });

  it('collects what it received and stores for leak scans, without credentials', async () => {
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    await gh(em, ['api', '-X', 'PUT', 'repos/o/r/contents/notes.txt', '--input', '-'], { input: JSON.stringify({ message: 'm', content: Buffer.from(`note ${marker}-content`).toString('base64') }) });
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('main', { request_id: 'leak', envelope: Buffer.from(`${marker}-input`).toString('base64url') }) });
    const runId = em.runs('o/r')[0]?.id ?? 0;
    em.host.addArtifact(runId, 'deflated', writeZip([{ name: 'inner.txt', data: `${marker}-artifact `.repeat(50) }]));
    em.host.appendLog(runId, `${marker}-log`);
    await runner.idle();
    const corpus = em.leakCorpus();
    for (const suffix of ['content', 'input', 'artifact', 'log']) expect(corpus.includes(`${marker}-${suffix}`)).toBe(true);
    expect(em.artifacts(runId).find((a) => a.name === 'deflated')?.bytes.includes(`${marker}-artifact`)).toBe(false); // only the unzipped form shows it
    expect(corpus.includes(em.token)).toBe(false);
    expect(em.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
    const state = em.dumpState() as { runs: Array<{ id: number }>; artifacts: Array<{ name: string }> };
    expect(state.runs.map((r) => r.id)).toEqual([runId]);
    expect(state.artifacts.map((a) => a.name).sort()).toEqual(['deflated', 'swarm-leak']);
  });

  it('forces a head_sha the API then reports', async () => {
    await gh(em, ['api', '-X', 'POST', 'repos/o/r/actions/workflows/swarm.yml/dispatches', '--input', '-'], { input: dispatchBody('swarm-pin-a', { request_id: 'hs' }) });
    const id = em.runs('o/r')[0]?.id ?? 0;
    em.forceHeadSha(id, 'f'.repeat(40));
    expect((await ghJson(em, ['api', `repos/o/r/actions/runs/${id}`])).head_sha).toBe('f'.repeat(40));
    expect(runner.started[0]?.head_sha).toBe(pin);
  });
});

describe('sealed box', () => {
  it('opens what it seals, and refuses a tampered box or another key', () => {
    const keys = sealKeyPair();
    const sealed = seal('a secret value', keys.publicKey);
    expect(sealed.length).toBe('a secret value'.length + 48);
    expect(openSealed(sealed, keys).toString()).toBe('a secret value');
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(() => openSealed(tampered, keys)).toThrow();
    expect(() => openSealed(sealed, sealKeyPair())).toThrow();
    expect(() => openSealed(sealed.subarray(0, 40), keys)).toThrow(/too short/);
    expect(seal('x', keys.publicKey).equals(seal('x', keys.publicKey))).toBe(false);
  });
});

describe('zip writer', () => {
  const python = (() => {
    try {
      execFileSync('python3', ['-c', 'import zipfile']);
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!python)('writes hostile entries that a standard reader sees as written', () => {
    const zip = writeZip([
      { name: 'ok.txt', data: 'fine\n' },
      { name: '../escape.txt', data: 'up' },
      { name: '/abs/path.txt', data: 'root', method: 'store' },
      { name: 'link', data: '/etc/passwd', symlink: true },
      { name: 'dup.txt', data: 'first' },
      { name: 'dup.txt', data: 'second' },
      { name: 'liar.bin', data: 'x'.repeat(1000), declaredSize: 10 },
      { name: 'dir', directory: true },
    ]);
    const script = `
import sys, zipfile, json, io
z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read()))
out = []
for i in z.infolist():
    out.append([i.filename, i.external_attr >> 16, i.file_size, i.compress_type])
print(json.dumps({"entries": out, "ok": z.read(z.infolist()[0]).decode(), "second_dup": z.open(z.infolist()[5]).read().decode()}))
`;
    const parsed = JSON.parse(execFileSync('python3', ['-c', script], { input: zip }).toString()) as { entries: Array<[string, number, number, number]>; ok: string; second_dup: string };
    expect(parsed.entries).toEqual([
      ['ok.txt', 0o100644, 5, 8],
      ['../escape.txt', 0o100644, 2, 8],
      ['/abs/path.txt', 0o100644, 4, 0],
      ['link', 0o120777, 11, 8],
      ['dup.txt', 0o100644, 5, 8],
      ['dup.txt', 0o100644, 6, 8],
      ['liar.bin', 0o100644, 10, 8],
      ['dir/', 0o40755, 0, 0],
    ]);
    expect(parsed.ok).toBe('fine\n');
    expect(parsed.second_dup).toBe('second');
  });
});
