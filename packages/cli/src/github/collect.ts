/**
 * Collecting a remote run: stage → verify → import. Nothing GitHub or gh says is taken on trust
 * (docs/github.md, "What travels"); any failure leaves the DAG as it was.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  SwarmError,
  decodeCapability,
  isoTime,
  loadOrCreateSealingKey,
  sha256Digest,
  sha256Hex,
  validateDocument,
  type Clock,
} from '@swarm/core';
import {
  advance,
  artifactName,
  downloadArtifact,
  fetchJwks,
  findArtifact,
  findRun,
  getRun,
  oidcAudience,
  oidcIssuer,
  openToken,
  remoteOf,
  unpackArtifact,
  verifyIdToken,
  withError,
  type ArtifactFile,
  type LedgerEntry,
  type RemoteRun,
} from '@swarm/github';
import { Store, importRemoteRun, type NodeRow } from '@swarm/state';
import { githubContext, readSetup } from './context.js';
import { ledgerEntry, saveLedger } from './ledger-store.js';

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
    entry = collectable(ledgerEntry(store, options.id));
    const setup = readSetup(options.env, entry.repo);
    if (entry.host !== undefined && (options.env.GH_HOST ?? null) !== entry.host) {
      throw new SwarmError('INVALID_ARGUMENT', `request ${entry.request_id} was dispatched to ${entry.host ?? 'github.com'}; collect it with GH_HOST=${entry.host ?? ''}`, { details: { host: entry.host } });
    }
    const ctx = githubContext({ repo: entry.repo, env: options.env, ghBin: options.ghBin });
    // The lowest run of a request is the one that counts (a later one refused to run its step).
    const lowest = await findRun({ ...ctx, workflowFile: entry.dispatch.workflow, tag: entry.dispatch.ref, requestId: entry.request_id }, entry.created_at);
    if (lowest && lowest.id < entry.remote_run_id!) {
      entry = { ...entry, remote_run_id: lowest.id };
      saveLedger(store, entry);
    }

    // 1. The run: completed, ours, at the pin.
    const run = await getRun(ctx.api, entry.repo, entry.remote_run_id!, ctx.timing.callTimeoutMs);
    if (run.status !== 'completed') throw new SwarmError('GH_RUN_NOT_COMPLETED', `run ${run.id} is ${run.status}`, { hint: 'watch it first', retryable: true });
    entry = advance(entry, 'completed', now(), { remote: remoteOf(run) });
    saveLedger(store, entry);
    checkRun(run, entry);

    // 2–4. The artifact: listed, downloaded by id, digest, strict unzip, manifest.
    options.onProgress?.(`swarm: downloading ${artifactName(entry.request_id)}`);
    const artifact = await findArtifact(ctx.api, entry.repo, run.id, entry.request_id, ctx.timing.callTimeoutMs);
    const zip = await downloadArtifact(ctx.api, entry.repo, artifact, staging, Math.max(ctx.timing.callTimeoutMs, 300_000));
    const files = unpackArtifact(zip, { requestId: entry.request_id, runId: entry.run_id });
    entry = { ...entry, artifact: { id: artifact.id, name: artifact.name, digest: artifact.digest, size: artifact.size_in_bytes } };
    refuseFailedRun(run, files);

    // 5. Every contract file is what its schema says.
    const art = contractFiles(files);
    const { certificate, result } = art.docs;

    // 6. Identity, then the certificate pipeline with the runner key as the only trusted key.
    checkIdentity(certificate, result, run, entry);
    const report = verifyCertificate(
      { certificate: art.need('certificate.json'), policy: art.need('policy.json'), signature: art.need('certificate.dsse.json') },
      {
        expectedArtifactHash: String(result.artifact_hash),
        requiredCommit: entry.dispatch.pin,
        requirePolicy: true,
        requireSignature: true,
        // This repository's runner keys: the current one, and those it replaced (runs in flight at a rotation).
        trustedKeys: [setup.runner.signing_key, ...(setup.previous_runners ?? []).map((r) => r.signing_key)],
        clock: options.clock,
        label: `certificate of ${entry.request_id}`,
      },
    );
    if (!report.verified) {
      throw new SwarmError('VERIFY_FAILED', `the certificate of ${entry.request_id} does not verify: ${report.failed.join(', ')}`, { details: { report } });
    }
    const parent = store.catalog.getNode(entry.parent_node_id);
    if (!parent) throw new SwarmError('NODE_NOT_FOUND', `the parent ${entry.parent_node_id} of ${entry.request_id} is no longer in this store`);
    const newState = checkStates(certificate, result, parent, art.need('bundle.swarm'), entry);
    // What the run was is what the runner signed, and what it was asked to be.
    const signed = outcomeOf(certificate);
    checkAgainstCertificate(certificate, result, art.need('step.log'), signed, newState.state_id, entry);
    checkAgainstDispatch(art.docs.policy, entry);

    // 7. Restore policy (from the certificate), and the next tokens the runner sealed to this operator.
    if (signed.restore_mode === 'cold_start' && !entry.allow_cold_start) {
      throw new SwarmError('RESTORE_POLICY_VIOLATION', `the runner started ${entry.request_id} cold (${String(signed.restore_reason ?? 'no reason given')}), which this run did not allow`, {
        details: { restore_mode: 'cold_start', reason: signed.restore_reason },
      });
    }
    const workerChainKeys = openNextTokens(art.docs.next_tokens, loadOrCreateSealingKey(store.home).privateKey);
    // The job vouches for the certificate too, when the setup asks for it.
    const evidence = entry.oidc === false ? [] : await checkOidc(files, art.need('certificate.json'), certificate, run, entry);

    // 8. Import: one transaction for node, run and ledger.
    const bundleFile = path.join(staging, 'bundle.swarm');
    fs.writeFileSync(bundleFile, art.need('bundle.swarm'), { mode: 0o600 });
    const collectedEntry = advance(entry, 'collected', now(), { node_id: `node-${entry.run_id}` });
    const runtime = certificate.runtime as { started_at: string; finished_at: string };
    const row = await importRemoteRun(store, {
      parent,
      runId: entry.run_id,
      operation: entry.operation,
      status: signed.status,
      exitCode: signed.exit_code,
      signal: signed.signal,
      restoreMode: signed.restore_mode,
      startedAt: String(runtime.started_at),
      finishedAt: String(runtime.finished_at),
      durationMs: typeof result.duration_ms === 'number' ? result.duration_ms : 0,
      bundleSha256: newState.bundle_sha256,
      manifestSha256: newState.bundle_manifest_sha256,
      artifactHash: String(result.artifact_hash),
      routeMode: art.docs.policy.route_mode === 'client_exit' ? 'client_exit' : 'direct',
      stepJson: JSON.stringify({ step: entry.step, backend: 'github', remote_run_id: run.id }),
      files: { certificate: art.need('certificate.json'), envelope: art.need('certificate.dsse.json'), result: art.need('result.json'), policy: art.need('policy.json'), stepLog: art.need('step.log'), extra: evidence },
      bundleFile,
      ledger: { request_id: collectedEntry.request_id, run_id: collectedEntry.run_id, backend: 'github', status: 'collected', entry_json: JSON.stringify(collectedEntry), updated_at: collectedEntry.updated_at },
      workerChainKeys,
    });
    return {
      request_id: entry.request_id,
      run_id: entry.run_id,
      node_id: row.node_id,
      status: signed.status,
      remote_run_id: run.id,
      artifact_id: artifact.id,
      certificate_checks: report.checks.length,
    };
  } catch (error) {
    if (entry && store.catalog.getLedger(entry.request_id)?.status !== 'collected') {
      // The run itself is not ours to import (it failed, or ran elsewhere than the pin): final.
      const final = error instanceof SwarmError && (error.code === 'GH_RUN_FAILED' || error.code === 'WORKFLOW_REF_MISMATCH');
      saveLedger(store, final ? advance(withError(entry, now(), error), 'failed', now()) : withError(entry, now(), error));
    }
    throw error;
  } finally {
    if (!options.keepStaging) fs.rmSync(staging, { recursive: true, force: true });
    store.close();
  }
}

/** Only a run that may still be imported, and whose remote run is known. */
function collectable(entry: LedgerEntry): LedgerEntry {
  if (entry.status === 'collected') throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is already collected as ${entry.node_id}`);
  if (entry.status === 'cancelled' || entry.status === 'failed') throw new SwarmError('RUN_LEDGER_STATE', `request ${entry.request_id} is ${entry.status}; nothing is imported from it`);
  if (entry.remote_run_id === null) throw new SwarmError('GH_RUN_NOT_FOUND', `request ${entry.request_id} has no known remote run yet`, { hint: 'run `swarm backend github watch` first' });
  return entry;
}

function checkRun(run: RemoteRun, entry: LedgerEntry): void {
  if (run.display_title !== `swarm ${entry.request_id}` || run.event !== 'workflow_dispatch') {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `run ${run.id} is "${run.display_title}" (${run.event}), not the run of ${entry.request_id}`);
  }
  const pin = entry.dispatch.pin;
  if (run.head_sha !== pin) throw new SwarmError('WORKFLOW_REF_MISMATCH', `run ${run.id} ran at ${run.head_sha}, not at the pin ${pin}`, { details: { head_sha: run.head_sha, pin } });
}

/** A run that did not succeed, or whose worker reported a failure, is not imported. */
function refuseFailedRun(run: RemoteRun, files: Map<ArtifactFile, Buffer>): void {
  // After a re-run (which refuses itself) the run's conclusion is the re-run's, not the first attempt's.
  const conclusionIsOurs = run.run_attempt <= 1;
  if ((run.conclusion === 'success' || !conclusionIsOurs) && !files.has('error.json')) return;
  const failure = files.get('error.json');
  type Reported = { stage?: string; code?: string; message?: string };
  let reported: Reported | null = null;
  try {
    reported = failure ? (JSON.parse(failure.toString('utf8')) as Reported) : null;
  } catch {
    reported = null;
  }
  throw new SwarmError('GH_RUN_FAILED', `run ${run.id} ended ${run.conclusion}${reported ? `: the worker failed at ${reported.stage} with ${reported.code}` : ''}`, {
    details: { conclusion: run.conclusion, stage: reported?.stage ?? null, worker_code: reported?.code ?? null, worker_message: reported?.message ?? null },
  });
}

type Doc = Record<string, unknown>;
type Needed = 'certificate.json' | 'certificate.dsse.json' | 'result.json' | 'policy.json' | 'next_tokens.json' | 'bundle.swarm' | 'step.log';

/** The contract files, each parsed and valid under its schema. */
function contractFiles(files: Map<ArtifactFile, Buffer>): { need: (name: Needed) => Buffer; docs: { certificate: Doc; result: Doc; policy: Doc; next_tokens: Doc } } {
  const need = (name: Needed) => {
    const data = files.get(name);
    if (!data) throw new SwarmError('ARTIFACT_MANIFEST_MISMATCH', `the artifact has no ${name}`);
    return data;
  };
  const parse = (schema: 'certificate' | 'result' | 'policy' | 'next_tokens'): Doc => {
    const name = `${schema}.json` as Needed;
    let doc: unknown;
    try {
      doc = JSON.parse(need(name).toString('utf8'));
    } catch {
      throw new SwarmError('VERIFY_FAILED', `${name} of the artifact is not JSON`);
    }
    const report = validateDocument(schema, doc);
    if (!report.valid) throw new SwarmError('VERIFY_FAILED', `${name} of the artifact is invalid: ${report.errors.map((e) => `${e.path} ${e.message}`).join('; ').slice(0, 300)}`);
    return doc as Doc;
  };
  return { need, docs: { certificate: parse('certificate'), result: parse('result'), policy: parse('policy'), next_tokens: parse('next_tokens') } };
}

/** The certificate names this request, run, attempt, repository, pin and parent. */
function checkIdentity(certificate: Doc, result: Doc, run: RemoteRun, entry: LedgerEntry): void {
  const gh = ((certificate.runtime as { github?: Doc } | undefined)?.github ?? {}) as Doc;
  const identity: Array<[string, unknown, unknown]> = [
    ['repository', gh.repository, entry.repo],
    ['run_id', gh.run_id, run.id],
    // swarm never re-runs a job: the first attempt is the run (a later one refuses to run its step).
    ['run_attempt', gh.run_attempt, 1],
    ['request_id', gh.request_id, entry.request_id],
    ['workflow_sha', gh.workflow_sha, entry.dispatch.pin],
    ['job_id', certificate.job_id, entry.run_id],
    ['result.run_id', result.run_id, entry.run_id],
    ['parent_node_id', (certificate.swarm as Doc | undefined)?.parent_node_id, entry.parent_node_id],
  ];
  const wrong = identity.filter(([, actual, expected]) => actual !== expected);
  if (wrong.length > 0) {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `the certificate is not of this run: ${wrong.map(([k, a, e]) => `${k} ${JSON.stringify(a)} ≠ ${JSON.stringify(e)}`).join(', ')}`, {
      details: { mismatched: wrong.map(([k]) => k) },
    });
  }
}

interface NewState {
  state_id: string;
  bundle_sha256: string;
  bundle_manifest_sha256: string;
  ratchet_step?: number;
}

/** The parent state is the parent's, the new state is the next step of this run, the bundle the one it names. */
function checkStates(certificate: Doc, result: Doc, parent: NodeRow, bundle: Buffer, entry: LedgerEntry): NewState {
  const newState = (certificate.result as { new_state: NewState }).new_state;
  const parentState = certificate.parent_state as { state_id: string; bundle_sha256: string; ratchet_step: number };
  if (parentState.state_id !== parent.state_id || parentState.bundle_sha256 !== parent.bundle_sha256 || parentState.ratchet_step !== parent.ratchet_step) {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `the certificate's parent state is not ${parent.node_id}'s`);
  }
  const bundleSha = sha256Digest(bundle);
  if (bundleSha !== newState.bundle_sha256 || bundleSha !== result.bundle_sha256) {
    throw new SwarmError('VERIFY_FAILED', `the artifact's bundle is ${bundleSha}, the certificate says ${newState.bundle_sha256}`);
  }
  if (newState.state_id !== `state-${entry.run_id}` || newState.ratchet_step !== parent.ratchet_step + 1 || (certificate.swarm as Doc | undefined)?.node_id !== `node-${entry.run_id}`) {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `the new state is ${newState.state_id} at step ${String(newState.ratchet_step)}, not state-${entry.run_id} at step ${parent.ratchet_step + 1}`);
  }
  return newState;
}

