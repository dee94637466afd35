import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLoopbackRunner, lintAction, lintWorkflow, parseFileCommand, type LoopbackRunnerOptions } from './runner.js';
import type { EmulatedRun, RunConclusion, RunnerHost, RunStatus } from './types.js';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const SHIPPED_WORKFLOW = fs.readFileSync(path.join(REPO_ROOT, '.github/workflows/swarm-run.yml'), 'utf8');
const SHIPPED_ACTION = fs.readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8');

const SHA = 'a'.repeat(40);
const OTHER_SHA = '0123456789abcdef0123456789abcdef01234567';
const UPLOAD = 'actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02';
const WF_PATH = '.github/workflows/test.yml';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-runner-test-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const d = fs.mkdtempSync(path.join(tmp, `${name}-`));
  return d;
}

/** An in-memory RunnerHost: serves the files it is given, releases secrets by its own policy, records the rest. */
class FakeHost implements RunnerHost {
  serverUrl = 'https://localhost:8443';
  apiUrl = 'https://localhost:8443/api/v3';
  caFile: string;
  readonly files = new Map<string, Buffer>();
  repoSecrets: Record<string, string> = {};
  envSecrets: Record<string, Record<string, string>> = {};
  /** Deployment policy: which head branches an environment accepts. */
  envPolicy: (run: EmulatedRun, environment: string) => boolean = (run) => run.head_branch.startsWith('swarm-pin-');
  readonly secretsCalls: (string | undefined)[] = [];
  readonly statuses: [number, RunStatus, RunConclusion | undefined][] = [];
  readonly artifacts: { runId: number; name: string; zip: Buffer; retentionDays?: number; id: number; digest: string }[] = [];
  readonly logs = new Map<number, string[]>();
  readonly token = `ghs_${randomBytes(12).toString('hex')}`;

  constructor() {
    this.caFile = path.join(freshDir('ca'), 'ca.pem');
    fs.writeFileSync(this.caFile, '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n');
  }

  addFile(repo: string, sha: string, filePath: string, content: string): void {
    this.files.set(`${repo}@${sha}:${filePath}`, Buffer.from(content));
  }
  readFile(repo: string, sha: string, filePath: string): Buffer | undefined {
    return this.files.get(`${repo}@${sha}:${filePath}`);
  }
  secretsFor(run: EmulatedRun, environment: string | undefined): Record<string, string> {
    this.secretsCalls.push(environment);
    const out = { ...this.repoSecrets };
    if (environment && this.envPolicy(run, environment)) Object.assign(out, this.envSecrets[environment] ?? {});
    return out;
  }
  jobToken(): string {
    return this.token;
  }
  setStatus(runId: number, status: RunStatus, conclusion?: RunConclusion): void {
    this.statuses.push([runId, status, conclusion]);
  }
  addArtifact(runId: number, name: string, zip: Buffer, retentionDays?: number): { id: number; digest: string } {
    const id = 1000 + this.artifacts.length;
    const digest = `sha256:${createHash('sha256').update(zip).digest('hex')}`;
    this.artifacts.push({ runId, name, zip, retentionDays, id, digest });
    return { id, digest };
  }
  appendLog(runId: number, line: string): void {
    const l = this.logs.get(runId) ?? [];
    l.push(line);
    this.logs.set(runId, l);
  }
  logText(runId: number): string {
    return (this.logs.get(runId) ?? []).join('\n');
  }
  /** Everything this host was ever told, as one string (for leak checks). */
  everything(): string {
    return [...this.logs.values()].flat().join('\n') + this.artifacts.map((a) => a.zip.toString('latin1')).join('');
  }
}

let nextRunId = 1;
function makeRun(overrides: Partial<EmulatedRun> = {}): EmulatedRun {
  const id = nextRunId++;
  return {
    id,
    repo: 'acme/agents',
    workflow_id: 7,
    path: WF_PATH,
    name: 'test',
    display_title: 'test',
    event: 'workflow_dispatch',
    head_branch: `swarm-pin-${SHA}`,
    head_sha: SHA,
    run_number: id,
    run_attempt: 1,
    status: 'queued',
    conclusion: null,
    created_at: new Date().toISOString(),
    updated_at: new Date().toISOString(),
    inputs: {},
    ...overrides,
  };
}

/** Runs `yaml` as the workflow of a fresh run and waits for it. */
async function runYaml(
  yaml: string,
  opts: { host?: FakeHost; run?: Partial<EmulatedRun>; runner?: Partial<LoopbackRunnerOptions> } = {},
) {
  const host = opts.host ?? new FakeHost();
  const run = makeRun(opts.run);
  host.addFile(run.repo, run.head_sha, run.path, yaml);
  const runner = createLoopbackRunner({ actions: {}, workDir: freshDir('work'), ...opts.runner });
  runner.start(run, host);
  await runner.idle();
  const record = runner.jobs.get(run.id)!;
  return { host, run, runner, record, log: host.logText(run.id) };
}

function workflow(steps: string, jobExtra = '', top = ''): string {
  return [
    'name: test',
    'on:',
    '  workflow_dispatch:',
    '    inputs:',
    '      x: { type: string, required: false, default: dflt }',
    top,
    'jobs:',
    '  j:',
    '    runs-on: ubuntu-24.04',
    jobExtra,
    '    steps:',
    steps,
  ]
    .filter((l) => l !== '')
    .join('\n');
}

function step(o: Record<string, string | Record<string, string>>): string {
  const lines: string[] = [];
  let first = true;
  for (const [k, v] of Object.entries(o)) {
    const lead = first ? '      - ' : '        ';
    first = false;
    if (typeof v === 'string') {
      if (v.includes('\n')) {
        lines.push(`${lead}${k}: |`);
        for (const l of v.split('\n')) lines.push(`          ${l}`);
      } else lines.push(`${lead}${k}: ${v}`);
    } else {
      lines.push(`${lead}${k}:`);
      for (const [kk, vv] of Object.entries(v)) lines.push(`          ${kk}: ${vv}`);
    }
  }
  return lines.join('\n');
}

