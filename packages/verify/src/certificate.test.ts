import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, SwarmError, canonicalBytes, fixedClock, generateSigningKey, preAuthEncoding, sha256Digest, signDsse } from '@swarm/core';
import crypto from 'node:crypto';
import { CERTIFICATE_CHECKS, verifyCertificate, verifyCertificateFile, type VerifyCertificateOptions } from './certificate.js';
import type { CertificateInput } from './checks/context.js';
import { FileReplayStore } from './replay-store.js';
import { trustKey } from './trust-store.js';
import { codeOf, thrown } from '@swarm/test-utils';
import { FIXTURE_COMMIT, FIXTURE_EPOCH, engineRun, flipByte, newSigningKey, v1Certificate, type EngineRun } from './test-support/engine-run.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-verify-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Everything a strict CI gate would pass, for an untouched engine run. */
function strict(run: EngineRun, overrides: Partial<VerifyCertificateOptions> = {}): VerifyCertificateOptions {
  return {
    expectedArtifactHash: run.artifactHash,
    requiredCommit: FIXTURE_COMMIT,
    requirePolicy: true,
    requireSignature: true,
    trustedKeys: [run.key.publicKey],
    home: path.join(dir, 'home'),
    clock: fixedClock(FIXTURE_EPOCH * 1000),
    replayStore: new FileReplayStore(path.join(dir, 'nonces.jsonl')),
    ...overrides,
  };
}

function inputOf(run: EngineRun, overrides: Partial<CertificateInput> = {}): CertificateInput {
  return { certificate: run.certificate, policy: run.policy, signature: run.signature, ...overrides };
}