/** result.json (unsigned) must agree with the certificate, and the step log must be the one it hashes. */
function checkAgainstCertificate(certificate: Doc, result: Doc, stepLog: Buffer, signed: Outcome, stateId: string, entry: LedgerEntry): void {
  const stepLogSha = sha256Digest(stepLog);
  const disagree: string[] = [];
  if ((certificate.result as { response_sha256?: unknown }).response_sha256 !== stepLogSha) disagree.push('step.log');
  for (const [field, value] of [
    ['status', signed.status],
    ['restore_mode', signed.restore_mode],
    ['node_id', `node-${entry.run_id}`],
    ['parent_node_id', entry.parent_node_id],
    ['state_id', stateId],
    ['exit_code', signed.exit_code],
    ['signal', signed.signal],
  ] as const) {
    if (field in result && result[field] !== value) disagree.push(`result.${field}`);
  }
  if (disagree.length > 0) {
    throw new SwarmError('VERIFY_FAILED', `the artifact does not agree with its signed certificate: ${disagree.join(', ')}`, { details: { mismatched: disagree } });
  }
}

/** What ran is what was dispatched: the policy (bound by the certificate) against the ledger. */
function checkAgainstDispatch(policy: Doc, entry: LedgerEntry): void {
  const doc = policy as { backend?: unknown; workflow_ref?: unknown; egress?: { allowlist?: unknown; sandbox?: unknown }; step?: { command_sha256?: unknown; prompt_sha256?: unknown } };
  const asked = entry.step as { command_sha256: string | null; prompt_sha256: string | null; agent: string | null; allow_hosts: string[]; route_mode?: string; mount_path?: string | null };
  const off: string[] = [];
  if (doc.backend !== 'github') off.push('backend');
  if (doc.workflow_ref !== entry.workflow_ref) off.push('workflow_ref');
  // A real sandbox, named (a policy without egress says nothing of one).
  if (doc.egress?.sandbox !== 'bwrap' && doc.egress?.sandbox !== 'netns') off.push('sandbox');
  if ((doc.step?.prompt_sha256 ?? null) !== asked.prompt_sha256) off.push('prompt');
  if (asked.agent === null && doc.step?.command_sha256 !== asked.command_sha256) off.push('step');
  // Exactly the hosts the dispatch named (with an agent's endpoint, which the operator computed too).
  const allowlist = Array.isArray(doc.egress?.allowlist) ? [...(doc.egress!.allowlist as string[])].sort() : null;
  if (!allowlist || JSON.stringify(allowlist) !== JSON.stringify([...asked.allow_hosts].sort())) off.push('allowlist');
  const full = policy as { route_mode?: unknown; workspace?: { mount_path?: unknown } };
  if (asked.route_mode !== undefined && full.route_mode !== asked.route_mode) off.push('route_mode');
  if (asked.mount_path !== undefined && (full.workspace?.mount_path ?? null) !== asked.mount_path) off.push('mount_path');
  if (off.length > 0) {
    throw new SwarmError('VERIFY_FAILED', `the certificate attests another run than was dispatched: ${off.join(', ')}`, { details: { mismatched: off } });
  }
}

