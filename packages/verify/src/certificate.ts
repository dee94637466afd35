/**
 * `verify cert`: the fixed pipeline of named checks over one certificate. Every check runs and is
 * reported; a check whose input is missing (the certificate did not parse) reports skipped with
 * the reason instead of failing twice.
 */
import path from 'node:path';
import { SwarmError, clockFromEnv, swarmHome } from '@swarm/core';
import { checkArtifactHash } from './checks/artifact-hash.js';
import { checkCommitPin } from './checks/commit-pin.js';
import { createContext, field, type CertificateCheckOptions, type CertificateInput, type CheckContext } from './checks/context.js';
import { checkCritical } from './checks/critical.js';
import { checkPolicy } from './checks/policy.js';
import { checkReplay } from './checks/replay.js';
import { checkRunStatus, runStatusOf } from './checks/run-status.js';
import { checkSchema } from './checks/schema.js';
import { checkSignature } from './checks/signature.js';
import { parseJsonBytes, readInputFile, readJsonInputFile } from './input-files.js';
import { failed, failedCodes, type CertificateReport, type CheckResult } from './report.js';
import { FileReplayStore, defaultReplayStorePath } from './replay-store.js';

export type CertificateCheck = (input: CertificateInput, ctx: CheckContext) => CheckResult;

/** The pipeline, in its fixed order. */
export const CERTIFICATE_CHECKS: ReadonlyArray<{ name: string; check: CertificateCheck }> = Object.freeze([
  { name: 'schema', check: checkSchema },
  { name: 'critical', check: checkCritical },
  { name: 'artifact_hash', check: checkArtifactHash },
  { name: 'commit_pin', check: checkCommitPin },
  { name: 'policy', check: checkPolicy },
  { name: 'replay', check: checkReplay },
  { name: 'signature', check: checkSignature },
  { name: 'run_status', check: checkRunStatus },
]);

export type VerifyCertificateOptions = CertificateCheckOptions & {
  /** How the certificate is named in the report (a path). */
  label?: string;
};

/** Runs every check over certificate bytes; returns the report (never throws for a failed check). */
export function verifyCertificate(input: CertificateInput, options: VerifyCertificateOptions = {}): CertificateReport {
  const ctx = createContext(input, options);
  const checks = CERTIFICATE_CHECKS.map(({ check }) => check(input, ctx));
  settleReplayClaim(checks, ctx);
  const jobId = field(ctx.document, 'job_id');
  const failures = failedCodes(checks);
  return {
    kind: 'certificate',
    verified: failures.length === 0,
    certificate: options.label ?? 'certificate',
    artifact_hash: ctx.artifactHash,
    job_id: typeof jobId === 'string' ? jobId : null,
    run: runStatusOf(ctx.document),
    checks,
    failed: failures,
    inputs: { policy: null, signature: null },
  };
}

/**
 * Claims the nonce only when everything else passed. The claim is the atomic step: if another
 * verifier claimed the same nonce in the meantime, this verification fails as a reuse.
 */
function settleReplayClaim(checks: CheckResult[], ctx: CheckContext): void {
  const index = checks.findIndex((c) => c.name === 'replay');
  const replay = checks[index];
  if (!replay || replay.status !== 'pass' || ctx.pendingClaim === null || ctx.replayStore === null) return;
  if (!ctx.consumeNonce) {
    checks[index] = { ...replay, reason: `${replay.reason}; not consumed (pass --consume-nonce to accept it only once)` };
    return;
  }
  if (checks.some((c) => c.status === 'fail')) {
    checks[index] = { ...replay, reason: `${replay.reason}; not recorded because verification failed` };
    return;
  }
  if (ctx.replayStore.claim(ctx.pendingClaim)) {
    checks[index] = { ...replay, reason: `${replay.reason}; recorded in ${ctx.replayStore.location}` };
  } else {
    checks[index] = failed('replay', 'VERIFY_REPLAY_NONCE_REUSED', `nonce was accepted by another verifier just now (${ctx.replayStore.location})`, {
      store: ctx.replayStore.location,
    });
  }
}

