/**
 * Runs on GitHub Actions, from the operator's side: dispatch (ledger first, parent bundle to the
 * repository, one signed envelope, correlation), watch (with progress), collect (stage → verify
 * → import, the DAG untouched on any failure) and cancel. The middle packages meet here: the
 * store (state), the certificate pipeline (verify) and the gh client (github).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, canonicalBytes, decodeCapability, isoTime, loadOrCreateSealingKey, sha256Digest, validateDocument, type Clock } from '@swarm/core';
import {
  advance,
  artifactName,
  buildEnvelope,
  cancelRun,
  dispatchRun,
  downloadArtifact,
  ensurePinTag,
  findArtifact,
  findRun,
  getRun,
  jsonOf,
  openToken,
  parseWorkflowRef,
  remoteOf,
  unpackArtifact,
  uploadBundleBlobs,
  withError,
  PIN_TAG_PREFIX,
  type InputLocator,
  type LedgerEntry,
  type RemoteRun,
  type StepSpec,
} from '@swarm/github';
import { DEFAULT_MOUNT_PATH, Store, importRemoteRun, inheritedEgress, type LaunchOptions, type NodeRow } from '@swarm/state';
import { githubContext, readSetup, sleep, type GithubContext, type SetupRecord } from './context.js';

export interface RemoteLaunchOptions {
  launch: Omit<LaunchOptions, 'operation'>;
  operation: 'launch' | 'resume';
  repo: string;
  workflowRef?: string;
  ghBin?: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  onProgress?: (line: string) => void;
}

export interface Dispatched {
  request_id: string;
  run_id: string;
  remote_run_id: number;
  html_url: string;
  status: string;
  ledger: LedgerEntry;
}

/** What a run may not ask of a remote runner (yet): each is refused before anything is sent. */
function refuseUnsupported(o: Omit<LaunchOptions, 'operation'>): void {
  const refuse = (flag: string, why: string) => {
    throw new SwarmError('INVALID_ARGUMENT', `${flag} does not work with --backend github: ${why}`, { details: { flag } });
  };
  if (o.secrets && o.secrets.length > 0) refuse('--secret', 'the secret store is on this machine; grant the value with --env, which is sealed to the runner');
  if (o.interactive) refuse('--interactive', 'a runner has no terminal for you');
  if (o.workspace !== undefined) refuse('--workspace', 'seed the chain with a local launch first, then resume it remotely');
  if (o.unsandboxedEgress) refuse('--unsandboxed-egress', 'the worker always sandboxes the step');
  if (o.keepWorkspace) refuse('--keep-workspace', 'the workspace stays on the runner');
  if (o.reveal) refuse('--reveal', 'collect never reveals tokens');
}

