/**
 * `swarm worker run`: one step inside a GitHub Actions job (DESIGN §10). The envelope is checked
 * (operator signature, request id, repository, pin = GITHUB_SHA = GITHUB_WORKFLOW_SHA, time
 * window) before anything else; every capability it opens is masked in the job log; the
 * parent's bundle is fetched and checked; then the same engine as a local run executes the step
 * in swarm's sandbox from a throwaway store whose signing key is the runner key. The step sees
 * none of the job's tokens. The output directory becomes the run's one artifact: sealed bundle,
 * contract files, redacted step log, next tokens sealed to the operator, and a manifest; on a
 * failure, `error.json` with the stage that failed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT_CODES, SwarmError, assertValidDocument, canonicalBytes, isSwarmError, keysDir, sha256Hex, SIGNING_KEY_FILE } from '@swarm/core';
import {
  RunnerApi,
  checkRequestId,
  downloadArtifact,
  fetchBundleBlobs,
  oidcAudience,
  openEnvelope,
  parseRunnerKey,
  requestIdToken,
  runnerSealingSecret,
  runnerSigner,
  sealToken,
  sha256File,
  transportFailed,
  unpackArtifact,
  writeArtifactManifest,
  type OpenedEnvelope,
  type RemoteArtifact,
} from '@swarm/github';
import { GENERATOR, Store, adoptParent, launchRun, type LaunchResult } from '@swarm/state';

export interface WorkerOptions {
  out: string;
  env: NodeJS.ProcessEnv;
  /** A line for the job log (workflow commands included). */
  log: (line: string) => void;
}

type Stage = 'request' | 'envelope' | 'input' | 'restore' | 'run' | 'package';