/** The OIDC token: the issuer's signature, this certificate as audience, this run and pin as claims. */
async function checkOidc(files: Map<ArtifactFile, Buffer>, certificateBytes: Buffer, certificate: Doc, run: RemoteRun, entry: LedgerEntry): Promise<Array<{ name: string; data: Buffer }>> {
  const token = files.get('oidc.jwt');
  if (!token) throw new SwarmError('OIDC_INVALID', "the artifact has no OIDC token, which this run's dispatch requires", { hint: 'the worker workflow needs `id-token: write`: run `swarm github setup` again' });
  const issuer = oidcIssuer(entry.host ?? undefined);
  const jwks = await fetchJwks(issuer);
  const finished = Date.parse(String((certificate.runtime as { finished_at?: unknown }).finished_at));
  const ended = Date.parse(run.updated_at);
  verifyIdToken(token.toString('utf8'), jwks, {
    issuer,
    audience: oidcAudience(sha256Hex(certificateBytes)),
    repository: entry.repo,
    workflowPath: `.github/workflows/${entry.dispatch.workflow}`,
    pin: entry.dispatch.pin,
    tag: entry.dispatch.ref,
    runId: run.id,
    runAttempt: 1,
    // Issued after the certificate and before the run ended: the token's own time, not collect's.
    issuedAfter: Number.isFinite(finished) ? Math.floor(finished / 1000) : 0,
    issuedBefore: Number.isFinite(ended) ? Math.ceil(ended / 1000) : Math.floor(Date.now() / 1000),
  });
  // Kept with the node: the keys rotate, and the token can be checked again offline against these.
  return [
    { name: 'oidc.jwt', data: token },
    { name: 'oidc-jwks.json', data: Buffer.from(JSON.stringify(jwks)) },
  ];
}

/** The next capabilities, opened with the operator's sealing key (import checks them against the ratchet). */
function openNextTokens(tokens: Doc, sealingSecret: Buffer): { state: Buffer; net: Buffer } {
  const opened = ['state_cap_next', 'net_cap_next'].map((k) => openToken(String(tokens[k]), sealingSecret));
  if (opened.some((t) => t === null)) throw new SwarmError('VERIFY_FAILED', 'the next tokens are not sealed to this operator');
  try {
    const state = decodeCapability(opened[0]!, 'state_cap');
    const net = decodeCapability(opened[1]!, 'net_cap');
    return { state: Buffer.from(state.chain_key, 'hex'), net: Buffer.from(net.chain_key, 'hex') };
  } catch (cause) {
    throw new SwarmError('VERIFY_FAILED', 'the next tokens sealed to this operator are not capabilities', { cause });
  }
}

interface Outcome {
  status: 'succeeded' | 'failed';
  exit_code: number | null;
  signal: string | null;
  restore_mode: 'checkpoint' | 'cold_start';
  restore_reason: string | null;
}

/** The run's outcome as the certificate (signed) states it; anything else in it is refused. */
function outcomeOf(certificate: Doc): Outcome {
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
