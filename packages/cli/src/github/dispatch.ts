/**
 * Dispatching a step to GitHub Actions from the operator's side: the ledger entry first, then
 * the parent's sealed bundle to the repository, one signed envelope, and the run correlated.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import {
  SwarmError,
  canonicalBytes,
  isValidName,
  isoTime,
  loadOrCreateSealingKey,
  sha256Digest,
  type Clock,
} from '@swarm/core';
import {
  advance,
  buildEnvelope,
  dispatchRun,
  ensurePinTag,
  getRun,
  jsonOf,
  parseWorkflowRef,
  uploadBundleBlobs,
  withError,
  PIN_TAG_PREFIX,
  type InputLocator,
  type LedgerEntry,
  type StepSpec,
} from '@swarm/github';
import { AGENTS, DEFAULT_MOUNT_PATH, Store, exportNodeBundle, inheritedEgress, isAgentName, newRunId, nodeObjectDigest, stepCommand, type LaunchOptions, type NodeRow } from '@swarm/state';
import path from 'node:path';
import { githubContext, readSetup, sleep, type GithubContext } from './context.js';
import { saveLedger } from './ledger-store.js';

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
    const runId = options.launch.runId ?? newRunId(options.clock);
    if (!isValidName(runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(runId)}`, { hint: 'letters, digits, . _ - (max 128)' });
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
    // The step as the runner's policy will attest it: the same function computes both.
    let commandSha256: string | null = null;
    if (options.launch.stepFile !== undefined || step.step !== undefined || step.agent === undefined) {
      const command = stepCommand({ cwd: options.launch.cwd, step: step.step, stepFile: options.launch.stepFile });
      commandSha256 = sha256Digest(canonicalBytes(command.attested));
      // A script travels sealed; the runner writes it to a file and runs that, as locally.
      if (command.script) step.script = command.script.toString('base64');
    }
    const grantEnv: Record<string, string> = { ...(options.launch.grantEnv ?? {}) };
    for (const name of options.launch.passEnv ?? []) {
      const value = options.env[name];
      if (value !== undefined) grantEnv[name] = value;
    }
    // The allowlist the runner will build: the asked hosts, and an agent's endpoint host (from the granted env).
    let expectedHosts = step.allow_hosts;
    if (step.agent !== undefined) {
      if (!isAgentName(step.agent)) throw new SwarmError('AGENT_UNKNOWN', `unknown agent ${JSON.stringify(step.agent)}`, { hint: 'claude, codex or gemini' });
      expectedHosts = [...new Set([...step.allow_hosts, AGENTS[step.agent].endpoint(grantEnv).allowHost])].sort();
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
      step: {
        command_sha256: commandSha256,
        agent: step.agent ?? null,
        prompt_sha256: step.prompt !== undefined ? sha256Digest(step.prompt) : null,
        allow_hosts: expectedHosts,
        route_mode: step.route_mode,
        mount_path: step.mount_path,
      },
      // Where it was sent and whether its certificate must come with the job's OIDC token: fixed now.
      host: options.env.GH_HOST ?? null,
      oidc: setup.oidc !== false,
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
      const input = await inputFor(ctx, store, parent, step.allow_cold_start, options.onProgress);
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
        // Every POST sent has its outcome recorded, and each was a refusal (an unrecorded one may have created a run).
        const refusals = entry.dispatch.posts.filter((p) => ['refused', 'rate-limited'].includes(p.outcome)).length;
        const noRun = entry.attempts === 0 || (refusals >= entry.attempts && entry.dispatch.posts.every((p) => ['refused', 'unsupported-field', 'rate-limited'].includes(p.outcome)));
        save(noRun && entry.status === 'pending' ? advance(withError(entry, now(), error), 'failed', now()) : withError(entry, now(), error));
      }
      throw error;
    }
  } finally {
    store.close();
  }
}

async function inputFor(ctx: GithubContext, store: Store, parent: NodeRow, allowColdStart: boolean, onProgress?: (line: string) => void): Promise<InputLocator> {
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
        sha256: nodeObjectDigest(parent),
        size: fs.statSync(store.objects.file(nodeObjectDigest(parent))).size,
      };
    }
  }
  // What a runner restores from is the node's sealed tar bundle: a chunked node's is made from its chunks.
  onProgress?.(`swarm: uploading the parent bundle of ${parent.node_id}`);
  const tmp = store.objects.tempDir('dispatch');
  try {
    let file = path.join(tmp, 'bundle.swarm');
    try {
      await exportNodeBundle(store, parent, store.keys.dataKey(parent, store.keys.chainKeys(parent).state), file);
    } catch (error) {
      // A parent this store cannot open: with a cold start allowed the runner gets the object as
      // it is (it will not open there either, and the runner starts cold and says so).
      if (!(allowColdStart && error instanceof SwarmError && error.category === 'restore')) throw error;
      file = store.objects.file(nodeObjectDigest(parent));
    }
    return await uploadBundleBlobs(ctx.api, ctx.repo, file, {
      timeoutMs: Math.max(ctx.timing.callTimeoutMs, 120_000),
      onProgress: (done, total) => onProgress?.(`swarm: uploading parent bundle ${Math.round((done / Math.max(total, 1)) * 100)}%`),
    });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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




/** `^[a-z0-9][a-z0-9-]{0,62}$`: the run id, lowercased, and a random suffix (a re-run is a new request). */
export function requestIdFor(runId: string): string {
  const base = runId.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 50);
  return `${base || 'run'}-${crypto.randomBytes(5).toString('hex').slice(0, 10)}`;
}