export async function runWorker(options: WorkerOptions): Promise<number> {
  const { env, log } = options;
  const out = path.resolve(options.out);
  fs.mkdirSync(out, { recursive: true, mode: 0o700 });
  if (fs.readdirSync(out).length > 0) throw new SwarmError('INVALID_ARGUMENT', `the output directory ${out} is not empty`);
  let stage: Stage = 'request';
  const requestId = env.SWARM_REQUEST_ID ?? '';
  let runId = '';
  const secrets: string[] = [];
  const work = fs.mkdtempSync(path.join(env.RUNNER_TEMP || os.tmpdir(), 'swarm-worker-'));
  try {
    checkRequestId(requestId);
    const api = new RunnerApi(env.GITHUB_API_URL ?? 'https://api.github.com', env.GITHUB_TOKEN ?? '');
    await refuseDuplicate(api, env, requestId, log);
    stage = 'envelope';
    const key = parseRunnerKey(env.SWARM_RUNNER_KEY);
    mask(log, secrets, key.ed25519_sk, key.x25519_sk, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '');
    const repo = env.GITHUB_REPOSITORY ?? '';
    if (key.repo !== repo) throw new SwarmError('ENVELOPE_INVALID', `this runner key belongs to ${key.repo}, not to ${repo}`);
    const opened = openEnvelope(env.SWARM_ENVELOPE ?? '', {
      requestId,
      repo,
      sha: env.GITHUB_SHA ?? '',
      workflowSha: env.GITHUB_WORKFLOW_SHA ?? '',
      operators: key.operators,
      runnerSealingSecret: runnerSealingSecret(key),
      nowS: Math.floor(Date.now() / 1000),
    });
    const { payload, secret } = opened;
    runId = payload.run_id;
    mask(log, secrets, secret.state_key, secret.net_key, ...Object.values(secret.env));
    log(`swarm worker: request ${requestId}, run ${runId}, parent ${payload.parent.node_id}`);

    stage = 'input';
    const bundleFile = path.join(work, 'parent.bundle');
    await fetchInput(api, repo, opened, bundleFile, work);
    log(`swarm worker: parent bundle ${payload.input.size} bytes, ${payload.input.sha256}`);

    stage = 'restore';
    const home = path.join(work, 'home');
    const project = path.join(work, 'project');
    fs.mkdirSync(project, { recursive: true });
    installSigningKey(home, key);
    const store = Store.open(project, { home, env: {} });
    try {
      await adoptParent(store, {
        nodeId: payload.parent.node_id,
        stateId: payload.parent.state_id,
        ratchetStep: payload.parent.ratchet_step,
        bundleSha256: payload.parent.bundle_sha256,
        objectSha256: payload.input.sha256,
        manifestSha256: payload.parent.manifest_sha256,
        wrappedKey: payload.parent.wrapped_key,
        keys: { state: Buffer.from(secret.state_key, 'hex'), net: Buffer.from(secret.net_key, 'hex') },
        bundleFile,
        createdAt: new Date().toISOString(),
      });
    } finally {
      store.close();
    }

    stage = 'run';
    const { createEgressProvider } = await import('@swarm/proxy');
    // The step's environment: nothing of the job's (no GITHUB_TOKEN, no runner key, no ACTIONS_*).
    const stepEnv: NodeJS.ProcessEnv = { PATH: env.PATH ?? '/usr/bin:/bin', HOME: path.join(work, 'caller-home'), LANG: env.LANG ?? 'C.UTF-8' };
    if (env.SOURCE_DATE_EPOCH) stepEnv.SOURCE_DATE_EPOCH = env.SOURCE_DATE_EPOCH;
    const sandbox = (env.SWARM_WORKER_SANDBOX as 'auto' | 'require' | undefined) ?? 'require';
    const egress = createEgressProvider({ sandbox, env: stepEnv });
    const spec = secret.step;
    let result: LaunchResult;
    try {
      result = await launchRun({
        cwd: project,
        node: payload.parent.node_id,
        runId,
        operation: spec.operation,
        step: spec.step,
        stepFile: spec.script !== undefined ? writeScript(work, spec.script) : undefined,
        prompt: spec.prompt,
        agent: spec.agent,
        agentArgs: spec.agent_args,
        timeoutS: spec.timeout_s,
        allowColdStart: spec.allow_cold_start,
        allowHosts: spec.allow_hosts,
        routeMode: spec.route_mode,
        mountPath: spec.mount_path ?? undefined,
        noInheritEgress: true,
        grantEnv: secret.env,
        discardFailed: spec.discard_failed,
        egress,
        env: stepEnv,
        home,
        // The runner's own home (its tools' credentials, the runner's files) and the job's temp.
        // On a self-hosted runner its root (credentials, _diag) is two levels above RUNNER_TEMP (<root>/_work/_temp).
        hidden: [env.HOME, env.RUNNER_TEMP, env.RUNNER_TEMP ? path.dirname(path.dirname(env.RUNNER_TEMP)) : undefined].filter(
          (d): d is string => typeof d === 'string' && path.isAbsolute(d) && path.normalize(d) === d && d.split('/').length > 2,
        ),
        reveal: true,
        onProgress: (phase) => log(`swarm worker: ${phase}`),
        remote: {
          backend: 'github',
          workflowRef: payload.workflow_ref,
          runnerClass: `github-actions/${(env.RUNNER_OS ?? 'Linux').toLowerCase()}-${(env.RUNNER_ARCH ?? 'X64').toLowerCase()}`,
          runtime: {
            repository: repo,
            run_id: Number(env.GITHUB_RUN_ID),
            run_attempt: Number(env.GITHUB_RUN_ATTEMPT ?? '1'),
            workflow_sha: env.GITHUB_WORKFLOW_SHA ?? '',
            request_id: requestId,
            event: env.GITHUB_EVENT_NAME ?? 'workflow_dispatch',
            job: env.GITHUB_JOB ?? 'run',
          },
        },
      });
    } catch (error) {
      // A failed step still seals a node; it is collected and reported like a local one.
      const details = isSwarmError(error) ? (error.details as LaunchResult | undefined) : undefined;
      if (!isSwarmError(error) || error.category !== 'step' || !details?.node_id) throw error;
      result = details;
    }
    log(`swarm worker: step ${result.status} (exit ${String(result.exit_code)}), node ${String(result.node_id)}`);

    stage = 'package';
    const packaged = packageRun(project, result, payload.reply_to, out);
    for (const v of [result.revealed?.state_cap_next, result.revealed?.net_cap_next]) if (v) mask(log, secrets, v);
    // The certificate bound to this job: an OIDC token whose audience is its digest.
    if (env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
      const jwt = await withRetries(() => requestIdToken(env.ACTIONS_ID_TOKEN_REQUEST_URL!, env.ACTIONS_ID_TOKEN_REQUEST_TOKEN!, oidcAudience(packaged.certificateSha256)), 3);
      fs.writeFileSync(path.join(out, 'oidc.jwt'), jwt);
    } else {
      log('swarm worker: no OIDC token for this job (the workflow lacks `id-token: write`)');
    }
    writeArtifactManifest(out, requestId, runId);
    if (env.GITHUB_OUTPUT) fs.appendFileSync(env.GITHUB_OUTPUT, `certificate-sha256=${packaged.certificateSha256}\n`);
    log(`swarm worker: sealed ${result.bundle_sha256}; certificate ${packaged.certificateSha256}`);
    return 0;
  } catch (error) {
    const err = isSwarmError(error) ? error : new SwarmError('INTERNAL', error instanceof Error ? error.message : String(error));
    const message = redact(err.message, secrets);
    for (const name of fs.readdirSync(out)) fs.rmSync(path.join(out, name), { recursive: true, force: true });
    fs.writeFileSync(path.join(out, 'error.json'), canonicalBytes({ v: 1, request_id: requestId, run_id: runId, stage, code: err.code, message }));
    writeArtifactManifest(out, requestId, runId);
    log(`::error::${err.code} at ${stage}: ${message}`);
    return EXIT_CODES[err.category] ?? 1;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Defence in depth against a dispatch that ran twice (or a writer re-dispatching a public
 * envelope): a run of the same request with a lower id is the one that counts, so this one stops
 * before the step; so does a re-run. A listing that keeps failing stops it too (fail closed).
 */
async function refuseDuplicate(api: RunnerApi, env: NodeJS.ProcessEnv, requestId: string, log: (line: string) => void): Promise<void> {
  const runId = Number(env.GITHUB_RUN_ID);
  // A re-run would execute the step again with the operator's keys; swarm never asks for one.
  if (Number(env.GITHUB_RUN_ATTEMPT ?? '1') > 1) {
    throw new SwarmError('GH_RUN_AMBIGUOUS', `this is attempt ${env.GITHUB_RUN_ATTEMPT} of run ${runId}; a re-run does not run the step again`, { details: { run_attempt: Number(env.GITHUB_RUN_ATTEMPT) } });
  }
  const since = new Date(Date.now() - 48 * 3600_000).toISOString();
  // Runs of the same pin tag only (the envelope's pin is GITHUB_SHA): a short list.
  const response = await api.request('GET', `repos/${env.GITHUB_REPOSITORY ?? ''}/actions/runs`, {
    query: { event: 'workflow_dispatch', branch: env.GITHUB_REF_NAME ?? '', created: `>=${since}`, per_page: 100 },
    timeoutMs: 20_000,
    retry: true,
  });
  const runs = (JSON.parse(response.body.toString('utf8')) as { workflow_runs?: Array<{ id: number; display_title: string }> }).workflow_runs ?? [];
  const earlier = runs.filter((r) => r.display_title === `swarm ${requestId}` && r.id < runId).map((r) => r.id);
  if (earlier.length > 0) {
    throw new SwarmError('GH_RUN_AMBIGUOUS', `run ${Math.min(...earlier)} already carries request ${requestId}; this duplicate does not run the step`, { details: { earlier } });
  }
}

/**
 * `::add-mask::` for a secret, the encodings a log could show it in, and each of its lines (a log
 * line never holds more than one). The value is escaped as workflow command data, so the runner
 * registers exactly it (a `%` or a newline would otherwise change or cut it).
 */
function mask(log: (line: string) => void, secrets: string[], ...values: string[]): void {
  for (const value of values) {
    if (!value || value.length < 4) continue;
    const forms = new Set([value]);
    if (/^[0-9a-f]+$/.test(value) && value.length % 2 === 0) {
      const bytes = Buffer.from(value, 'hex');
      forms.add(bytes.toString('base64')).add(bytes.toString('base64url'));
    }
    for (const line of value.split(/\r?\n/)) if (line.trim().length >= 4) forms.add(line);
    for (const form of forms) {
      secrets.push(form);
      log(`::add-mask::${form.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}`);
    }
  }
}

function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join('***');
  return out;
}

async function fetchInput(api: RunnerApi, repo: string, opened: OpenedEnvelope, file: string, work: string): Promise<void> {
  const input = opened.payload.input;
  if (input.transport === 'gh-blobs') {
    await fetchBundleBlobs(api, repo, input, file, 60_000);
  } else {
    const artifact: RemoteArtifact = { id: input.artifact_id, name: '', size_in_bytes: 0, expired: false, digest: input.digest, created_at: null, expires_at: null };
    const zip = await downloadArtifact(api, repo, artifact, path.join(work, 'input'), 300_000);
    const files = unpackArtifact(zip, { requestId: input.request_id, runId: input.swarm_run_id });
    const bundle = files.get('bundle.swarm');
    if (!bundle) throw transportFailed(`artifact ${input.artifact_id} holds no bundle`);
    fs.writeFileSync(file, bundle, { mode: 0o600 });
  }
  const digest = await sha256File(file);
  // The envelope (signed by the operator) names the transported bytes; they are the parent node's
  // object, or its tar bundle exported from the operator's chunks (whose digest is its own).
  if (digest !== input.sha256) {
    throw transportFailed(`the parent bundle is ${digest}; the envelope says ${input.sha256} for node ${opened.payload.parent.node_id} (${opened.payload.parent.bundle_sha256})`);
  }
}

async function withRetries<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000 * i));
    }
  }
}