export async function dispatchRemote(options: RemoteLaunchOptions): Promise<Dispatched> {
  refuseUnsupported(options.launch);
  const setup = readSetup(options.env, options.repo);
  const ref = parseWorkflowRef(options.workflowRef ?? setup.workflow_ref);
  if (ref.fullName !== options.repo) throw new SwarmError('WORKFLOW_REF_INVALID', `the workflow ref is of ${ref.fullName}, not of ${options.repo}`);
  const ctx = githubContext({ repo: options.repo, env: options.env, ghBin: options.ghBin });
  const store = Store.open(options.launch.cwd, { home: options.launch.home, env: options.env, clock: options.clock });
  try {
    const parent = await store.resolve(options.launch.node);
    const runId = options.launch.runId ?? newRunId();
    if (store.catalog.getRun(runId) || store.catalog.findLedgerByRun(runId)) throw new SwarmError('RUN_ID_EXISTS', `run ${runId} already exists`, { details: { run_id: runId } });
    const requestId = requestIdFor(runId);
    const keys = store.keys.chainKeys(parent);
    const inherited = options.launch.noInheritEgress ? { allowlist: [], route_mode: null, mount_path: null } : inheritedEgress(store, parent);
    const step: StepSpec = {
      operation: options.operation,
      step: options.launch.step,
      prompt: options.launch.prompt,
      agent: options.launch.agent,
      agent_args: options.launch.agentArgs,
      timeout_s: options.launch.timeoutS,
      allow_hosts: [...new Set([...inherited.allowlist, ...(options.launch.allowHosts ?? [])])].sort(),
      route_mode: options.launch.routeMode ?? inherited.route_mode ?? 'direct',
      mount_path: options.launch.mountPath ?? inherited.mount_path ?? DEFAULT_MOUNT_PATH,
      allow_cold_start: options.launch.allowColdStart ?? false,
      discard_failed: options.launch.discardFailed,
    };
    let commandSha256: string | null = null;
    if (options.launch.stepFile !== undefined) {
      // The script travels sealed; the runner writes it to a file and runs that, as locally.
      if (step.step !== undefined) throw new SwarmError('INVALID_ARGUMENT', 'give either --step or --step-file, not both');
      const script = readStepFile(options.launch.cwd, options.launch.stepFile);
      step.script = script.toString('base64');
      commandSha256 = sha256Digest(canonicalBytes({ shell: '/bin/sh', script_sha256: sha256Digest(script) }));
    } else if (step.step !== undefined) {
      commandSha256 = sha256Digest(canonicalBytes(['/bin/sh', '-c', step.step]));
    } else if (step.agent === undefined) {
      throw new SwarmError('STEP_MISSING', 'no step given', { hint: 'pass --step "<command>", --step-file <file> or --agent' });
    }
    const grantEnv: Record<string, string> = { ...(options.launch.grantEnv ?? {}) };
    for (const name of options.launch.passEnv ?? []) {
      const value = options.env[name];
      if (value !== undefined) grantEnv[name] = value;
    }
    const now = () => isoTime(options.clock);
    const tag = `${PIN_TAG_PREFIX}${ref.pin}`;
    let entry: LedgerEntry = {
      schema_version: 'swarm-ledger-v1',
      request_id: requestId,
      run_id: runId,
      backend: 'github',
      repo: options.repo,
      workflow_ref: ref.text,
      parent_node_id: parent.node_id,
      remote_run_id: null,
      status: 'pending',
      attempts: 0,
      created_at: now(),
      updated_at: now(),
      errors: [],
      dispatch: { ref: tag, pin: ref.pin, workflow: ref.file, correlation: null, posts: [] },
      input: { transport: 'gh-blobs', sha256: parent.bundle_sha256, size: 0 },
      allow_cold_start: step.allow_cold_start,
      operation: options.operation,
      // What collect holds the certificate's policy to (an agent's command line is the runner's to build).
      step: { command_sha256: commandSha256, agent: step.agent ?? null, prompt_sha256: step.prompt !== undefined ? sha256(step.prompt) : null, allow_hosts: step.allow_hosts },
    };
    const save = (e: LedgerEntry) => {
      entry = e;
      saveLedger(store, e);
    };
    // Nothing has gone out yet; the entry exists before anything does.
    save(entry);
    try {
      options.onProgress?.(`swarm: checking pin tag ${tag}`);
      await ensurePinTag(ctx.api, options.repo, tag, ref.pin, ctx.timing.callTimeoutMs);
      const input = await inputFor(ctx, store, parent, options.onProgress);
      save({ ...entry, input: { transport: input.transport, sha256: input.sha256, size: input.size }, updated_at: now() });
      const sealing = loadOrCreateSealingKey(store.home);
      const envelope = buildEnvelope(
        {
          request_id: requestId,
          run_id: runId,
          repo: options.repo,
          workflow_ref: ref.text,
          pin: ref.pin,
          parent: {
            node_id: parent.node_id,
            state_id: parent.state_id,
            ratchet_step: parent.ratchet_step,
            bundle_sha256: parent.bundle_sha256,
            manifest_sha256: parent.manifest_sha256,
            wrapped_key: parent.wrapped_key,
          },
          input,
          reply_to: sealing.publicKey,
          secret: { state_key: keys.state.toString('hex'), net_key: keys.net.toString('hex'), env: grantEnv, step },
          runnerSealingKey: setup.runner.sealing_key,
          nowS: Math.floor(Date.now() / 1000),
        },
        store.keys.signingKey,
      );
      options.onProgress?.(`swarm: dispatching ${requestId} to ${options.repo}`);
      const { run } = await dispatchRun(
        {
          api: ctx.api,
          repo: options.repo,
          workflowFile: ref.file,
          tag,
          pin: ref.pin,
          requestId,
          inputs: { request_id: requestId, envelope },
          timing: ctx.timing,
          save,
          now,
          sleep,
          onProgress: options.onProgress,
        },
        entry,
      );
      return { request_id: requestId, run_id: runId, remote_run_id: run.id, html_url: run.html_url, status: entry.status, ledger: entry };
    } catch (error) {
      // Failed only when no run can exist: nothing was sent, or every POST was refused outright.
      // Otherwise the entry stays as it is (watch and cancel can still find its run by name).
      if (entry.status !== 'failed') {
        const noRun = entry.attempts === 0 || entry.dispatch.posts.every((p) => ['refused', 'unsupported-field', 'rate-limited'].includes(p.outcome));
        save(noRun && entry.status === 'pending' ? advance(withError(entry, now(), error), 'failed', now()) : withError(entry, now(), error));
      }
      throw error;
    }
  } finally {
    store.close();
  }
}