function check(report: ReturnType<typeof verifyCertificate>, name: string) {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name}`);
  return found;
}

function statuses(report: ReturnType<typeof verifyCertificate>): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.name, c.code ?? c.status]));
}

describe('verifyCertificate on an untouched engine certificate', () => {
  it('passes every check, in the documented order', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run), strict(run));
    expect(report.checks.map((c) => c.name)).toEqual(CERTIFICATE_CHECKS.map((c) => c.name));
    expect(report.checks.map((c) => c.name)).toEqual(['schema', 'critical', 'artifact_hash', 'commit_pin', 'policy', 'replay', 'signature', 'run_status']);
    expect(statuses(report)).toEqual({
      schema: 'pass',
      critical: 'pass',
      artifact_hash: 'pass',
      commit_pin: 'pass',
      policy: 'pass',
      replay: 'pass',
      signature: 'pass',
      run_status: 'pass',
    });
    expect(report.run).toEqual({ status: 'succeeded', exit_code: 0 });
    expect(report.verified).toBe(true);
    expect(report.failed).toEqual([]);
    expect(report.artifact_hash).toBe(sha256Digest(run.certificate));
    expect(report.job_id).toBe('r-0001');
    expect(check(report, 'signature').details).toMatchObject({ key_id: run.key.keyId, source: 'argument' });
  });

  it('skips the checks that have nothing to compare against', () => {
    const run = engineRun();
    const report = verifyCertificate({ certificate: run.certificate }, { clock: fixedClock(FIXTURE_EPOCH * 1000), skipPolicy: true });
    expect(statuses(report)).toEqual({
      schema: 'pass',
      critical: 'pass',
      artifact_hash: 'skipped',
      commit_pin: 'skipped',
      policy: 'skipped',
      replay: 'pass',
      signature: 'skipped',
      run_status: 'pass',
    });
    expect(report.verified).toBe(true);
  });
});

describe('each check fails on the tampering it guards against', () => {
  it('artifact_hash: one byte flipped in the certificate', () => {
    const run = engineRun();
    const tampered = flipByte(run.certificate);
    expect(tampered.equals(run.certificate)).toBe(false);
    const report = verifyCertificate(inputOf(run, { certificate: tampered }), strict(run));
    expect(check(report, 'artifact_hash').code).toBe('VERIFY_CERT_HASH_MISMATCH');
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_PAYLOAD_MISMATCH');
    expect(check(report, 'schema').status).toBe('pass');
    expect(report.verified).toBe(false);
    expect(report.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH']);
  });

  it('artifact_hash: accepts the expected hash as bare or uppercase hex', () => {
    const run = engineRun();
    const bare = run.artifactHash.slice(7).toUpperCase();
    expect(check(verifyCertificate(inputOf(run), strict(run, { expectedArtifactHash: bare })), 'artifact_hash').status).toBe('pass');
  });

  it('commit_pin: a different commit', () => {
    const run = engineRun();
    const other = 'f'.repeat(40);
    const report = verifyCertificate(inputOf(run), strict(run, { requiredCommit: other }));
    expect(check(report, 'commit_pin').code).toBe('VERIFY_COMMIT_MISMATCH');
    expect(report.failed).toEqual(['VERIFY_COMMIT_MISMATCH']);
  });

  it('commit_pin: the required commit is compared lowercase', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run), strict(run, { requiredCommit: FIXTURE_COMMIT.toUpperCase() }));
    expect(check(report, 'commit_pin').status).toBe('pass');
  });

  it.each([
    ['an uppercase pin', FIXTURE_COMMIT.toUpperCase()],
    ['a short pin', FIXTURE_COMMIT.slice(0, 12)],
    ['the word unpinned', 'unpinned'],
    ['a branch name', 'main'],
    ['a 41-digit pin', `${FIXTURE_COMMIT}0`],
  ])('commit_pin: %s is WORKFLOW_REF_UNPINNED', (_label, pin) => {
    const run = engineRun({ pin });
    const report = verifyCertificate(inputOf(run), strict(run));
    expect(check(report, 'commit_pin').code).toBe('WORKFLOW_REF_UNPINNED');
    expect(report.failed).toEqual(['WORKFLOW_REF_UNPINNED']);
  });

  it('commit_pin: only the text after the LAST @ is the pin', () => {
    const atEnd = engineRun({ edit: (c) => (c.runtime.workflow_ref = `acme/a@main/.github/workflows/w.yml@${FIXTURE_COMMIT}`) });
    expect(check(verifyCertificate(inputOf(atEnd), strict(atEnd)), 'commit_pin').status).toBe('pass');
    const atStart = engineRun({ edit: (c) => (c.runtime.workflow_ref = `acme/a/.github/workflows/w.yml@${FIXTURE_COMMIT}@main`) });
    expect(check(verifyCertificate(inputOf(atStart), strict(atStart)), 'commit_pin').code).toBe('WORKFLOW_REF_UNPINNED');
    const noAt = engineRun({ edit: (c) => (c.runtime.workflow_ref = 'local') });
    expect(check(verifyCertificate(inputOf(noAt), strict(noAt)), 'commit_pin').code).toBe('WORKFLOW_REF_UNPINNED');
  });

  it('policy: the policy file changed', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run, { policy: flipByte(run.policy, run.policy.indexOf('600') + 1) }), strict(run));
    expect(check(report, 'policy').code).toBe('VERIFY_POLICY_MISMATCH');
    expect(report.failed).toEqual(['VERIFY_POLICY_MISMATCH']);
  });

  it('policy: a missing policy block under --require-policy', () => {
    const run = engineRun({ edit: (c) => delete c.policy });
    const report = verifyCertificate(inputOf(run, { policy: null }), strict(run));
    expect(check(report, 'policy').code).toBe('VERIFY_POLICY_MISSING');
    const lenient = verifyCertificate(inputOf(run, { policy: null }), strict(run, { requirePolicy: false }));
    expect(check(lenient, 'policy').status).toBe('skipped');
    expect(lenient.verified).toBe(true);
  });

  it('policy: a missing policy file under --require-policy', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run, { policy: null }), strict(run));
    expect(check(report, 'policy').code).toBe('VERIFY_POLICY_MISSING');
    // Without --require-policy too: a bound policy that nobody can check fails closed.
    const unrequired = verifyCertificate(inputOf(run, { policy: null }), strict(run, { requirePolicy: false }));
    expect(check(unrequired, 'policy').code).toBe('VERIFY_POLICY_MISSING');
    expect(unrequired.failed).toEqual(['VERIFY_POLICY_MISSING']);
    const skippedOnPurpose = verifyCertificate(inputOf(run, { policy: null }), strict(run, { requirePolicy: false, skipPolicy: true }));
    expect(check(skippedOnPurpose, 'policy').status).toBe('skipped');
    expect(skippedOnPurpose.verified).toBe(true);
  });

  it('policy: --skip-policy still checks a policy file that is there, and contradicts --require-policy', () => {
    const run = engineRun();
    const changed = Buffer.concat([run.policy, Buffer.from(' ')]);
    const report = verifyCertificate(inputOf(run, { policy: changed }), strict(run, { requirePolicy: false, skipPolicy: true }));
    expect(check(report, 'policy').code).toBe('VERIFY_POLICY_MISMATCH');
    expect(codeOf(() => verifyCertificate(inputOf(run), strict(run, { skipPolicy: true })))).toBe('INVALID_ARGUMENT');
  });

  it('policy: a policy file for a certificate that binds none', () => {
    const run = engineRun({ edit: (c) => delete c.policy });
    const report = verifyCertificate(inputOf(run), strict(run, { requirePolicy: false }));
    expect(check(report, 'policy').code).toBe('VERIFY_POLICY_MISSING');
  });

  it('replay: an expired window', () => {
    const run = engineRun({ replayTtl: 60 });
    const atExpiry = verifyCertificate(inputOf(run), strict(run, { clock: fixedClock((FIXTURE_EPOCH + 60) * 1000) }));
    expect(check(atExpiry, 'replay').code).toBe('VERIFY_REPLAY_EXPIRED');
    expect(atExpiry.failed).toEqual(['VERIFY_REPLAY_EXPIRED']);
    const justBefore = verifyCertificate(inputOf(run), strict(run, { clock: fixedClock((FIXTURE_EPOCH + 60) * 1000 - 1) }));
    expect(check(justBefore, 'replay').status).toBe('pass');
  });

  it('replay: a reused nonce', () => {
    const run = engineRun();
    const store = new FileReplayStore(path.join(dir, 'nonces.jsonl'));
    expect(verifyCertificate(inputOf(run), strict(run, { replayStore: store, consumeNonce: true })).verified).toBe(true);
    const again = verifyCertificate(inputOf(run), strict(run, { replayStore: store, consumeNonce: true }));
    expect(check(again, 'replay').code).toBe('VERIFY_REPLAY_NONCE_REUSED');
    expect(again.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
    // Another certificate carrying the same nonce is a replay too.
    const copy = engineRun({ runId: 'r-0002', nonce: run.document.replay.nonce, key: run.key });
    expect(check(verifyCertificate(inputOf(copy), strict(copy, { replayStore: store })), 'replay').code).toBe('VERIFY_REPLAY_NONCE_REUSED');
    // Looking a consumed nonce up without --consume-nonce fails just the same.
    expect(check(verifyCertificate(inputOf(run), strict(run, { replayStore: store })), 'replay').code).toBe('VERIFY_REPLAY_NONCE_REUSED');
  });

  it('replay: by default the nonce is looked up but not consumed; consumeNonce records it', () => {
    const run = engineRun();
    const store = new FileReplayStore(path.join(dir, 'nonces.jsonl'));
    expect(verifyCertificate(inputOf(run), strict(run, { replayStore: store })).verified).toBe(true);
    expect(verifyCertificate(inputOf(run), strict(run, { replayStore: store })).verified).toBe(true);
    expect(store.has(run.document.replay.nonce)).toBe(false);
    expect(verifyCertificate(inputOf(run), strict(run, { replayStore: store, consumeNonce: true })).verified).toBe(true);
    expect(store.has(run.document.replay.nonce)).toBe(true);
  });

  it('replay: a certificate that fails another check does not burn its nonce', () => {
    const run = engineRun();
    const store = new FileReplayStore(path.join(dir, 'nonces.jsonl'));
    const forged = verifyCertificate(inputOf(run), strict(run, { replayStore: store, trustedKeys: [newSigningKey().publicKey] }));
    expect(forged.failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED']);
    expect(check(forged, 'replay').status).toBe('pass');
    expect(store.has(run.document.replay.nonce)).toBe(false);
    expect(verifyCertificate(inputOf(run), strict(run, { replayStore: store, consumeNonce: true })).verified).toBe(true);
    expect(store.has(run.document.replay.nonce)).toBe(true);
  });

  it('replay: a blank nonce or a non-positive expiry is invalid', () => {
    const blank = engineRun({ nonce: '  ' });
    expect(check(verifyCertificate(inputOf(blank), strict(blank)), 'replay').code).toBe('VERIFY_REPLAY_INVALID');
    const zero = engineRun({ edit: (c) => (c.replay.expires_at_unix = 0) });
    expect(check(verifyCertificate(inputOf(zero), strict(zero)), 'replay').code).toBe('VERIFY_REPLAY_INVALID');
  });

  it('replay: no replay block is skipped', () => {
    const run = engineRun({ edit: (c) => delete c.replay });
    const report = verifyCertificate(inputOf(run), strict(run));
    expect(check(report, 'replay').status).toBe('skipped');
    expect(report.verified).toBe(true);
  });

  it('signature: signed by an untrusted key', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run), strict(run, { trustedKeys: [newSigningKey().publicKey] }));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_UNTRUSTED');
    expect(report.failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED']);
  });

  it('signature: the envelope moved to a different payload type', () => {
    const run = engineRun();
    const envelope = JSON.parse(run.signature.toString());
    envelope.payloadType = 'application/vnd.in-toto+json';
    const report = verifyCertificate(inputOf(run, { signature: Buffer.from(JSON.stringify(envelope)) }), strict(run));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_WRONG_TYPE');
  });

  it('signature: a signature made for another payload type does not verify as a certificate signature', () => {
    const run = engineRun();
    // The trusted key signed the same bytes as another type; the pre-authentication encoding
    // binds the type, so relabelling the envelope as a certificate must not verify.
    const sig = crypto.sign(null, preAuthEncoding('application/octet-stream', run.certificate), run.key.privateKey);
    const envelope = { payloadType: CERTIFICATE_PAYLOAD_TYPE, payload: run.certificate.toString('base64'), signatures: [{ keyid: run.key.keyId, sig: sig.toString('base64') }] };
    const report = verifyCertificate(inputOf(run, { signature: Buffer.from(JSON.stringify(envelope)) }), strict(run));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_INVALID');
  });

  it('signature: a valid envelope over other bytes', () => {
    const run = engineRun();
    const other = engineRun({ key: run.key, runId: 'r-0009' });
    const report = verifyCertificate(inputOf(run, { signature: other.signature }), strict(run));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_PAYLOAD_MISMATCH');
  });

  it('signature: certificate and payload tampered together', () => {
    const run = engineRun();
    const tampered = flipByte(run.certificate);
    const envelope = JSON.parse(run.signature.toString());
    envelope.payload = tampered.toString('base64');
    const report = verifyCertificate(inputOf(run, { certificate: tampered, signature: Buffer.from(JSON.stringify(envelope)) }), strict(run, { expectedArtifactHash: undefined }));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_INVALID');
    expect(report.failed).toEqual(['VERIFY_SIGNATURE_INVALID']);
  });

  it('signature: a malformed envelope', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run, { signature: Buffer.from('{"payloadType":"x"}') }), strict(run));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_INVALID');
  });

  it('signature: missing under --require-signature', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run, { signature: null }), strict(run));
    expect(check(report, 'signature').code).toBe('VERIFY_SIGNATURE_MISSING');
    const lenient = verifyCertificate(inputOf(run, { signature: null }), strict(run, { requireSignature: false }));
    expect(check(lenient, 'signature').status).toBe('skipped');
  });

  it('critical: a critical_ key nested three levels deep', () => {
    const run = engineRun({ edit: (c) => (c.result.new_state.critical_sandbox = { mode: 'strict' }) });
    const report = verifyCertificate(inputOf(run), strict(run));
    expect(check(report, 'critical').code).toBe('VERIFY_CRITICAL_EXTENSION');
    expect(check(report, 'critical').details).toEqual({ paths: ['/result/new_state/critical_sandbox'] });
    expect(check(report, 'schema').status).toBe('pass');
    expect(report.failed).toEqual(['VERIFY_CRITICAL_EXTENSION']);
  });

  it('schema: every bad field at once', () => {
    const run = engineRun({
      edit: (c) => {
        delete c.request_hash;
        c.mode = 'batch';
        c.parent_state.ratchet_step = -1;
      },
    });
    const report = verifyCertificate(inputOf(run), strict(run));
    const schema = check(report, 'schema');
    expect(schema.code).toBe('VERIFY_SCHEMA_INVALID');
    const paths = (schema.details?.errors as Array<{ path: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(['/mode', '/parent_state/ratchet_step', '/request_hash']);
  });

  it('schema: bytes that are not JSON fail schema, skip what needs the document, and still hash', () => {
    const run = engineRun();
    const garbage = Buffer.from('{"type": "loom-agent-run-v1",');
    const report = verifyCertificate(inputOf(run, { certificate: garbage }), strict(run));
    expect(statuses(report)).toEqual({
      schema: 'VERIFY_SCHEMA_INVALID',
      critical: 'skipped',
      artifact_hash: 'VERIFY_CERT_HASH_MISMATCH',
      commit_pin: 'skipped',
      policy: 'skipped',
      replay: 'skipped',
      signature: 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH',
      run_status: 'skipped',
    });
  });

  it('schema: invalid UTF-8 is not JSON', () => {
    const report = verifyCertificate({ certificate: Buffer.from([0x7b, 0xff, 0x7d]) });
    expect(check(report, 'schema').code).toBe('VERIFY_SCHEMA_INVALID');
  });
});

describe('v1 certificates from other implementations', () => {
  it('pass hash, commit and policy, and report the signature as skipped', () => {
    const policy = Buffer.from('{"schema_version":"agent_swarm-policy-v1"}\n');
    const certificate = v1Certificate({ policy });
    const report = verifyCertificate(
      { certificate, policy },
      { expectedArtifactHash: sha256Digest(certificate), requiredCommit: FIXTURE_COMMIT, requirePolicy: true, home: path.join(dir, 'home') },
    );
    expect(statuses(report)).toEqual({
      schema: 'pass',
      critical: 'pass',
      artifact_hash: 'pass',
      commit_pin: 'pass',
      policy: 'pass',
      replay: 'skipped',
      signature: 'skipped',
      run_status: 'skipped',
    });
    expect(report.verified).toBe(true);
    expect(report.run).toEqual({ status: null, exit_code: null });
  });

  it('fail with VERIFY_SIGNATURE_MISSING under --require-signature', () => {
    const certificate = v1Certificate();
    const report = verifyCertificate({ certificate }, { requireSignature: true, home: path.join(dir, 'home') });
    expect(report.failed).toEqual(['VERIFY_SIGNATURE_MISSING']);
  });
});

describe('trusted keys', () => {
  it('uses the trust store when no key is given', () => {
    const home = path.join(dir, 'home');
    const run = engineRun();
    const untrusted = verifyCertificate(inputOf(run), { home });
    expect(check(untrusted, 'signature').code).toBe('VERIFY_SIGNATURE_UNTRUSTED');
    trustKey(run.key.publicKey, { name: 'ci-runner', home });
    const trusted = verifyCertificate(inputOf(run), { home });
    expect(check(trusted, 'signature').details).toMatchObject({ key_id: run.key.keyId, name: 'ci-runner', source: 'trust-store' });
  });

  it("trusts this installation's own signing key", () => {
    const home = path.join(dir, 'home');
    const { key } = generateSigningKey(home);
    const run = engineRun({ key });
    const report = verifyCertificate(inputOf(run), { home });
    expect(check(report, 'signature').details).toMatchObject({ key_id: key.keyId, source: 'self' });
    // An explicit --trusted-key list replaces the store and the own key...
    const other = verifyCertificate(inputOf(run), { home, trustedKeys: [newSigningKey().publicKey] });
    expect(check(other, 'signature').code).toBe('VERIFY_SIGNATURE_UNTRUSTED');
    // ...unless the trust store is asked for as well.
    const both = verifyCertificate(inputOf(run), { home, trustedKeys: [newSigningKey().publicKey], trustStore: true });
    expect(check(both, 'signature').status).toBe('pass');
  });

  it('reports a malformed trust store as an input error, not as a failed check', () => {
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, 'keys'), { recursive: true });
    fs.writeFileSync(path.join(home, 'keys', 'trusted-keys.json'), '{"version":1,"keys":[{}]}', { mode: 0o600 });
    const run = engineRun();
    expect(() => verifyCertificate(inputOf(run), { home })).toThrow(expect.objectContaining({ code: 'TRUST_STORE_INVALID' }));
  });
});

describe('options are validated before anything is checked', () => {
  const run = engineRun();
  it.each([
    [{ expectedArtifactHash: 'sha256:abc' }, 'INVALID_ARGUMENT'],
    [{ requiredCommit: FIXTURE_COMMIT.slice(0, 7) }, 'INVALID_ARGUMENT'],
    [{ trustedKeys: ['not-a-key'] }, 'TRUST_KEY_INVALID'],
  ] as Array<[VerifyCertificateOptions, string]>)('%j → %s', (options, code) => {
    let error: unknown;
    try {
      verifyCertificate(inputOf(run), options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SwarmError);
    expect((error as SwarmError).code).toBe(code);
    expect((error as SwarmError).exitCode).toBe(2);
  });
});

describe('verifyCertificateFile', () => {
  function writeRun(run: EngineRun, runDir = path.join(dir, 'runs', 'r-0001')): string {
    fs.mkdirSync(runDir, { recursive: true });
    fs.writeFileSync(path.join(runDir, 'certificate.json'), run.certificate);
    fs.writeFileSync(path.join(runDir, 'policy.json'), run.policy);
    fs.writeFileSync(path.join(runDir, 'certificate.dsse.json'), run.signature);
    return runDir;
  }
  const env = () => ({ SWARM_HOME: path.join(dir, 'home'), SOURCE_DATE_EPOCH: String(FIXTURE_EPOCH) });

  it('picks up policy.json and certificate.dsse.json beside the certificate', () => {
    const run = engineRun();
    writeRun(run);
    const report = verifyCertificateFile({
      certificate: 'runs/r-0001/certificate.json',
      cwd: dir,
      env: env(),
      requirePolicy: true,
      requireSignature: true,
      trustedKeys: [run.key.publicKey],
      consumeNonce: true,
    });
    expect(report.verified).toBe(true);
    expect(report.inputs).toEqual({
      policy: { path: path.join('runs', 'r-0001', 'policy.json'), discovered: true },
      signature: { path: path.join('runs', 'r-0001', 'certificate.dsse.json'), discovered: true },
    });
    // The nonce went to the default store under SWARM_HOME.
    expect(fs.existsSync(path.join(dir, 'home', 'verify', 'replay-nonces.jsonl'))).toBe(true);
  });

  it('a tampered policy.json beside the certificate fails even without --policy-file', () => {
    const run = engineRun();
    const runDir = writeRun(run);
    fs.appendFileSync(path.join(runDir, 'policy.json'), ' ');
    const report = verifyCertificateFile({ certificate: path.join(runDir, 'certificate.json'), env: env(), trustedKeys: [run.key.publicKey] });
    expect(report.failed).toEqual(['VERIFY_POLICY_MISMATCH']);
  });

  it('explicit files win over discovery', () => {
    const run = engineRun();
    const runDir = writeRun(run);
    const other = engineRun({ runId: 'r-0002' });
    fs.writeFileSync(path.join(dir, 'other.dsse.json'), other.signature);
    const report = verifyCertificateFile({
      certificate: path.join(runDir, 'certificate.json'),
      signatureFile: path.join(dir, 'other.dsse.json'),
      env: env(),
      trustedKeys: [run.key.publicKey],
    });
    expect(report.failed).toEqual(['VERIFY_SIGNATURE_PAYLOAD_MISMATCH']);
    expect(report.inputs.signature?.discovered).toBe(false);
  });

  it.each([
    ['a missing certificate', (d: string) => path.join(d, 'nope.json'), 'FILE_NOT_FOUND'],
    ['a certificate that is not JSON', (d: string) => (fs.writeFileSync(path.join(d, 'c.json'), 'not json'), path.join(d, 'c.json')), 'JSON_PARSE'],
  ])('%s is an input error', (_label, make, code) => {
    expect(() => verifyCertificateFile({ certificate: make(dir), env: env() })).toThrow(expect.objectContaining({ code, category: 'input' }));
  });

  it('a signature file that is not JSON is an input error', () => {
    const run = engineRun();
    const runDir = writeRun(run);
    fs.writeFileSync(path.join(runDir, 'certificate.dsse.json'), 'garbage');
    expect(() => verifyCertificateFile({ certificate: path.join(runDir, 'certificate.json'), env: env() })).toThrow(
      expect.objectContaining({ code: 'JSON_PARSE' }),
    );
  });

  it('a missing explicit policy file is an input error', () => {
    const run = engineRun();
    const runDir = writeRun(run);
    expect(() => verifyCertificateFile({ certificate: path.join(runDir, 'certificate.json'), policyFile: path.join(dir, 'nope.json'), env: env() })).toThrow(
      expect.objectContaining({ code: 'FILE_NOT_FOUND' }),
    );
  });

  it('canonical bytes are what the engine writes (no trailing newline)', () => {
    const run = engineRun();
    expect(run.certificate.equals(canonicalBytes(run.document))).toBe(true);
    expect(run.certificate[run.certificate.length - 1]).toBe(0x7d);
    expect(JSON.parse(run.signature.toString()).payload).toBe(run.certificate.toString('base64'));
    expect(signDsse).toBeTypeOf('function');
  });
});

describe('run_status: how the step ended', () => {
  it('a failed step is reported, and fails only under requireSuccess', () => {
    const run = engineRun({ edit: (c) => Object.assign(c.swarm, { status: 'failed', exit_code: 2 }) });
    const lenient = verifyCertificate(inputOf(run), strict(run));
    expect(lenient.run).toEqual({ status: 'failed', exit_code: 2 });
    expect(check(lenient, 'run_status').status).toBe('skipped');
    expect(lenient.verified).toBe(true);
    const gate = verifyCertificate(inputOf(run), strict(run, { requireSuccess: true }));
    expect(check(gate, 'run_status').code).toBe('VERIFY_RUN_NOT_SUCCEEDED');
    expect(gate.failed).toEqual(['VERIFY_RUN_NOT_SUCCEEDED']);
  });

  it('a succeeded step passes under requireSuccess (control)', () => {
    const run = engineRun();
    const report = verifyCertificate(inputOf(run), strict(run, { requireSuccess: true }));
    expect(check(report, 'run_status').status).toBe('pass');
    expect(report.verified).toBe(true);
  });

  it.each([
    ['status succeeded with a non-zero exit code', { status: 'succeeded', exit_code: 1 }, 'failed'],
    ['only a non-zero exit code', { status: undefined, exit_code: 3 }, 'failed'],
    ['only exit code 0', { status: undefined, exit_code: 0 }, 'succeeded'],
    ['neither', { status: undefined, exit_code: undefined }, null],
  ])('reads %s', (_label, fields, expected) => {
    const run = engineRun({ edit: (c) => Object.assign(c.swarm, fields) });
    const report = verifyCertificate(inputOf(run), strict(run, { requireSuccess: true }));
    expect(report.run.status).toBe(expected);
    expect(check(report, 'run_status').status).toBe(expected === 'succeeded' ? 'pass' : 'fail');
  });

  it('fails closed under requireSuccess for a v1 certificate that does not say how its step ended', () => {
    const report = verifyCertificate({ certificate: v1Certificate() }, { requireSuccess: true, skipPolicy: true, home: path.join(dir, 'home') });
    expect(report.failed).toEqual(['VERIFY_RUN_NOT_SUCCEEDED']);
  });
});

describe('strict JSON in certificates (interop with stricter implementations)', () => {
  const unsigned = (run: EngineRun) => strict(run, { requireSignature: false, expectedArtifactHash: undefined });

  it.each([
    ['1.0', '.0'],
    ['1e0', 'e0'],
  ])('an integer field written as %s fails schema at its path', (_label, suffix) => {
    const run = engineRun();
    const text = run.certificate.toString();
    const from = `"ratchet_step":${run.document.result.new_state.ratchet_step}`;
    expect(text).toContain(from);
    const certificate = Buffer.from(text.replace(from, `${from}${suffix}`));
    const report = verifyCertificate(inputOf(run, { certificate, signature: null }), unsigned(run));
    expect(report.failed).toEqual(['VERIFY_SCHEMA_INVALID']);
    expect(check(report, 'schema').details?.errors).toEqual([expect.objectContaining({ path: '/result/new_state/ratchet_step', keyword: 'integer' })]);
    // Control: the untouched bytes pass the same options.
    expect(verifyCertificate(inputOf(run, { signature: null }), unsigned(run)).verified).toBe(true);
  });

  it('replay.expires_at_unix beyond u64 fails schema', () => {
    const run = engineRun();
    const from = `"expires_at_unix":${run.document.replay.expires_at_unix}`;
    const certificate = Buffer.from(run.certificate.toString().replace(from, '"expires_at_unix":18446744073709551616'));
    const report = verifyCertificate(inputOf(run, { certificate, signature: null }), unsigned(run));
    expect(check(report, 'schema').code).toBe('VERIFY_SCHEMA_INVALID');
    expect((check(report, 'schema').details?.errors as Array<{ path: string }>).map((e) => e.path)).toEqual(['/replay/expires_at_unix']);
  });

  it('a BOM or a lone surrogate escape is not a certificate: schema fails, and the file is JSON_PARSE', () => {
    const run = engineRun();
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), run.certificate]);
    const lone = Buffer.from(run.certificate.toString().replace('"job_id":"r-0001"', '"job_id":"r-0001\\ud800"'));
    expect(lone.equals(run.certificate)).toBe(false);
    for (const certificate of [bom, lone]) {
      expect(check(verifyCertificate(inputOf(run, { certificate, signature: null }), unsigned(run)), 'schema').code).toBe('VERIFY_SCHEMA_INVALID');
    }
    fs.writeFileSync(path.join(dir, 'certificate.json'), bom);
    const error = thrown(() => verifyCertificateFile({ certificate: 'certificate.json', cwd: dir, env: { SWARM_HOME: path.join(dir, 'home') } }));
    expect(error).toMatchObject({ code: 'JSON_PARSE', details: { problem: 'bom' } });
  });

  it('a DSSE envelope in URL-safe base64 without padding verifies over the same bytes', () => {
    const run = engineRun();
    const envelope = JSON.parse(run.signature.toString());
    const relaxed = {
      ...envelope,
      payload: Buffer.from(envelope.payload, 'base64').toString('base64url'),
      signatures: envelope.signatures.map((s: { keyid: string; sig: string }) => ({ ...s, sig: Buffer.from(s.sig, 'base64').toString('base64url') })),
    };
    expect(relaxed.payload).not.toBe(envelope.payload);
    const report = verifyCertificate(inputOf(run, { signature: Buffer.from(JSON.stringify(relaxed)) }), strict(run));
    expect(check(report, 'signature').status).toBe('pass');
    // The same form over other bytes still fails.
    const other = { ...relaxed, payload: flipByte(run.certificate).toString('base64url') };
    expect(check(verifyCertificate(inputOf(run, { signature: Buffer.from(JSON.stringify(other)) }), strict(run)), 'signature').code).toBe('VERIFY_SIGNATURE_PAYLOAD_MISMATCH');
  });
});