export interface VerifyCertificateFileOptions {
  /** Path of certificate.json. */
  certificate: string;
  expectedArtifactHash?: string;
  requiredCommit?: string;
  /** Policy file; default: the file named by policy.policy_ref beside the certificate, if present. */
  policyFile?: string;
  requirePolicy?: boolean;
  /** Accept a bound policy when no policy file is given or found. */
  skipPolicy?: boolean;
  /** Fail unless the certificate says the step succeeded. */
  requireSuccess?: boolean;
  /** DSSE envelope; default: `<name>.dsse.json` beside `<name>.json`, if present. */
  signatureFile?: string;
  requireSignature?: boolean;
  trustedKeys?: readonly string[];
  trustStore?: boolean;
  /** Seen-nonce store; default `$SWARM_HOME/verify/replay-nonces.jsonl`. */
  replayStoreFile?: string;
  /** Claim the nonce when verification passes, so the certificate is accepted once (default false). */
  consumeNonce?: boolean;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads the certificate and its companion files and runs the pipeline. Unreadable inputs and a
 * certificate that is not JSON at all are input errors (exit 2); everything else is a check.
 */
export function verifyCertificateFile(options: VerifyCertificateFileOptions): CertificateReport {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const home = swarmHome(env);
  const certificatePath = path.resolve(cwd, options.certificate);
  const { bytes: certificate, value: document } = readJsonInputFile(certificatePath, 'certificate');

  let policy: { path: string; discovered: boolean; bytes: Buffer } | null = null;
  if (options.policyFile !== undefined) {
    const file = path.resolve(cwd, options.policyFile);
    policy = { path: options.policyFile, discovered: false, bytes: readInputFile(file, 'policy file') };
  } else {
    const found = besideCertificate(certificatePath, policyFileName(document));
    if (found) policy = { path: path.join(path.dirname(options.certificate), found.name), discovered: true, bytes: found.bytes };
  }

  let signature: { path: string; discovered: boolean; bytes: Buffer } | null = null;
  if (options.signatureFile !== undefined) {
    const file = path.resolve(cwd, options.signatureFile);
    signature = { path: options.signatureFile, discovered: false, bytes: readJsonInputFile(file, 'signature').bytes };
  } else {
    const name = path.basename(certificatePath).replace(/\.json$/, '');
    const found = besideCertificate(certificatePath, `${name}.dsse.json`);
    if (found) {
      const shown = path.join(path.dirname(options.certificate), found.name);
      const parsed = parseJsonBytes(found.bytes);
      if (!parsed.ok) throw new SwarmError('JSON_PARSE', `signature ${shown} ${parsed.reason}`, { details: { path: shown, problem: parsed.problem } });
      signature = { path: shown, discovered: true, bytes: found.bytes };
    }
  }

  const storeFile = options.replayStoreFile !== undefined ? path.resolve(cwd, options.replayStoreFile) : defaultReplayStorePath(home);
  const report = verifyCertificate(
    { certificate, policy: policy?.bytes ?? null, signature: signature?.bytes ?? null },
    {
      label: options.certificate,
      expectedArtifactHash: options.expectedArtifactHash,
      requiredCommit: options.requiredCommit,
      requirePolicy: options.requirePolicy,
      skipPolicy: options.skipPolicy,
      requireSuccess: options.requireSuccess,
      requireSignature: options.requireSignature,
      trustedKeys: options.trustedKeys,
      trustStore: options.trustStore,
      home,
      clock: clockFromEnv(env),
      replayStore: new FileReplayStore(storeFile),
      consumeNonce: options.consumeNonce ?? false,
    },
  );
  report.inputs = {
    policy: policy && { path: policy.path, discovered: policy.discovered },
    signature: signature && { path: signature.path, discovered: signature.discovered },
  };
  return report;
}

/** The policy file name a certificate points to, reduced to a plain name in its own directory. */
function policyFileName(document: unknown): string | null {
  const ref = field(document as Record<string, unknown> | null, 'policy', 'policy_ref');
  if (typeof ref !== 'string') return null;
  const name = path.posix.basename(ref.replace(/\\/g, '/'));
  return name === '' || name === '.' || name === '..' ? null : name;
}

function besideCertificate(certificatePath: string, name: string | null): { name: string; bytes: Buffer } | null {
  if (name === null) return null;
  const file = path.join(path.dirname(certificatePath), name);
  if (path.resolve(file) === certificatePath) return null;
  try {
    return { name, bytes: readInputFile(file, 'companion file') };
  } catch (error) {
    if ((error as { code?: string }).code === 'FILE_NOT_FOUND') return null;
    throw error;
  }
}