async function inputFor(ctx: GithubContext, store: Store, parent: NodeRow, onProgress?: (line: string) => void): Promise<InputLocator> {
  // A parent collected from an earlier remote run is already an artifact of this repository.
  const fromRemote = parent.run_id ? store.catalog.findLedgerByRun(parent.run_id) : undefined;
  if (fromRemote?.status === 'collected') {
    const e = JSON.parse(fromRemote.entry_json) as LedgerEntry;
    if (e.repo === ctx.repo && e.artifact && e.artifact.digest && e.remote_run_id !== null && (await artifactAlive(ctx, e.artifact.id))) {
      return {
        transport: 'gh-artifact',
        run_id: e.remote_run_id,
        artifact_id: e.artifact.id,
        digest: e.artifact.digest,
        request_id: e.request_id,
        swarm_run_id: e.run_id,
        sha256: parent.bundle_sha256,
        size: fs.statSync(store.objects.file(parent.bundle_sha256)).size,
      };
    }
  }
  onProgress?.(`swarm: uploading the parent bundle of ${parent.node_id}`);
  return uploadBundleBlobs(ctx.api, ctx.repo, store.objects.file(parent.bundle_sha256), {
    timeoutMs: Math.max(ctx.timing.callTimeoutMs, 120_000),
    onProgress: (done, total) => onProgress?.(`swarm: uploading parent bundle ${Math.round((done / Math.max(total, 1)) * 100)}%`),
  });
}

/** Artifacts expire (the worker keeps them 7 days): an expired one is replaced by blobs from the local object. */
async function artifactAlive(ctx: GithubContext, id: number): Promise<boolean> {
  try {
    const artifact = jsonOf<{ expired?: boolean }>(await ctx.api.request('GET', `repos/${ctx.repo}/actions/artifacts/${id}`, { timeoutMs: ctx.timing.callTimeoutMs, retry: true }));
    return artifact.expired === false;
  } catch (error) {
    if (error instanceof SwarmError && (error.code === 'GH_NOT_FOUND' || error.code === 'GH_HTTP_ERROR')) return false;
    throw error;
  }
}

function saveLedger(store: Store, entry: LedgerEntry): void {
  const report = validateDocument('ledger', entry);
  if (!report.valid) throw new SwarmError('INTERNAL', `ledger entry invalid: ${JSON.stringify(report.errors).slice(0, 300)}`);
  store.catalog.putLedger({ request_id: entry.request_id, run_id: entry.run_id, backend: 'github', status: entry.status, entry_json: JSON.stringify(entry), updated_at: entry.updated_at });
}

/** The ledger entry of `--run-id` (a swarm run id or a request id). */
export function ledgerEntry(store: Store, id: string): LedgerEntry {
  const row = store.catalog.getLedger(id) ?? store.catalog.findLedgerByRun(id);
  if (!row) throw new SwarmError('RUN_LEDGER_MISSING', `no remote run ${id} in this store's ledger`, { details: { id } });
  return JSON.parse(row.entry_json) as LedgerEntry;
}

export interface WatchOptions {
  cwd: string;
  id: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  ghBin?: string;
  timeoutMs: number;
  onProgress?: (line: string) => void;
}