function writeScript(work: string, base64: string): string {
  const file = path.join(work, 'step.sh');
  fs.writeFileSync(file, Buffer.from(base64, 'base64'), { mode: 0o600 });
  return file;
}

/** The runner key's Ed25519 half as this throwaway installation's signing key: certificates are signed with it. */
function installSigningKey(home: string, key: ReturnType<typeof parseRunnerKey>): void {
  const dir = keysDir(home);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pem = runnerSigner(key).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  fs.writeFileSync(path.join(dir, SIGNING_KEY_FILE), pem, { mode: 0o600 });
}

function packageRun(project: string, result: LaunchResult, replyTo: string, out: string): { certificateSha256: string } {
  const runDirectory = path.join(project, '.swarm', 'runs', result.run_id);
  for (const name of ['certificate.json', 'certificate.dsse.json', 'result.json', 'policy.json', 'step.log']) {
    fs.copyFileSync(path.join(runDirectory, name), path.join(out, name));
  }
  const store = Store.open(project, { create: false, env: {} });
  try {
    fs.copyFileSync(store.objects.file(result.bundle_sha256!), path.join(out, 'bundle.swarm'));
  } finally {
    store.close();
  }
  if (!result.revealed) throw new SwarmError('INTERNAL', 'the run did not reveal its next tokens');
  const doc = {
    state_cap_next: sealToken(result.revealed.state_cap_next, replyTo),
    net_cap_next: sealToken(result.revealed.net_cap_next, replyTo),
    state_id_next: result.state_id,
    ratchet_step: JSON.parse(fs.readFileSync(path.join(runDirectory, 'certificate.json'), 'utf8')).result.new_state.ratchet_step,
    swarm: { generator: GENERATOR, sealed: true, sealed_to: replyTo },
  };
  assertValidDocument('next_tokens', doc, 'next_tokens.json');
  fs.writeFileSync(path.join(out, 'next_tokens.json'), canonicalBytes(doc));
  const certificateSha256 = sha256Hex(fs.readFileSync(path.join(out, 'certificate.json')));
  return { certificateSha256 };
}