/** Reads a zip's central directory and inflates each entry. */
function readZip(zip: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const method = zip.readUInt16LE(p + 10);
    const csize = zip.readUInt32LE(p + 20);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    const local = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const lNameLen = zip.readUInt16LE(local + 26);
    const lExtraLen = zip.readUInt16LE(local + 28);
    const data = zip.subarray(local + 30 + lNameLen + lExtraLen, local + 30 + lNameLen + lExtraLen + csize);
    out.set(name, method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Live (non-zombie) processes of a process group, from /proc (this machine's init does not reap orphans). */
function liveInGroup(pgid: number): number[] {
  const out: number[] = [];
  for (const n of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') out.push(Number(n));
  }
  return out;
}

function groupAlive(pgid: number): boolean {
  return liveInGroup(pgid).length > 0;
}

function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

// -------------------------------------------------------------------------------------------------

describe('lint: the shipped workflow and action', () => {
  it('parse with GitHub’s parser and pass our lint', async () => {
    expect(await lintWorkflow(SHIPPED_WORKFLOW, 'swarm-run.yml')).toEqual([]);
    expect(await lintAction(SHIPPED_ACTION, 'action.yml')).toEqual([]);
  });

  it('refuses ${{ }} inside run: (workflow and composite action), and the runner refuses such a run', async () => {
    const badWorkflow = SHIPPED_WORKFLOW.replace('[ "$SHA" = "$WORKFLOW_SHA" ]', '[ "${{ inputs.request_id }}" = "$WORKFLOW_SHA" ]');
    expect(badWorkflow).not.toBe(SHIPPED_WORKFLOW);
    const wf = await lintWorkflow(badWorkflow, 'swarm-run.yml');
    expect(wf).toHaveLength(1);
    expect(wf[0]).toMatch(/jobs\.run\.steps\[0\].*inside run: is refused/);

    const badAction = SHIPPED_ACTION.replace('--out "$SWARM_OUT"', '--out "${{ runner.temp }}/swarm-out"');
    expect(badAction).not.toBe(SHIPPED_ACTION);
    expect((await lintAction(badAction)).join('\n')).toMatch(/runs\.steps\[2\].*inside run: is refused/);

    // The runner refuses the whole run before any step runs.
    const probe = freshDir('probe');
    const { record, log, host, run } = await runYaml(badWorkflow.replace(/runs-on: ubuntu-24.04/, 'runs-on: ubuntu-24.04'), {
      run: { path: '.github/workflows/swarm-run.yml', inputs: { request_id: 'r1', envelope: 'e' } },
      runner: { env: { PROBE: probe } },
    });
    expect(record.conclusion).toBe('failure');
    expect(record.steps).toHaveLength(0);
    expect(log).toMatch(/inside run: is refused/);
    expect(host.statuses.at(-1)).toEqual([run.id, 'completed', 'failure']);

    // …and a run whose composite action (reached through options.actions) has one.
    const actionDir = freshDir('bad-action');
    fs.writeFileSync(path.join(actionDir, 'action.yml'), badAction);
    const r2 = await runYaml(workflow(step({ uses: `acme/bad@${OTHER_SHA}` })), { runner: { actions: { 'acme/bad': actionDir } } });
    expect(r2.record.conclusion).toBe('failure');
    expect(r2.record.steps).toHaveLength(0);
    expect(r2.log).toMatch(/uses acme\/bad@.*inside run: is refused/);
  });

  it('reports unpinned uses: and schema errors', async () => {
    const unpinned = workflow(step({ uses: 'actions/upload-artifact@v4', with: { name: 'x', path: 'y' } }));
    expect((await lintWorkflow(unpinned)).join('\n')).toMatch(/actions\/upload-artifact@v4 is not pinned/);
    // The bug GitHub's parser caught in a first draft: runner is not allowed in job-level env.
    const badContext = workflow(step({ run: 'true' }), '    env:\n      OUT: ${{ runner.temp }}/x');
    expect((await lintWorkflow(badContext)).join('\n')).toMatch(/Unrecognized named-value: 'runner'/);
  });

  it('fails a run whose workflow does not parse, with the parser’s message in the log', async () => {
    const { record, log } = await runYaml(workflow(step({ run: 'true' }), '    env:\n      OUT: ${{ runner.temp }}/x'));
    expect(record.conclusion).toBe('failure');
    expect(record.steps).toHaveLength(0);
    expect(log).toMatch(/Invalid workflow file: .*Unrecognized named-value: 'runner'/);
  });

  it('fails a run whose workflow file is missing', async () => {
    const host = new FakeHost();
    const run = makeRun();
    const runner = createLoopbackRunner({ actions: {}, workDir: freshDir('work') });
    runner.start(run, host);
    await runner.idle();
    expect(runner.jobs.get(run.id)!.conclusion).toBe('failure');
    expect(host.logText(run.id)).toMatch(/Unable to find the workflow file/);
  });
});

describe('the shipped workflow and action, end to end with a stub worker', () => {
  /** A directory shaped like swarm's checkout: the shipped action.yml and a stub bin/swarm.js. */
  function fixtureCheckout(): string {
    const dir = freshDir('checkout');
    fs.writeFileSync(path.join(dir, 'action.yml'), SHIPPED_ACTION);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.mkdirSync(path.join(dir, 'packages/cli/bin'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'packages/cli/bin/swarm.js'),
      [
        "const fs = require('node:fs'); const path = require('node:path'); const crypto = require('node:crypto');",
        "const out = process.argv[process.argv.indexOf('--out') + 1];",
        'fs.mkdirSync(out, { recursive: true });',
        "fs.writeFileSync(path.join(process.env.PROBE, 'runner-key'), process.env.SWARM_RUNNER_KEY ?? '');",
        "fs.writeFileSync(path.join(process.env.PROBE, 'token'), process.env.GITHUB_TOKEN ?? '');",
        "fs.writeFileSync(path.join(process.env.PROBE, 'ca'), process.env.NODE_EXTRA_CA_CERTS ?? '');",
        "const cert = JSON.stringify({ request: process.env.SWARM_REQUEST_ID, envelope: process.env.SWARM_ENVELOPE, sha: process.env.GITHUB_SHA });",
        "fs.writeFileSync(path.join(out, 'certificate.json'), cert);",
        "fs.mkdirSync(path.join(out, 'bundle'), { recursive: true });",
        "fs.writeFileSync(path.join(out, 'bundle', 'sealed.bin'), 'sealed');",
        "const digest = crypto.createHash('sha256').update(cert).digest('hex');",
        "fs.appendFileSync(process.env.GITHUB_OUTPUT, `certificate-sha256=${digest}\\n`);",
        "console.log('worker: key is', process.env.SWARM_RUNNER_KEY);",
      ].join('\n'),
    );
    return dir;
  }

  /** bwrap and sudo stand-ins, so the action's install step never reaches apt or the kernel. */
  function fakeBin(): string {
    const dir = freshDir('bin');
    fs.writeFileSync(path.join(dir, 'bwrap'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'sudo'), '#!/bin/sh\necho "fake sudo: $*"\nexit 0\n', { mode: 0o755 });
    return dir;
  }

  function shippedSetup(headBranch = `swarm-pin-${SHA}`) {
    const host = new FakeHost();
    const runnerKey = `swarm-runner-key-${randomBytes(16).toString('hex')}`;
    host.envSecrets.swarm = { SWARM_RUNNER_KEY: runnerKey };
    const probe = freshDir('probe');
    const checkout = fixtureCheckout();
    const run = makeRun({
      path: '.github/workflows/swarm-run.yml',
      head_branch: headBranch,
      inputs: { request_id: 'req-1', envelope: 'ENVELOPE-DATA' },
    });
    host.addFile(run.repo, run.head_sha, run.path, SHIPPED_WORKFLOW);
    const runner = createLoopbackRunner({
      actions: { './': checkout },
      workDir: freshDir('work'),
      env: { PATH: `${fakeBin()}:${process.env.PATH}`, PROBE: probe },
    });
    return { host, runnerKey, probe, checkout, run, runner };
  }

  it('runs check → checkout → ./ (composite) → upload, masking the runner key and the token', async () => {
    const { host, runnerKey, probe, run, runner } = shippedSetup();
    runner.start(run, host);
    await runner.idle();
    const record = runner.jobs.get(run.id)!;
    const log = host.logText(run.id);
    expect(record.errors).toEqual([]);
    expect(record.conclusion).toBe('success');
    expect(record.runName).toBe('swarm req-1');
    expect(host.statuses.map(([, s, c]) => [s, c])).toEqual([
      ['in_progress', undefined],
      ['completed', 'success'],
    ]);
    expect(record.jobs[0]!.environment).toBe('swarm');
    expect(record.jobs[0]!.permissions).toEqual({ contents: 'read', actions: 'read', 'id-token': 'write' });
    expect(record.jobs[0]!.timeoutMinutes).toBe(60);
    expect(host.secretsCalls).toEqual(['swarm']);

    const byPath = Object.fromEntries(record.steps.map((s) => [s.path, s]));
    expect(Object.keys(byPath)).toEqual([
      expect.stringMatching(/^__run_1$/),
      expect.stringMatching(/^__actions_checkout/),
      'worker',
      expect.stringMatching(/^worker\/__actions_setup_node/),
      expect.stringMatching(/^worker\/__run_2$/),
      'worker/run',
      expect.stringMatching(/^__actions_upload_artifact/),
    ]);
    expect(record.steps.every((s) => s.outcome === 'success')).toBe(true);
    expect(byPath['__run_1']!.env).toEqual({ REQUEST_ID: 'req-1', SHA, WORKFLOW_SHA: SHA });
    expect(byPath['worker']!.with).toEqual({ 'request-id': 'req-1', envelope: 'ENVELOPE-DATA', 'runner-key': '***' });

    // The key and the token did reach the worker…
    expect(fs.readFileSync(path.join(probe, 'runner-key'), 'utf8')).toBe(runnerKey);
    expect(fs.readFileSync(path.join(probe, 'token'), 'utf8')).toBe(host.token);
    expect(fs.readFileSync(path.join(probe, 'ca'), 'utf8')).toBe(host.caFile);
    // …and appear nowhere the host was told about; the step header shows them masked.
    expect(host.everything()).not.toContain(runnerKey);
    expect(host.everything()).not.toContain(host.token);
    expect(log).toContain('  SWARM_RUNNER_KEY: ***');
    expect(log).toContain('  GITHUB_TOKEN: ***');
    expect(log).toContain('  runner-key: ***');
    expect(log).toContain('worker: key is ***');
    expect(log).toContain('  SWARM_ENVELOPE: ENVELOPE-DATA');

    // The composite's output, and the artifact of swarm-out/.
    const cert = JSON.stringify({ request: 'req-1', envelope: 'ENVELOPE-DATA', sha: SHA });
    expect(byPath['worker']!.outputs).toEqual({ 'certificate-sha256': createHash('sha256').update(cert).digest('hex') });
    expect(host.artifacts).toHaveLength(1);
    const art = host.artifacts[0]!;
    expect(art.name).toBe('swarm-req-1');
    expect(art.retentionDays).toBe(7);
    const entries = readZip(art.zip);
    expect([...entries.keys()].sort()).toEqual(['bundle/sealed.bin', 'certificate.json']);
    expect(entries.get('certificate.json')!.toString()).toBe(cert);
    const upload = record.steps.at(-1)!;
    expect(upload.outputs['artifact-id']).toBe(String(art.id));
    expect(upload.outputs['artifact-digest']).toBe(createHash('sha256').update(art.zip).digest('hex'));
    expect(upload.outputs['artifact-url']).toBe(`${host.serverUrl}/acme/agents/actions/runs/${run.id}/artifacts/${art.id}`);
  });

  it('an invalid request id fails the check step; the worker is skipped and the always() upload finds nothing', async () => {
    const { host, run, runner } = shippedSetup();
    run.inputs = { request_id: 'Bad Id', envelope: 'x' };
    runner.start(run, host);
    await runner.idle();
    const record = runner.jobs.get(run.id)!;
    expect(record.conclusion).toBe('failure');
    expect(record.steps.map((s) => s.outcome)).toEqual(['failure', 'skipped', 'skipped', 'failure']);
    expect(record.steps[0]!.exitCode).toBe(2);
    const log = host.logText(run.id);
    expect(log).toContain('##[error]REQUEST_ID_INVALID');
    expect(log).toMatch(/##\[error\]No files were found with the provided path: .*swarm-out/);
    expect(host.artifacts).toHaveLength(0);
  });

  it('releases the environment secret only when the host’s policy does (a branch, not a pin tag)', async () => {
    const { host, probe, run, runner } = shippedSetup('main');
    runner.start(run, host);
    await runner.idle();
    expect(host.secretsCalls).toEqual(['swarm']);
    // The action requires runner-key; with nothing released the worker still runs, with an empty key.
    expect(fs.readFileSync(path.join(probe, 'runner-key'), 'utf8')).toBe('');
    expect(runner.jobs.get(run.id)!.steps.find((s) => s.path === '__run_1')!.env.SHA).toBe(SHA);
  });
});

describe('expressions and contexts', () => {
  it('evaluates inputs, secrets, github.* and runner.* in env and with', async () => {
    const host = new FakeHost();
    host.repoSecrets = { MY_SECRET: 'sup3r-s3cret-value' };
    const probe = freshDir('probe');
    const actionDir = freshDir('echo-action');
    fs.writeFileSync(
      path.join(actionDir, 'action.yml'),
      [
        'name: echo',
        'description: writes its input',
        'inputs:',
        '  value: { required: true }',
        'runs:',
        '  using: composite',
        '  steps:',
        '    - shell: bash',
        '      env: { VALUE: "${{ inputs.value }}" }',
        '      run: printf %s "$VALUE" > "$PROBE/with.txt"',
      ].join('\n'),
    );
    const yaml = workflow(
      [
        step({
          name: 'show ${{ inputs.x }}',
          env: {
            X: '${{ inputs.x }}',
            S: '${{ secrets.MY_SECRET }}',
            SHA_: '${{ github.sha }}',
            REF: '${{ github.ref }}',
            REPO: '${{ github.repository }}',
            RUN: '${{ github.run_id }}-${{ github.run_attempt }}',
            TMP: '${{ runner.temp }}',
            JOINED: "${{ format('{0}+{1}', inputs.x, github.event_name) }}",
          },
          run: 'env | grep -E "^(X|S|SHA_|REF|REPO|RUN|TMP|JOINED|GITHUB_[A-Z_]+|RUNNER_[A-Z]+|CI|NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|HOME)=" | sort > "$PROBE/env.txt"',
        }),
        step({ uses: `acme/echo@${OTHER_SHA}`, with: { value: '${{ inputs.x }}/${{ secrets.MY_SECRET }}' } }),
      ].join('\n'),
    );
    const { record, run } = await runYaml(yaml, {
      host,
      run: { inputs: { x: 'hello' } },
      runner: { env: { PROBE: probe }, actions: { 'acme/echo': actionDir } },
    });
    expect(record.conclusion).toBe('success');
    const env = Object.fromEntries(
      fs
        .readFileSync(path.join(probe, 'env.txt'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(env.X).toBe('hello');
    expect(env.S).toBe('sup3r-s3cret-value');
    expect(env.SHA_).toBe(SHA);
    expect(env.REF).toBe(`refs/tags/swarm-pin-${SHA}`);
    expect(env.REPO).toBe('acme/agents');
    expect(env.RUN).toBe(`${run.id}-1`);
    expect(env.JOINED).toBe('hello+workflow_dispatch');
    expect(env.TMP).toBe(env.RUNNER_TEMP);
    expect(env.GITHUB_SHA).toBe(SHA);
    expect(env.GITHUB_WORKFLOW_SHA).toBe(SHA);
    expect(env.GITHUB_REF).toBe(`refs/tags/swarm-pin-${SHA}`);
    expect(env.GITHUB_REF_NAME).toBe(`swarm-pin-${SHA}`);
    expect(env.GITHUB_REF_TYPE).toBe('tag');
    expect(env.GITHUB_EVENT_NAME).toBe('workflow_dispatch');
    expect(env.GITHUB_API_URL).toBe(host.apiUrl);
    expect(env.GITHUB_SERVER_URL).toBe(host.serverUrl);
    expect(env.GITHUB_RUN_ID).toBe(String(run.id));
    expect(env.GITHUB_ACTIONS).toBe('true');
    expect(env.CI).toBe('true');
    expect(env.RUNNER_OS).toBe('Linux');
    expect(env.NODE_EXTRA_CA_CERTS).toBe(host.caFile);
    expect(env.SSL_CERT_FILE).toBe(host.caFile);
    expect(env.GITHUB_WORKSPACE).toBeTruthy();
    expect(env.HOME).not.toBe(os.homedir());
    expect(env.GITHUB_TOKEN).toBeUndefined();
    expect(Object.keys(env).some((k) => k.startsWith('ACTIONS_'))).toBe(false);
    expect(fs.readFileSync(path.join(probe, 'with.txt'), 'utf8')).toBe('hello/sup3r-s3cret-value');

    const first = record.steps[0]!;
    expect(first.name).toBe('show hello');
    expect(first.env.S).toBe('***');
    expect(first.env.X).toBe('hello');
    expect(record.steps[1]!.with.value).toBe('hello/***');
  });

  it('uses the declared default of an input not dispatched, and treats a branch as refs/heads', async () => {
    const probe = freshDir('probe');
    const yaml = workflow(step({ env: { X: '${{ inputs.x }}', REF: '${{ github.ref }}' }, run: 'echo "$X $REF" > "$PROBE/out"' }));
    const { record } = await runYaml(yaml, { run: { head_branch: 'main' }, runner: { env: { PROBE: probe } } });
    expect(record.conclusion).toBe('success');
    expect(fs.readFileSync(path.join(probe, 'out'), 'utf8')).toBe('dflt refs/heads/main\n');
  });
});

describe('job if: and hashFiles()', () => {
  it('hashFiles() hashes workspace files like GitHub (sha256 over each file’s sha256)', async () => {
    const probe = freshDir('probe');
    const yaml = workflow(
      [
        step({ run: 'mkdir -p sub && printf one > sub/a.txt && printf two > b.txt' }),
        step({ env: { H: "${{ hashFiles('sub/*.txt', 'b.txt') }}", NONE: "${{ hashFiles('nothing/**') }}" }, run: 'printf "%s|%s" "$H" "$NONE" > "$PROBE/h"' }),
      ].join('\n'),
    );
    const { record } = await runYaml(yaml, { runner: { env: { PROBE: probe } } });
    expect(record.conclusion).toBe('success');
    const sha = (b: string | Buffer) => createHash('sha256').update(b).digest();
    const expected = createHash('sha256').update(sha('two')).update(sha('one')).digest('hex'); // b.txt < sub/a.txt
    expect(fs.readFileSync(path.join(probe, 'h'), 'utf8')).toBe(`${expected}|`);
  });

  it('a job whose if: is false is skipped', async () => {
    const yaml = workflow(step({ run: 'echo ran' }), "    if: ${{ inputs.x != 'dflt' }}");
    const { record, log } = await runYaml(yaml);
    expect(record.conclusion).toBe('skipped');
    expect(record.steps).toEqual([]);
    expect(log).toContain('Job j was skipped');
    const ran = await runYaml(yaml, { run: { inputs: { x: 'other' } } });
    expect(ran.record.conclusion).toBe('success');
  });
});

describe('masking', () => {
  it('masks secrets and ::add-mask::ed values in every log line; the raw values do reach the step', async () => {
    const host = new FakeHost();
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const multi = `first-line-${randomBytes(4).toString('hex')}\nsecond-line-${randomBytes(4).toString('hex')}`;
    host.repoSecrets = { TOKEN: secret, MULTI: multi };
    const probe = freshDir('probe');
    const yaml = workflow(
      [
        step({
          id: 'derive',
          env: { T: '${{ secrets.TOKEN }}', M: '${{ secrets.MULTI }}' },
          run: [
            'DERIVED="$(printf %s "$T" | rev)-derived"',
            'echo "before mask: $DERIVED"',
            'echo "::add-mask::$DERIVED"',
            'printf %s "$DERIVED" > "$PROBE/derived"',
            'printf %s "$T" > "$PROBE/secret"',
            'echo "secret=$T derived=$DERIVED"',
            'printf "%s\\n" "$M" | tail -n 1',
            'echo "plain text stays"',
            'echo "d=$DERIVED" >> "$GITHUB_OUTPUT"',
          ].join('\n'),
        }),
        step({ env: { D: '${{ steps.derive.outputs.d }}' }, run: 'echo "next step sees $D"' }),
      ].join('\n'),
    );
    const { record, log, run } = await runYaml(yaml, { host, runner: { env: { PROBE: probe } } });
    expect(record.conclusion).toBe('success');
    const derived = fs.readFileSync(path.join(probe, 'derived'), 'utf8');
    expect(fs.readFileSync(path.join(probe, 'secret'), 'utf8')).toBe(secret);
    expect(derived).toBe(`${secret.split('').reverse().join('')}-derived`);

    expect(log).toContain('secret=*** derived=***');
    expect(log).toContain('next step sees ***');
    expect(log).toContain('  T: ***');
    expect(log).toContain('plain text stays');
    expect(log.split('\n')).toContain('***'); // the second line of the multi-line secret
    // The command line itself is not printed (the script text in the step header is).
    expect(log.split('\n').filter((l) => l.startsWith('::add-mask::'))).toEqual([]);
    expect(log).not.toContain(`::add-mask::${derived}`);
    // Before the add-mask the derived value is not a secret yet (GitHub behaves the same).
    expect(log).toContain(`before mask: ${derived}`);
    const after = log.slice(log.indexOf(`before mask: ${derived}`) + `before mask: ${derived}`.length);
    expect(after).not.toContain(derived);
    for (const raw of [secret, ...multi.split('\n')]) expect(host.everything()).not.toContain(raw);
    expect(record.steps[0]!.outputs.d).toBe('***');
    expect(record.log.join('\n')).toBe(host.logText(run.id));
  });
});

describe('steps, outputs and status functions', () => {
  it('passes GITHUB_OUTPUT (k=v and heredoc) to steps.<id>.outputs and GITHUB_ENV/GITHUB_PATH to later steps', async () => {
    const probe = freshDir('probe');
    const bin = freshDir('pathbin');
    fs.writeFileSync(path.join(bin, 'hello-tool'), '#!/bin/sh\necho tool-ran\n', { mode: 0o755 });
    const yaml = workflow(
      [
        step({
          id: 'a',
          run: [
            'echo "y=hello" >> "$GITHUB_OUTPUT"',
            '{ echo "multi<<EOF_1"; echo "line 1"; echo "line=2"; echo "EOF_1"; } >> "$GITHUB_OUTPUT"',
            'echo "FOO=bar" >> "$GITHUB_ENV"',
            `echo "${bin}" >> "$GITHUB_PATH"`,
          ].join('\n'),
        }),
        step({
          env: { Y: '${{ steps.a.outputs.y }}', M: '${{ steps.a.outputs.multi }}', FOO_CTX: '${{ env.FOO }}' },
          run: 'printf "%s|%s|%s|%s|%s" "$Y" "$M" "$FOO" "$FOO_CTX" "$(hello-tool)" > "$PROBE/out"',
        }),
      ].join('\n'),
    );
    const { record } = await runYaml(yaml, { runner: { env: { PROBE: probe } } });
    expect(record.conclusion).toBe('success');
    expect(record.steps[0]!.outputs).toEqual({ y: 'hello', multi: 'line 1\nline=2' });
    expect(fs.readFileSync(path.join(probe, 'out'), 'utf8')).toBe('hello|line 1\nline=2|bar|bar|tool-ran');
  });

  it('parses file commands like the runner, and refuses a malformed one', () => {
    expect(parseFileCommand('a=1\n\nb<<X\nq\nr\nX\nc=x=y\n')).toEqual({ a: '1', b: 'q\nr', c: 'x=y' });
    expect(() => parseFileCommand('oops\n')).toThrow(/Invalid format/);
    expect(() => parseFileCommand('b<<X\nno end\n')).toThrow(/Matching delimiter not found/);
  });

  it('a failing step skips later default steps; always() and failure() steps run; conclusion failure', async () => {
    const yaml = workflow(
      [
        step({ run: 'echo one' }),
        step({ id: 'boom', run: 'echo failing; exit 3' }),
        step({ run: 'echo should-not-run' }),
        step({ if: 'always()', run: 'echo always-ran' }),
        step({ if: 'failure()', run: 'echo failure-ran' }),
        step({ if: 'success()', run: 'echo success-should-not-run' }),
        step({ if: "${{ steps.boom.outcome == 'failure' }}", run: 'echo outcome-implicit-success-wrap' }),
      ].join('\n'),
    );
    const { record, log, host, run } = await runYaml(yaml);
    expect(record.conclusion).toBe('failure');
    expect(record.steps.map((s) => s.outcome)).toEqual(['success', 'failure', 'skipped', 'success', 'success', 'skipped', 'skipped']);
    expect(record.steps[1]!.exitCode).toBe(3);
    expect(record.steps[6]!.condition).toBe("success() && (steps.boom.outcome == 'failure')");
    expect(log).toContain('##[error]Process completed with exit code 3.');
    expect(log).toContain('always-ran');
    expect(log).toContain('failure-ran');
    expect(log).not.toContain('should-not-run\n');
    expect(log.split('\n')).not.toContain('should-not-run');
    expect(host.statuses.at(-1)).toEqual([run.id, 'completed', 'failure']);
  });

  it('continue-on-error keeps the job going and its conclusion success', async () => {
    const yaml = workflow([step({ id: 'f', 'continue-on-error': 'true', run: 'exit 1' }), step({ run: 'echo after' })].join('\n'));
    const { record } = await runYaml(yaml);
    expect(record.steps.map((s) => [s.outcome, s.conclusion])).toEqual([
      ['failure', 'success'],
      ['success', 'success'],
    ]);
    expect(record.conclusion).toBe('success');
  });

  it('runs an unspecified shell as bash -e, and shell: bash with pipefail, as GitHub does', async () => {
    const yaml = workflow([step({ run: 'false | true\necho default-shell-ok' }), step({ shell: 'bash', run: 'false | true\necho not-reached' })].join('\n'));
    const { record, log } = await runYaml(yaml);
    expect(record.steps.map((s) => s.outcome)).toEqual(['success', 'failure']);
    expect(log).toContain('shell: /usr/bin/bash -e {0}');
    expect(log).toContain('shell: /usr/bin/bash --noprofile --norc -e -o pipefail {0}');
    expect(log).toContain('default-shell-ok');
    expect(log.split('\n')).not.toContain('not-reached');
  });

  it('prints ::error::, ::warning:: and groups as the runner does', async () => {
    const { log } = await runYaml(workflow(step({ run: 'echo "::group::G1"\necho "::error::bad%0Athing"\necho "::warning file=a.ts,line=1::careful"\necho "::endgroup::"' })));
    expect(log).toContain('##[group]G1\n##[error]bad\nthing\n##[warning]careful\n##[endgroup]');
  });
});

describe('cancel and timeouts', () => {
  it('cancel kills the step’s process group, then runs only the always() upload; conclusion cancelled', async () => {
    const host = new FakeHost();
    const probe = freshDir('probe');
    const yaml = workflow(
      [
        step({ run: 'mkdir -p "$RUNNER_TEMP/out" && echo partial > "$RUNNER_TEMP/out/log.txt"' }),
        step({ run: 'echo $$ > "$PROBE/pid"\nsleep 30 &\necho $! > "$PROBE/child"\nwait' }),
        step({ run: 'echo must-not-run' }),
        step({ uses: UPLOAD, if: 'always()', with: { name: 'partial', path: '${{ runner.temp }}/out/' } }),
        step({ if: 'cancelled()', run: 'echo cancelled-ran' }),
      ].join('\n'),
    );
    const run = makeRun();
    host.addFile(run.repo, run.head_sha, run.path, yaml);
    const runner = createLoopbackRunner({ actions: {}, workDir: freshDir('work'), env: { PROBE: probe } });
    runner.start(run, host);
    await waitFor(() => fs.existsSync(path.join(probe, 'child')) && fs.readFileSync(path.join(probe, 'child'), 'utf8').trim() !== '');
    const pid = Number(fs.readFileSync(path.join(probe, 'pid'), 'utf8'));
    const child = Number(fs.readFileSync(path.join(probe, 'child'), 'utf8'));
    expect(groupAlive(pid)).toBe(true);
    expect(liveInGroup(pid)).toContain(child);
    const t0 = Date.now();
    runner.cancel(run.id);
    await runner.idle();
    expect(Date.now() - t0).toBeLessThan(5000);
    const record = runner.jobs.get(run.id)!;
    expect(record.conclusion).toBe('cancelled');
    expect(host.statuses.at(-1)).toEqual([run.id, 'completed', 'cancelled']);
    expect(record.steps[1]!.pid).toBe(pid);
    expect(groupAlive(pid)).toBe(false);
    expect(processAlive(child)).toBe(false);
    expect(record.steps.map((s) => s.outcome)).toEqual(['success', 'cancelled', 'skipped', 'success', 'success']);
    expect(host.artifacts.map((a) => a.name)).toEqual(['partial']);
    expect(readZip(host.artifacts[0]!.zip).get('log.txt')!.toString()).toBe('partial\n');
    expect(host.logText(run.id)).toContain('cancelled-ran');
  });

  it('a step that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
    const host = new FakeHost();
    const probe = freshDir('probe');
    const yaml = workflow(step({ run: "trap '' TERM\necho $$ > \"$PROBE/pid\"\nsleep 30\necho survived" }));
    const run = makeRun();
    host.addFile(run.repo, run.head_sha, run.path, yaml);
    const runner = createLoopbackRunner({ actions: {}, workDir: freshDir('work'), env: { PROBE: probe }, killGraceMs: 300 });
    runner.start(run, host);
    await waitFor(() => fs.existsSync(path.join(probe, 'pid')) && fs.readFileSync(path.join(probe, 'pid'), 'utf8').trim() !== '');
    const pid = Number(fs.readFileSync(path.join(probe, 'pid'), 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    runner.cancel(run.id);
    await new Promise((r) => setTimeout(r, 100));
    expect(groupAlive(pid)).toBe(true); // SIGTERM is ignored…
    await runner.idle();
    expect(groupAlive(pid)).toBe(false); // …SIGKILL is not
    const record = runner.jobs.get(run.id)!;
    expect(record.conclusion).toBe('cancelled');
    expect(record.steps[0]!.signal).toBe('SIGKILL');
    expect(host.logText(run.id).split('\n')).not.toContain('survived');
  });

  it('job timeout-minutes → timed_out; the always() step still runs', async () => {
    const yaml = workflow(
      [step({ run: 'sleep 30' }), step({ if: 'always()', run: 'echo cleanup-ran' }), step({ run: 'echo not-run' })].join('\n'),
      '    timeout-minutes: 0.02',
    );
    const t0 = Date.now();
    const { record, log, host, run } = await runYaml(yaml);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(record.jobs[0]!.timeoutMinutes).toBe(0.02);
    expect(record.conclusion).toBe('timed_out');
    expect(host.statuses.at(-1)).toEqual([run.id, 'completed', 'timed_out']);
    expect(record.steps.map((s) => s.outcome)).toEqual(['cancelled', 'success', 'skipped']);
    expect(log).toMatch(/exceeded the maximum execution time of 0\.02 minutes/);
    expect(log).toContain('cleanup-ran');
  });

  it('a run cancelled before it starts runs no step and concludes cancelled', async () => {
    const host = new FakeHost();
    const run = makeRun();
    host.addFile(run.repo, run.head_sha, run.path, workflow(step({ if: 'always()', run: 'echo ran' })));
    const runner = createLoopbackRunner({ actions: {}, workDir: freshDir('work') });
    runner.start(run, host);
    runner.cancel(run.id);
    await runner.idle();
    const record = runner.jobs.get(run.id)!;
    expect(record.conclusion).toBe('cancelled');
    expect(record.steps).toEqual([]);
    expect(host.statuses.at(-1)).toEqual([run.id, 'completed', 'cancelled']);
  });

  it('step timeout-minutes fails that step only', async () => {
    const yaml = workflow([step({ 'timeout-minutes': '0.01', run: 'sleep 30' }), step({ if: 'always()', run: 'echo after' })].join('\n'));
    const { record, log } = await runYaml(yaml);
    expect(record.conclusion).toBe('failure');
    expect(record.steps[0]!.timedOut).toBe(true);
    expect(record.steps.map((s) => s.outcome)).toEqual(['failure', 'success']);
    expect(log).toMatch(/has timed out after 0\.01 minutes/);
  });

  it('stepTimeoutMs bounds steps that set no timeout', async () => {
    const { record } = await runYaml(workflow(step({ run: 'sleep 30' })), { runner: { stepTimeoutMs: 300 } });
    expect(record.conclusion).toBe('failure');
    expect(record.steps[0]!.timedOut).toBe(true);
  });
});

describe('uses:', () => {
  function greeter(): string {
    const dir = freshDir('greeter');
    fs.writeFileSync(path.join(dir, 'data.txt'), 'from the action dir');
    fs.writeFileSync(
      path.join(dir, 'action.yml'),
      [
        'name: greeter',
        'description: greets',
        'inputs:',
        '  who: { required: true, description: whom }',
        '  greeting: { required: false, default: hello }',
        '  sha: { required: false, default: "${{ github.sha }}" }',
        'outputs:',
        '  msg: { description: the message, value: "${{ steps.say.outputs.msg }}" }',
        'runs:',
        '  using: composite',
        '  steps:',
        '    - id: say',
        '      shell: bash',
        '      env: { GREETING: "${{ inputs.greeting }}", WHO: "${{ inputs.who }}", SHA_IN: "${{ inputs.sha }}", AP: "${{ github.action_path }}" }',
        '      run: |',
        '        echo "msg=$GREETING $WHO" >> "$GITHUB_OUTPUT"',
        '        cp "$GITHUB_ACTION_PATH/data.txt" "$PROBE/copied.txt"',
        '        printf "%s|%s|%s" "$SHA_IN" "$AP" "$OUTER" > "$PROBE/inner.txt"',
      ].join('\n'),
    );
    return dir;
  }

  it('runs a composite action from options.actions with inputs, defaults, outputs and GITHUB_ACTION_PATH', async () => {
    const probe = freshDir('probe');
    const dir = greeter();
    const yaml = workflow(
      [
        step({ id: 'greet', uses: `acme/greeter@${OTHER_SHA}`, env: { OUTER: 'outer-env' }, with: { who: 'world' } }),
        step({ env: { MSG: '${{ steps.greet.outputs.msg }}' }, run: 'printf %s "$MSG" > "$PROBE/msg.txt"' }),
      ].join('\n'),
    );
    const { record } = await runYaml(yaml, { runner: { env: { PROBE: probe }, actions: { 'acme/greeter': dir } } });
    expect(record.errors).toEqual([]);
    expect(record.conclusion).toBe('success');
    expect(fs.readFileSync(path.join(probe, 'msg.txt'), 'utf8')).toBe('hello world');
    expect(fs.readFileSync(path.join(probe, 'copied.txt'), 'utf8')).toBe('from the action dir');
    expect(fs.readFileSync(path.join(probe, 'inner.txt'), 'utf8')).toBe(`${SHA}|${dir}|outer-env`);
    expect(record.steps.map((s) => s.path)).toEqual(['greet', 'greet/say', expect.stringMatching(/^__run_2$/)]);
    expect(record.steps[0]!.outputs).toEqual({ msg: 'hello world' });
  });

  it('fails the step when a required input is missing', async () => {
    const yaml = workflow(step({ uses: `acme/greeter@${OTHER_SHA}`, with: { greeting: 'hi' } }));
    const { record, log } = await runYaml(yaml, { runner: { actions: { [`acme/greeter@${OTHER_SHA}`]: greeter() } } });
    expect(record.conclusion).toBe('failure');
    expect(log).toContain('input required and not supplied: who');
  });

  it('an unpinned uses: actions/upload-artifact@v4 fails the run loudly', async () => {
    const yaml = workflow([step({ uses: 'actions/upload-artifact@v4', with: { name: 'x', path: '.' } }), step({ run: 'echo after' })].join('\n'));
    const { record, log, host } = await runYaml(yaml);
    expect(record.conclusion).toBe('failure');
    expect(record.steps.map((s) => s.outcome)).toEqual(['failure', 'skipped']);
    expect(log).toMatch(/##\[error\]Refusing unpinned action 'actions\/upload-artifact@v4'/);
    expect(host.artifacts).toHaveLength(0);
  });

  it('an unknown pinned action fails loudly', async () => {
    const { record, log } = await runYaml(workflow(step({ uses: `someone/else@${OTHER_SHA}` })));
    expect(record.conclusion).toBe('failure');
    expect(log).toMatch(/Unknown action 'someone\/else@/);
  });

  it('the checkout shim copies the tracked and untracked (not ignored) files of the ./ mapping', async () => {
    const repo = freshDir('repo');
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'ignore' });
    git('init', '-q');
    fs.writeFileSync(path.join(repo, '.gitignore'), 'ignored.txt\n');
    fs.writeFileSync(path.join(repo, 'tracked.txt'), 't');
    git('add', '.gitignore', 'tracked.txt');
    fs.writeFileSync(path.join(repo, 'untracked.txt'), 'u');
    fs.writeFileSync(path.join(repo, 'ignored.txt'), 'i');
    const probe = freshDir('probe');
    const yaml = workflow(
      [
        step({ uses: 'actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683', with: { 'persist-credentials': 'false' } }),
        step({ run: 'ls -A | sort > "$PROBE/ls"\npwd > "$PROBE/pwd"' }),
      ].join('\n'),
    );
    const { record } = await runYaml(yaml, { runner: { env: { PROBE: probe }, actions: { './': repo } } });
    expect(record.conclusion).toBe('success');
    expect(fs.readFileSync(path.join(probe, 'ls'), 'utf8')).toBe('.gitignore\ntracked.txt\nuntracked.txt\n');
    expect(fs.readFileSync(path.join(probe, 'pwd'), 'utf8').trim()).toBe(record.dirs.workspace);
  });

  it('uses: ./ without a checkout or a mapping fails with GitHub’s hint', async () => {
    const { record, log } = await runYaml(workflow(step({ uses: './' })));
    expect(record.conclusion).toBe('failure');
    expect(log).toMatch(/Can't find 'action.yml'.*actions\/checkout/);
  });
});

describe('upload-artifact shim', () => {
  it('zips the directory’s files (no hidden files by default) and reports id, digest and url', async () => {
    const src = freshDir('art');
    fs.mkdirSync(path.join(src, 'sub'));
    fs.writeFileSync(path.join(src, 'a.txt'), 'A');
    fs.writeFileSync(path.join(src, 'sub', 'b.bin'), Buffer.from([0, 1, 2, 255]));
    fs.writeFileSync(path.join(src, '.hidden'), 'h');
    const yaml = workflow(
      [
        step({ id: 'up', uses: UPLOAD, with: { name: 'out', path: `${src}/`, 'retention-days': '3', 'if-no-files-found': 'error' } }),
        step({ id: 'one', uses: UPLOAD, with: { name: 'single', path: `${src}/a.txt` } }),
        step({ id: 'again', uses: UPLOAD, if: 'always()', with: { name: 'out', path: src } }),
        step({ id: 'over', uses: UPLOAD, if: 'always()', with: { name: 'out', path: src, overwrite: 'true', 'include-hidden-files': 'true' } }),
      ].join('\n'),
    );
    const { record, host } = await runYaml(yaml);
    expect(record.steps.map((s) => s.outcome)).toEqual(['success', 'success', 'failure', 'success']);
    const [first, single, over] = host.artifacts;
    expect(first!.name).toBe('out');
    expect(first!.retentionDays).toBe(3);
    const entries = readZip(first!.zip);
    expect([...entries.keys()].sort()).toEqual(['a.txt', 'sub/b.bin']);
    expect(entries.get('sub/b.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    const zipFile = path.join(freshDir('zip'), 'out.zip');
    fs.writeFileSync(zipFile, first!.zip);
    const listing = execFileSync('unzip', ['-Z1', zipFile]).toString().trim().split('\n').sort();
    expect(listing).toEqual(['a.txt', 'sub/b.bin']);
    expect([...readZip(single!.zip).keys()]).toEqual(['a.txt']);
    expect([...readZip(over!.zip).keys()].sort()).toEqual(['.hidden', 'a.txt', 'sub/b.bin']);
    const up = record.steps[0]!;
    expect(up.outputs['artifact-id']).toBe(String(first!.id));
    expect(up.outputs['artifact-digest']).toMatch(/^[0-9a-f]{64}$/);
    expect(up.outputs['artifact-digest']).toBe(createHash('sha256').update(first!.zip).digest('hex'));
    expect(record.log.join('\n')).toContain('an artifact with this name already exists');
  });

  it('if-no-files-found: error fails, warn warns, ignore says nothing', async () => {
    const missing = path.join(tmp, 'does-not-exist');
    const yaml = workflow(
      [
        step({ uses: UPLOAD, 'continue-on-error': 'true', with: { name: 'e', path: missing, 'if-no-files-found': 'error' } }),
        step({ uses: UPLOAD, with: { name: 'w', path: missing } }),
        step({ uses: UPLOAD, with: { name: 'i', path: missing, 'if-no-files-found': 'ignore' } }),
      ].join('\n'),
    );
    const { record, log, host } = await runYaml(yaml);
    expect(record.steps.map((s) => s.outcome)).toEqual(['failure', 'success', 'success']);
    expect(log).toMatch(/##\[error\]No files were found/);
    expect(log).toMatch(/##\[warning\]No files were found/);
    expect(host.artifacts).toHaveLength(0);
  });
});

describe('environments and secrets', () => {
  const yaml = (environment: string) =>
    workflow(
      step({ env: { K: '${{ secrets.ENV_KEY }}', R: '${{ secrets.REPO_KEY }}' }, run: 'printf "%s|%s" "$K" "$R" > "$PROBE/seen"' }),
      environment ? `    environment: ${environment}` : '',
    );

  it('releases environment secrets only through host.secretsFor, as its policy decides', async () => {
    const make = () => {
      const host = new FakeHost();
      host.repoSecrets = { REPO_KEY: 'repo-value' };
      host.envSecrets = { swarm: { ENV_KEY: 'env-value' } };
      return host;
    };
    const seen = async (environment: string, headBranch: string) => {
      const host = make();
      const probe = freshDir('probe');
      const { record } = await runYaml(yaml(environment), { host, run: { head_branch: headBranch }, runner: { env: { PROBE: probe } } });
      expect(record.conclusion).toBe('success');
      return { seen: fs.readFileSync(path.join(probe, 'seen'), 'utf8'), calls: host.secretsCalls, record };
    };
    const pinned = await seen('swarm', `swarm-pin-${SHA}`);
    expect(pinned.seen).toBe('env-value|repo-value');
    expect(pinned.calls).toEqual(['swarm']);
    expect(pinned.record.jobs[0]!.environment).toBe('swarm');

    const branch = await seen('swarm', 'main');
    expect(branch.seen).toBe('|repo-value');
    expect(branch.calls).toEqual(['swarm']);

    const none = await seen('', `swarm-pin-${SHA}`);
    expect(none.seen).toBe('|repo-value');
    expect(none.calls).toEqual([undefined]);
  });
});