/** Polls the remote run until it completes or the deadline passes; the ledger follows it. */
export async function watchRemote(options: WatchOptions): Promise<{ entry: LedgerEntry; run: RemoteRun }> {
  const store = Store.open(options.cwd, { create: false, env: options.env, clock: options.clock });
  try {
    let entry = ledgerEntry(store, options.id);
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    const now = () => isoTime(options.clock);
    const deadline = Date.now() + options.timeoutMs;
    let wait = ctx.timing.pollMs;
    const started = Date.now();
    for (;;) {
      const run = entry.remote_run_id !== null ? await getRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs) : await findRun({ ...ctx, workflowFile: entry.dispatch.workflow, tag: entry.dispatch.ref, requestId: entry.request_id }, entry.created_at);
      if (run) {
        const status = run.status === 'completed' ? 'completed' : run.status === 'in_progress' ? 'running' : 'dispatched';
        if (entry.status !== 'completed' && !['collected', 'failed', 'cancelled'].includes(entry.status)) {
          entry = advance(entry, status === 'dispatched' && entry.status === 'running' ? 'running' : status, now(), { remote_run_id: run.id, remote: remoteOf(run) });
          saveLedger(store, entry);
        }
        options.onProgress?.(`swarm: ${entry.request_id} ${run.status}${run.conclusion ? ` (${run.conclusion})` : ''} · ${Math.round((Date.now() - started) / 1000)} s`);
        if (run.status === 'completed') return { entry, run };
      }
      if (Date.now() + wait > deadline) {
        throw new SwarmError('GH_WATCH_TIMEOUT', `run of ${entry.request_id} did not complete in time; the ledger says ${entry.status}`, {
          hint: `watch again with \`swarm backend github watch --run-id ${entry.run_id}\``,
          details: { request_id: entry.request_id, status: entry.status },
        });
      }
      await sleep(wait);
      wait = Math.min(wait * 2, ctx.timing.maxPollMs);
    }
  } finally {
    store.close();
  }
}

export interface CancelResult {
  request_id: string;
  remote_run_id: number | null;
  accepted: boolean;
  status: string;
  conclusion: string | null;
}

export async function cancelRemote(options: { cwd: string; id: string; env: NodeJS.ProcessEnv; clock: Clock; ghBin?: string }): Promise<CancelResult> {
  const store = Store.open(options.cwd, { create: false, env: options.env, clock: options.clock });
  try {
    let entry = ledgerEntry(store, options.id);
    const now = () => isoTime(options.clock);
    if (entry.status === 'collected' || entry.status === 'failed' || entry.status === 'cancelled') {
      throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is already ${entry.status}; there is nothing to cancel`, { details: { status: entry.status } });
    }
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    let accepted = false;
    let conclusion: string | null = null;
    if (entry.remote_run_id === null) {
      // The answer to the dispatch was lost: find the run by its name before declaring it cancelled.
      const found = await findRun({ ...ctx, workflowFile: entry.dispatch.workflow, tag: entry.dispatch.ref, requestId: entry.request_id }, entry.created_at);
      if (found) entry = { ...entry, remote_run_id: found.id };
    }
    if (entry.remote_run_id !== null) {
      accepted = await cancelRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs);
      const run = await getRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs);
      conclusion = run.conclusion;
      if (!accepted && run.status === 'completed') {
        // Too late: the run finished; the ledger shows its real outcome.
        entry = advance(entry, 'completed', now(), { remote: remoteOf(run) });
        saveLedger(store, entry);
        return { request_id: entry.request_id, remote_run_id: run.id, accepted, status: entry.status, conclusion };
      }
      entry = { ...entry, remote: remoteOf(run) };
    }
    if (entry.status !== 'cancelled' && entry.status !== 'failed') entry = advance(entry, 'cancelled', now());
    saveLedger(store, entry);
    return { request_id: entry.request_id, remote_run_id: entry.remote_run_id, accepted, status: entry.status, conclusion };
  } finally {
    store.close();
  }
}

export interface CollectOptions {
  cwd: string;
  id: string;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  ghBin?: string;
  keepStaging?: boolean;
  onProgress?: (line: string) => void;
}

export interface Collected {
  request_id: string;
  run_id: string;
  node_id: string;
  status: string;
  remote_run_id: number;
  artifact_id: number;
  certificate_checks: number;
}

/** Stage → verify → import. Any failure leaves the DAG as it was (and says why in the ledger). */
export async function collectRemote(options: CollectOptions): Promise<Collected> {
  const store = Store.open(options.cwd, { create: false, env: options.env, clock: options.clock });
  const staging = store.objects.tempDir('collect');
  let entry: LedgerEntry | undefined;
  const now = () => isoTime(options.clock);
  try {
    // The verify package registers VERIFY_FAILED (exit 3), which the checks below raise.
    const { verifyCertificate } = await import('@swarm/verify');
    entry = ledgerEntry(store, options.id);
    if (entry.status === 'collected') throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is already collected as ${entry.node_id}`);
    if (entry.status === 'cancelled' || entry.status === 'failed') throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is ${entry.status}; nothing is imported from it`);
    if (entry.remote_run_id === null) throw new SwarmError('GH_RUN_NOT_FOUND', `request ${entry.request_id} has no known remote run yet`, { hint: 'run `swarm backend github watch` first' });
    const setup = readSetup(options.env, entry.repo);
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    const pin = entry.dispatch.pin;

    // 1. The run: completed, ours, at the pin.
    const run = await getRun(ctx.api, entry.repo, entry.remote_run_id, ctx.timing.callTimeoutMs);
    if (run.status !== 'completed') throw new SwarmError('GH_RUN_NOT_COMPLETED', `run ${run.id} is ${run.status}`, { hint: 'watch it first', retryable: true });
    entry = advance(entry, 'completed', now(), { remote: remoteOf(run) });
    saveLedger(store, entry);
    if (run.display_title !== `swarm ${entry.request_id}` || run.event !== 'workflow_dispatch') {
      throw new SwarmError('RUN_IDENTITY_MISMATCH', `run ${run.id} is "${run.display_title}" (${run.event}), not the run of ${entry.request_id}`);
    }
    if (run.head_sha !== pin) throw new SwarmError('WORKFLOW_REF_MISMATCH', `run ${run.id} ran at ${run.head_sha}, not at the pin ${pin}`, { details: { head_sha: run.head_sha, pin } });

    // 2–4. The artifact: listed, downloaded by id, digest, strict unzip, manifest.
    options.onProgress?.(`swarm: downloading ${artifactName(entry.request_id)}`);
    const artifact = await findArtifact(ctx.api, entry.repo, run.id, entry.request_id, ctx.timing.callTimeoutMs);
    const zip = await downloadArtifact(ctx.api, entry.repo, artifact, staging, Math.max(ctx.timing.callTimeoutMs, 300_000));
    const files = unpackArtifact(zip, { requestId: entry.request_id, runId: entry.run_id });
    entry = { ...entry, artifact: { id: artifact.id, name: artifact.name, digest: artifact.digest, size: artifact.size_in_bytes } };
    if (run.conclusion !== 'success' || files.has('error.json')) {
      const failure = files.get('error.json');
      const reported = failure ? (JSON.parse(failure.toString('utf8')) as { stage?: string; code?: string; message?: string }) : null;
      throw new SwarmError('GH_RUN_FAILED', `run ${run.id} ended ${run.conclusion}${reported ? `: the worker failed at ${reported.stage} with ${reported.code}` : ''}`, {
        details: { conclusion: run.conclusion, stage: reported?.stage ?? null, worker_code: reported?.code ?? null, worker_message: reported?.message ?? null },
      });
    }

    // 5. Every contract file is what its schema says.
    const need = (name: 'certificate.json' | 'certificate.dsse.json' | 'result.json' | 'policy.json' | 'next_tokens.json' | 'bundle.swarm' | 'step.log') => {
      const data = files.get(name);
      if (!data) throw new SwarmError('ARTIFACT_MANIFEST_MISMATCH', `the artifact has no ${name}`);
      return data;
    };
    const docs: Record<string, Record<string, unknown>> = {};
    for (const [name, schema] of [['certificate.json', 'certificate'], ['result.json', 'result'], ['policy.json', 'policy'], ['next_tokens.json', 'next_tokens']] as const) {
      let doc: unknown;
      try {
        doc = JSON.parse(need(name).toString('utf8'));
      } catch {
        throw new SwarmError('VERIFY_FAILED', `${name} of the artifact is not JSON`);
      }
      const report = validateDocument(schema, doc);
      if (!report.valid) throw new SwarmError('VERIFY_FAILED', `${name} of the artifact is invalid: ${report.errors.map((e) => `${e.path} ${e.message}`).join('; ').slice(0, 300)}`);
      docs[name] = doc as Record<string, unknown>;
    }
    const certificate = docs['certificate.json']!;
    const result = docs['result.json']!;

    // 6. Identity, then the certificate pipeline with the runner key as the only trusted key.
    const runtime = certificate.runtime as { workflow_ref?: string; github?: Record<string, unknown> };
    const gh = runtime.github ?? {};
    const identity: Array<[string, unknown, unknown]> = [
      ['repository', gh.repository, entry.repo],
      ['run_id', gh.run_id, run.id],
      ['run_attempt', gh.run_attempt, run.run_attempt],
      ['request_id', gh.request_id, entry.request_id],
      ['workflow_sha', gh.workflow_sha, pin],
      ['job_id', certificate.job_id, entry.run_id],
      ['result.run_id', result.run_id, entry.run_id],
      ['parent_node_id', (certificate.swarm as { parent_node_id?: unknown } | undefined)?.parent_node_id, entry.parent_node_id],
    ];
    const wrong = identity.filter(([, actual, expected]) => actual !== expected);
    if (wrong.length > 0) {
      throw new SwarmError('RUN_IDENTITY_MISMATCH', `the certificate is not of this run: ${wrong.map(([k, a, e]) => `${k} ${JSON.stringify(a)} ≠ ${JSON.stringify(e)}`).join(', ')}`, {
        details: { mismatched: wrong.map(([k]) => k) },
      });
    }
    const report = verifyCertificate(
      { certificate: need('certificate.json'), policy: need('policy.json'), signature: need('certificate.dsse.json') },
      {
        expectedArtifactHash: String(result.artifact_hash),
        requiredCommit: pin,
        requirePolicy: true,
        requireSignature: true,
        trustedKeys: [setup.runner.signing_key],
        clock: options.clock,
        label: `certificate of ${entry.request_id}`,
      },
    );
    if (!report.verified) {
      throw new SwarmError('VERIFY_FAILED', `the certificate of ${entry.request_id} does not verify: ${report.failed.join(', ')}`, { details: { report } });
    }
    const parent = store.catalog.getNode(entry.parent_node_id);
    if (!parent) throw new SwarmError('NODE_NOT_FOUND', `the parent ${entry.parent_node_id} of ${entry.request_id} is no longer in this store`);
    const newState = (certificate.result as { new_state: { bundle_sha256: string; bundle_manifest_sha256: string; ratchet_step?: number; state_id: string } }).new_state;
    const parentState = certificate.parent_state as { state_id: string; bundle_sha256: string; ratchet_step: number };
    if (parentState.state_id !== parent.state_id || parentState.bundle_sha256 !== parent.bundle_sha256 || parentState.ratchet_step !== parent.ratchet_step) {
      throw new SwarmError('RUN_IDENTITY_MISMATCH', `the certificate's parent state is not ${parent.node_id}'s`);
    }
    const bundle = need('bundle.swarm');
    const bundleSha = `sha256:${crypto.createHash('sha256').update(bundle).digest('hex')}`;
    if (bundleSha !== newState.bundle_sha256 || bundleSha !== result.bundle_sha256) {
      throw new SwarmError('VERIFY_FAILED', `the artifact's bundle is ${bundleSha}, the certificate says ${newState.bundle_sha256}`);
    }
    if (newState.state_id !== `state-${entry.run_id}` || newState.ratchet_step !== parent.ratchet_step + 1 || (certificate.swarm as { node_id?: unknown } | undefined)?.node_id !== `node-${entry.run_id}`) {
      throw new SwarmError('RUN_IDENTITY_MISMATCH', `the new state is ${newState.state_id} at step ${String(newState.ratchet_step)}, not state-${entry.run_id} at step ${parent.ratchet_step + 1}`);
    }
    // What the run was is what the runner signed: result.json (unsigned) must agree with it, and
    // the step log must be the one the certificate hashes.
    const signed = outcomeOf(certificate);
    const stepLog = need('step.log');
    const stepLogSha = `sha256:${crypto.createHash('sha256').update(stepLog).digest('hex')}`;
    const disagree: string[] = [];
    if ((certificate.result as { response_sha256?: unknown }).response_sha256 !== stepLogSha) disagree.push('step.log');
    for (const [field, value] of [
      ['status', signed.status],
      ['restore_mode', signed.restore_mode],
      ['node_id', `node-${entry.run_id}`],
      ['parent_node_id', entry.parent_node_id],
      ['state_id', newState.state_id],
      ['exit_code', signed.exit_code],
      ['signal', signed.signal],
    ] as const) {
      if (field in result && result[field] !== value) disagree.push(`result.${field}`);
    }
    if (disagree.length > 0) {
      throw new SwarmError('VERIFY_FAILED', `the artifact does not agree with its signed certificate: ${disagree.join(', ')}`, { details: { mismatched: disagree } });
    }
    // What ran is what was dispatched: the policy (bound by the certificate) against the ledger.
    const policyDoc = docs['policy.json']! as { backend?: unknown; workflow_ref?: unknown; egress?: { allowlist?: unknown; sandbox?: unknown }; step?: { command_sha256?: unknown; prompt_sha256?: unknown } };
    const asked = entry.step as { command_sha256: string | null; prompt_sha256: string | null; agent: string | null; allow_hosts: string[] };
    const off: string[] = [];
    if (policyDoc.backend !== 'github') off.push('backend');
    if (policyDoc.workflow_ref !== entry.workflow_ref) off.push('workflow_ref');
    if (policyDoc.egress?.sandbox === 'unsandboxed' || policyDoc.egress?.sandbox === 'bwrap-open-network') off.push('sandbox');
    if ((policyDoc.step?.prompt_sha256 ?? null) !== asked.prompt_sha256) off.push('prompt');
    if (asked.agent === null && policyDoc.step?.command_sha256 !== asked.command_sha256) off.push('step');
    const allowlist = Array.isArray(policyDoc.egress?.allowlist) ? (policyDoc.egress!.allowlist as string[]) : [];
    // An agent's endpoint host joins the allowlist on the runner; anything else must have been asked for.
    const extra = allowlist.filter((h) => !asked.allow_hosts.includes(h));
    if (asked.agent === null ? extra.length > 0 : extra.length > 1) off.push('allowlist');
    if (off.length > 0) {
      throw new SwarmError('VERIFY_FAILED', `the certificate attests another run than was dispatched: ${off.join(', ')}`, { details: { mismatched: off } });
    }

    // 7. Restore policy (from the certificate), and the next tokens the runner sealed to this operator.
    if (signed.restore_mode === 'cold_start' && !entry.allow_cold_start) {
      throw new SwarmError('RESTORE_POLICY_VIOLATION', `the runner started ${entry.request_id} cold (${String(signed.restore_reason ?? 'no reason given')}), which this run did not allow`, {
        details: { restore_mode: 'cold_start', reason: signed.restore_reason },
      });
    }
    const sealing = loadOrCreateSealingKey(store.home);
    const tokens = docs['next_tokens.json']!;
    const opened = ['state_cap_next', 'net_cap_next'].map((k) => openToken(String(tokens[k]), sealing.privateKey));
    if (opened.some((t) => t === null)) throw new SwarmError('VERIFY_FAILED', 'the next tokens are not sealed to this operator');
    let stateCap, netCap;
    try {
      [stateCap, netCap] = [decodeCapability(opened[0]!, 'state_cap'), decodeCapability(opened[1]!, 'net_cap')];
    } catch (cause) {
      throw new SwarmError('VERIFY_FAILED', 'the next tokens sealed to this operator are not capabilities', { cause });
    }

    // 8. Import: one transaction for node, run and ledger.
    const bundleFile = path.join(staging, 'bundle.swarm');
    fs.writeFileSync(bundleFile, bundle, { mode: 0o600 });
    const collectedEntry = advance(entry, 'collected', now(), { node_id: `node-${entry.run_id}` });
    const status = signed.status;
    const row = await importRemoteRun(store, {
      parent,
      runId: entry.run_id,
      operation: entry.operation,
      status,
      exitCode: signed.exit_code,
      signal: signed.signal,
      restoreMode: signed.restore_mode,
      startedAt: String((certificate.runtime as { started_at: string }).started_at),
      finishedAt: String((certificate.runtime as { finished_at: string }).finished_at),
      durationMs: typeof result.duration_ms === 'number' ? result.duration_ms : 0,
      bundleSha256: newState.bundle_sha256,
      manifestSha256: newState.bundle_manifest_sha256,
      artifactHash: String(result.artifact_hash),
      routeMode: ((docs['policy.json']!.route_mode as string) === 'client_exit' ? 'client_exit' : 'direct'),
      stepJson: JSON.stringify({ step: entry.step, backend: 'github', remote_run_id: run.id }),
      files: { certificate: need('certificate.json'), envelope: need('certificate.dsse.json'), result: need('result.json'), policy: need('policy.json'), stepLog },
      bundleFile,
      ledger: { request_id: collectedEntry.request_id, run_id: collectedEntry.run_id, backend: 'github', status: 'collected', entry_json: JSON.stringify(collectedEntry), updated_at: collectedEntry.updated_at },
      workerChainKeys: { state: Buffer.from(stateCap.chain_key, 'hex'), net: Buffer.from(netCap.chain_key, 'hex') },
    });
    return {
      request_id: entry.request_id,
      run_id: entry.run_id,
      node_id: row.node_id,
      status,
      remote_run_id: run.id,
      artifact_id: artifact.id,
      certificate_checks: report.checks.length,
    };
  } catch (error) {
    if (entry && store.catalog.getLedger(entry.request_id)?.status !== 'collected') {
      const latest = entry;
      // The run itself is not ours to import (it failed, or ran elsewhere than the pin): final.
      const failedOut = error instanceof SwarmError && (error.code === 'GH_RUN_FAILED' || error.code === 'WORKFLOW_REF_MISMATCH');
      saveLedger(store, failedOut ? advance(withError(latest, now(), error), 'failed', now()) : withError(latest, now(), error));
    }
    throw error;
  } finally {
    if (!options.keepStaging) fs.rmSync(staging, { recursive: true, force: true });
    store.close();
  }
}

/** The run's outcome as the certificate (signed) states it; anything else in it is refused. */
function outcomeOf(certificate: Record<string, unknown>): {
  status: 'succeeded' | 'failed';
  exit_code: number | null;
  signal: string | null;
  restore_mode: 'checkpoint' | 'cold_start';
  restore_reason: string | null;
} {
  const s = (certificate.swarm ?? {}) as Record<string, unknown>;
  const bad = (field: string) => new SwarmError('VERIFY_FAILED', `the certificate states no valid ${field}`, { details: { field } });
  if (s.status !== 'succeeded' && s.status !== 'failed') throw bad('status');
  if (s.restore_mode !== 'checkpoint' && s.restore_mode !== 'cold_start') throw bad('restore_mode');
  if (!(s.exit_code === null || Number.isInteger(s.exit_code))) throw bad('exit_code');
  if (!(s.signal === null || typeof s.signal === 'string')) throw bad('signal');
  return {
    status: s.status,
    exit_code: s.exit_code as number | null,
    signal: s.signal as string | null,
    restore_mode: s.restore_mode,
    restore_reason: typeof s.restore_reason === 'string' ? s.restore_reason : null,
  };
}

function readStepFile(cwd: string, file: string): Buffer {
  try {
    const abs = path.resolve(cwd, file);
    if (!fs.statSync(abs).isFile()) throw new Error('not a regular file');
    return fs.readFileSync(abs);
  } catch (cause) {
    throw new SwarmError('FILE_NOT_FOUND', `step file ${file} is not a readable file`, { details: { path: file }, cause });
  }
}

function sha256(text: string): string {
  return `sha256:${crypto.createHash('sha256').update(text).digest('hex')}`;
}

function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return `r-${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

/** `^[a-z0-9][a-z0-9-]{0,62}$`: the run id, lowercased, and a random suffix (a re-run is a new request). */
export function requestIdFor(runId: string): string {
  const base = runId.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 50);
  return `${base || 'run'}-${crypto.randomBytes(5).toString('hex').slice(0, 10)}`;
}

export type { SetupRecord };
