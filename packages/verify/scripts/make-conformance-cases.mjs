#!/usr/bin/env node
// Writes the `verify-cert-*` conformance cases: certificates built and signed exactly as the run
// engine writes them, then tampered with one way per case. Needs the built core package
// (`npm run build`). The signing key is made fresh on every run and never written anywhere; only
// its public key appears in the cases, so regenerating changes every signature.
//
//   node packages/verify/scripts/make-conformance-cases.mjs            every case
//   node packages/verify/scripts/make-conformance-cases.mjs <name> ...  only these (the others keep their key)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CERTIFICATE_PAYLOAD_TYPE, canonicalBytes, keyIdOf, preAuthEncoding, sha256Digest, sha256Hex, signDsse } from '../../core/dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const casesDir = path.resolve(here, '../../../conformance/cases');
const EPOCH = 1_700_000_000;
const COMMIT = sha256Hex('conformance-commit').slice(0, 40);
const ENV = { SOURCE_DATE_EPOCH: String(EPOCH) };
const CHECK_NAMES = ['schema', 'critical', 'artifact_hash', 'commit_pin', 'policy', 'replay', 'signature', 'run_status'];

function newKey() {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x;
  return { keyId: keyIdOf(x), publicKey: x, privateKey };
}
const key = newKey();
const stranger = newKey();

const iso = (unix) => new Date(unix * 1000).toISOString();
const digest = (label) => sha256Digest(`conformance:${label}`);

const policyDoc = {
  schema_version: 'agent_swarm-policy-v1',
  route_mode: 'direct',
  backend: 'local',
  egress: { allowlist: ['api.anthropic.com'], sandbox: 'netns' },
  step: { command_sha256: digest('command'), prompt_sha256: null },
  limits: { timeout_s: 600 },
  restore: { allow_cold_start: false },
  workflow_ref: `local/swarm-local-run@${COMMIT}`,
  generated_at: iso(EPOCH),
  swarm: { generator: 'swarm/0.1.0', unsandboxed_egress: false },
};
const policy = canonicalBytes(policyDoc);

function certificateDoc() {
  return {
    type: 'loom-agent-run-v1',
    job_id: 'r-conformance',
    request_hash: digest('request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'state-root', bundle_sha256: digest('bundle-root'), ratchet_step: 0 },
    result: {
      response_sha256: sha256Digest('hello\n'),
      response_locator: 'step.log',
      new_state: { state_id: 'state-r-conformance', bundle_sha256: digest('bundle-1'), bundle_manifest_sha256: digest('manifest-1'), ratchet_step: 1 },
    },
    runtime: { workflow_ref: `local/swarm-local-run@${COMMIT}`, runner_class: 'local', started_at: iso(EPOCH), finished_at: iso(EPOCH + 2) },
    replay: { nonce: sha256Hex('conformance-nonce'), expires_at_unix: EPOCH + 3600 },
    policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: sha256Digest(policy), policy_ref: 'policy.json', policy_generated_at: iso(EPOCH) },
    timestamp: iso(EPOCH + 2),
    swarm: {
      generator: 'swarm/0.1.0',
      run_id: 'r-conformance',
      node_id: 'node-r-conformance',
      parent_node_id: 'root',
      status: 'succeeded',
      exit_code: 0,
      restore_mode: 'checkpoint',
      signer: key.keyId,
    },
  };
}

/** The files of one run directory: certificate bytes, DSSE envelope bytes, policy bytes. */
function run(edit = () => {}) {
  const doc = certificateDoc();
  edit(doc);
  const certificate = canonicalBytes(doc);
  const signature = canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, key));
  return { certificate, signature, policy };
}

/** A run whose certificate text is edited after serialising (number forms, escapes), then signed. */
function runText(edit) {
  const text = canonicalBytes(certificateDoc()).toString('utf8');
  const certificate = Buffer.from(edit(text));
  if (certificate.toString('utf8') === text) throw new Error('the edit did not change the certificate');
  const signature = canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, key));
  return { certificate, signature, policy };
}

/** The untouched run's envelope with payload and signatures re-encoded by `encode` (bytes → text). */
function reencoded(encode) {
  const envelope = JSON.parse(untouched.signature);
  return Buffer.from(
    JSON.stringify({
      ...envelope,
      payload: encode(Buffer.from(envelope.payload, 'base64')),
      signatures: envelope.signatures.map((s) => ({ ...s, sig: encode(Buffer.from(s.sig, 'base64')) })),
    }),
  );
}

const untouched = run();
const artifactHash = sha256Digest(untouched.certificate);

function strictArgs(extra = {}) {
  const options = {
    '--expected-artifact-hash': artifactHash,
    '--required-commit': COMMIT,
    '--require-policy': true,
    '--require-signature': true,
    '--trusted-key': key.publicKey,
    ...extra,
  };
  const args = ['verify', 'cert', '--certificate', '{case}/certificate.json'];
  for (const [flag, value] of Object.entries(options)) {
    if (value === false || value === undefined) continue;
    args.push(flag);
    if (value !== true) args.push(value);
  }
  return [...args, '--json'];
}

function failure(codes, extra = {}) {
  return { exit: 3, json: { status: 'error', 'error.code': 'VERIFY_FAILED', 'error.category': 'verification', 'error.details.failed': codes, ...extra } };
}

const flip = (bytes) => {
  const copy = Buffer.from(bytes);
  let i = copy.indexOf('"response_sha256":"sha256:') + 26;
  while (copy[i] < 0x30 || copy[i] > 0x39) i++;
  copy[i] ^= 1;
  return copy;
};

const cases = {
  'verify-cert-valid': {
    description: 'An untouched certificate, as the engine writes and signs it, passes every check in order',
    files: untouched,
    args: strictArgs(),
    expect: {
      exit: 0,
      json: {
        status: 'ok',
        'data.verified': true,
        'data.artifact_hash': artifactHash,
        'data.failed': [],
        'data.checks[*].name': CHECK_NAMES,
        'data.checks[*].status': CHECK_NAMES.map(() => 'pass'),
        'data.inputs.policy.discovered': true,
        'data.inputs.signature.discovered': true,
      },
    },
  },
  'verify-cert-byte-flipped': {
    description: 'One byte flipped in the certificate fails the artifact hash and the signature payload',
    files: { ...untouched, certificate: flip(untouched.certificate) },
    args: strictArgs(),
    expect: failure(['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH']),
  },
  'verify-cert-wrong-commit': {
    description: 'A certificate pinned to another commit than the required one fails commit_pin',
    files: untouched,
    args: strictArgs({ '--required-commit': 'f'.repeat(40) }),
    expect: failure(['VERIFY_COMMIT_MISMATCH']),
  },
  'verify-cert-pin-uppercase': {
    description: 'An uppercase commit pin in runtime.workflow_ref is unpinned',
    files: run((c) => (c.runtime.workflow_ref = `local/swarm-local-run@${COMMIT.toUpperCase()}`)),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['WORKFLOW_REF_UNPINNED']),
  },
  'verify-cert-pin-short': {
    description: 'A short commit pin in runtime.workflow_ref is unpinned',
    files: run((c) => (c.runtime.workflow_ref = `local/swarm-local-run@${COMMIT.slice(0, 12)}`)),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['WORKFLOW_REF_UNPINNED']),
  },
  'verify-cert-policy-changed': {
    description: 'A policy file that differs from the bound policy_hash by one byte fails policy',
    files: { ...untouched, policy: Buffer.from(policy.toString().replace('"timeout_s":600', '"timeout_s":601')) },
    args: strictArgs(),
    expect: failure(['VERIFY_POLICY_MISMATCH']),
  },
  'verify-cert-policy-block-missing': {
    description: 'A certificate without a policy block fails under --require-policy',
    files: { ...run((c) => delete c.policy), policy: undefined },
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_POLICY_MISSING']),
  },
  'verify-cert-policy-file-missing': {
    description: 'A certificate that binds a policy fails under --require-policy when there is no policy file',
    files: { ...untouched, policy: undefined },
    args: strictArgs(),
    expect: failure(['VERIFY_POLICY_MISSING'], { 'error.details.inputs.policy': null }),
  },
  'verify-cert-replay-expired': {
    description: 'A certificate whose replay window has closed fails replay',
    files: untouched,
    env: { SOURCE_DATE_EPOCH: String(EPOCH + 3600) },
    args: strictArgs(),
    expect: failure(['VERIFY_REPLAY_EXPIRED']),
  },
  'verify-cert-replay-reused': {
    description: 'A certificate accepted once with --consume-nonce fails replay when presented again to the same replay store',
    files: untouched,
    before: [{ args: strictArgs({ '--consume-nonce': true }), exit: 0 }],
    args: strictArgs({ '--consume-nonce': true }),
    expect: failure(['VERIFY_REPLAY_NONCE_REUSED']),
  },
  'verify-cert-replay-not-consumed-by-default': {
    description: 'Without --consume-nonce the nonce is only looked up, so the same certificate verifies twice',
    files: untouched,
    before: [{ args: strictArgs(), exit: 0 }],
    args: strictArgs(),
    expect: { exit: 0, json: { status: 'ok', 'data.verified': true, 'data.checks.5.status': 'pass' } },
  },
  'verify-cert-run-failed-reported': {
    description: 'A certificate of a failed step verifies without --require-success, and the report says the step failed',
    files: run((c) => Object.assign(c.swarm, { status: 'failed', exit_code: 1 })),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: { exit: 0, json: { status: 'ok', 'data.run': { status: 'failed', exit_code: 1 }, 'data.checks.7.name': 'run_status', 'data.checks.7.status': 'skipped' } },
  },
  'verify-cert-run-failed-require-success': {
    description: 'A certificate of a failed step fails under --require-success',
    files: run((c) => Object.assign(c.swarm, { status: 'failed', exit_code: 1 })),
    args: strictArgs({ '--expected-artifact-hash': undefined, '--require-success': true }),
    expect: failure(['VERIFY_RUN_NOT_SUCCEEDED'], { 'error.details.run.status': 'failed' }),
  },
  'verify-cert-run-succeeded-require-success': {
    description: 'A certificate of a succeeded step passes --require-success',
    files: untouched,
    args: strictArgs({ '--require-success': true }),
    expect: { exit: 0, json: { status: 'ok', 'data.run': { status: 'succeeded', exit_code: 0 }, 'data.checks.7.status': 'pass' } },
  },
  'verify-cert-policy-bound-no-file': {
    description: 'A certificate that binds a policy fails when there is no policy file, even without --require-policy',
    files: { ...untouched, policy: undefined },
    args: strictArgs({ '--require-policy': false }),
    expect: failure(['VERIFY_POLICY_MISSING']),
  },
  'verify-cert-policy-skip': {
    description: '--skip-policy accepts a certificate whose bound policy file is not at hand, reporting policy as skipped',
    files: { ...untouched, policy: undefined },
    args: strictArgs({ '--require-policy': false, '--skip-policy': true }),
    expect: { exit: 0, json: { status: 'ok', 'data.checks.4.name': 'policy', 'data.checks.4.status': 'skipped' } },
  },
  'verify-cert-policy-skip-still-checks-file': {
    description: '--skip-policy still checks a policy file that is there',
    files: { ...untouched, policy: Buffer.from(policy.toString().replace('"timeout_s":600', '"timeout_s":601')) },
    args: strictArgs({ '--require-policy': false, '--skip-policy': true }),
    expect: failure(['VERIFY_POLICY_MISMATCH']),
  },
  'verify-cert-policy-skip-and-require': {
    description: '--skip-policy with --require-policy is an input error',
    files: untouched,
    args: strictArgs({ '--skip-policy': true }),
    expect: { exit: 2, json: { status: 'error', 'error.code': 'INVALID_ARGUMENT' } },
  },
  'verify-cert-integer-fraction': {
    description: 'A signed certificate with ratchet_step written as 0.0 fails schema at that field',
    files: runText((t) => t.replace('"ratchet_step":0,', '"ratchet_step":0.0,')),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_SCHEMA_INVALID'], {
      'error.details.checks.0.details.errors[*].path': ['/parent_state/ratchet_step'],
      'error.details.checks.0.details.errors[*].keyword': ['integer'],
    }),
  },
  'verify-cert-integer-exponent': {
    description: 'A signed certificate with ratchet_step written as 1e0 fails schema at that field',
    files: runText((t) => t.replace('"ratchet_step":1}', '"ratchet_step":1e0}').replace('"ratchet_step":1,', '"ratchet_step":1e0,')),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_SCHEMA_INVALID'], {
      'error.details.checks.0.details.errors[*].path': ['/result/new_state/ratchet_step'],
      'error.details.checks.0.details.errors[*].keyword': ['integer'],
    }),
  },
  'verify-cert-integer-beyond-u64': {
    description: 'A signed certificate with ratchet_step 2^64 fails schema at that field',
    files: runText((t) => t.replace('"ratchet_step":1}', '"ratchet_step":18446744073709551616}').replace('"ratchet_step":1,', '"ratchet_step":18446744073709551616,')),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_SCHEMA_INVALID'], {
      'error.details.checks.0.details.errors[*].path': ['/result/new_state/ratchet_step'],
      'error.details.checks.0.details.errors[*].keyword': ['integer'],
    }),
  },
  'verify-cert-bom': {
    description: 'A certificate starting with a UTF-8 byte order mark is not usable JSON (exit 2)',
    files: runText((t) => `\ufeff${t}`),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: { exit: 2, json: { status: 'error', 'error.code': 'JSON_PARSE', 'error.details.problem': 'bom' } },
  },
  'verify-cert-lone-surrogate': {
    description: 'A certificate with a lone surrogate escape in a string is not usable JSON (exit 2)',
    files: runText((t) => t.replace('"runner_class":"local"', '"runner_class":"local\\ud800"')),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: { exit: 2, json: { status: 'error', 'error.code': 'JSON_PARSE', 'error.details.problem': 'lone_surrogate' } },
  },
  'verify-cert-signature-base64url-unpadded': {
    description: 'A DSSE envelope whose payload and sig are URL-safe base64 without padding verifies',
    files: { ...untouched, signature: reencoded((b) => b.toString('base64url')) },
    args: strictArgs(),
    expect: { exit: 0, json: { status: 'ok', 'data.checks.6.name': 'signature', 'data.checks.6.status': 'pass' } },
  },
  'verify-cert-signature-base64-unpadded': {
    description: 'A DSSE envelope whose payload and sig are standard base64 without padding verifies',
    files: { ...untouched, signature: reencoded((b) => b.toString('base64').replace(/=+$/, '')) },
    args: strictArgs(),
    expect: { exit: 0, json: { status: 'ok', 'data.checks.6.status': 'pass' } },
  },
  'verify-cert-signature-base64url-other-bytes': {
    description: 'A URL-safe envelope whose payload is not byte-for-byte the certificate still fails',
    files: { ...untouched, signature: reencoded((b) => (b.length === untouched.certificate.length ? flip(b) : b).toString('base64url')) },
    args: strictArgs(),
    expect: failure(['VERIFY_SIGNATURE_PAYLOAD_MISMATCH']),
  },
  'verify-cert-replay-not-recorded': {
    description: 'With --no-record-nonce a certificate can be checked again without being consumed',
    files: untouched,
    before: [{ args: strictArgs({ '--no-record-nonce': true }), exit: 0 }],
    args: strictArgs(),
    expect: { exit: 0, json: { status: 'ok', 'data.verified': true } },
  },
  'verify-cert-signature-untrusted': {
    description: 'A certificate signed by a key that is not trusted fails signature',
    files: untouched,
    args: strictArgs({ '--trusted-key': stranger.publicKey }),
    expect: failure(['VERIFY_SIGNATURE_UNTRUSTED']),
  },
  'verify-cert-signature-payload-type': {
    description: 'A signature moved to an envelope of another payload type fails signature',
    files: { ...untouched, signature: Buffer.from(JSON.stringify({ ...JSON.parse(untouched.signature), payloadType: 'application/vnd.in-toto+json' })) },
    args: strictArgs(),
    expect: failure(['VERIFY_SIGNATURE_WRONG_TYPE']),
  },
  'verify-cert-signature-relabelled': {
    description: 'A signature the trusted key made for another payload type does not verify when relabelled as a certificate signature',
    files: {
      ...untouched,
      signature: canonicalBytes({
        payloadType: CERTIFICATE_PAYLOAD_TYPE,
        payload: untouched.certificate.toString('base64'),
        signatures: [{ keyid: key.keyId, sig: crypto.sign(null, preAuthEncoding('application/octet-stream', untouched.certificate), key.privateKey).toString('base64') }],
      }),
    },
    args: strictArgs(),
    expect: failure(['VERIFY_SIGNATURE_INVALID']),
  },
  'verify-cert-signature-missing': {
    description: 'An unsigned certificate fails under --require-signature',
    files: { ...untouched, signature: undefined },
    args: strictArgs(),
    expect: failure(['VERIFY_SIGNATURE_MISSING']),
  },
  'verify-cert-critical-nested': {
    description: 'A critical_ key three levels deep fails the critical check (and only it)',
    files: run((c) => (c.result.new_state.critical_sandbox = 'strict')),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_CRITICAL_EXTENSION'], { 'error.details.checks.1.details.paths': ['/result/new_state/critical_sandbox'] }),
  },
  'verify-cert-schema-every-problem': {
    description: 'Every schema problem of a certificate is reported in one schema check',
    files: run((c) => {
      delete c.request_hash;
      c.mode = 'batch';
      c.parent_state.ratchet_step = -1;
    }),
    args: strictArgs({ '--expected-artifact-hash': undefined }),
    expect: failure(['VERIFY_SCHEMA_INVALID'], {
      'error.details.checks.0.details.errors[*].path': { $set: ['/mode', '/parent_state/ratchet_step', '/request_hash'] },
    }),
  },
  'verify-cert-v1-unsigned': {
    description: 'A v1 certificate from another implementation passes hash, commit and policy, with the signature skipped',
    files: v1Files(),
    args: (() => {
      const { certificate } = v1Files();
      return ['verify', 'cert', '--certificate', '{case}/certificate.json', '--expected-artifact-hash', sha256Digest(certificate), '--required-commit', COMMIT, '--require-policy', '--json'];
    })(),
    expect: {
      exit: 0,
      json: { status: 'ok', 'data.checks[*].name': CHECK_NAMES, 'data.checks[*].status': ['pass', 'pass', 'pass', 'pass', 'pass', 'skipped', 'skipped', 'skipped'] },
    },
  },
  'verify-cert-v1-require-success': {
    description: 'A v1 certificate that does not say how its step ended fails --require-success (fail closed)',
    files: v1Files(),
    args: ['verify', 'cert', '--certificate', '{case}/certificate.json', '--required-commit', COMMIT, '--require-success', '--json'],
    expect: failure(['VERIFY_RUN_NOT_SUCCEEDED'], { 'error.details.run.status': null }),
  },
  'verify-cert-v1-signature-required': {
    description: 'A v1 certificate without a signature fails under --require-signature',
    files: v1Files(),
    args: ['verify', 'cert', '--certificate', '{case}/certificate.json', '--required-commit', COMMIT, '--require-signature', '--json'],
    expect: failure(['VERIFY_SIGNATURE_MISSING']),
  },
  'verify-cert-not-json': {
    description: 'A certificate file that is not JSON is invalid input (exit 2)',
    files: { certificate: Buffer.from('this is not a certificate\n') },
    args: ['verify', 'cert', '--certificate', '{case}/certificate.json', '--json'],
    expect: { exit: 2, json: { status: 'error', 'error.code': 'JSON_PARSE', 'error.category': 'input' } },
  },
  'verify-cert-missing-file': {
    description: 'A certificate file that does not exist is invalid input (exit 2)',
    files: {},
    args: ['verify', 'cert', '--certificate', '{tmp}/no-such-certificate.json', '--json'],
    expect: { exit: 2, json: { status: 'error', 'error.code': 'FILE_NOT_FOUND', 'error.category': 'input' } },
  },
};

function v1Files() {
  const v1Policy = Buffer.from('{\n  "schema_version": "agent_swarm-policy-v1",\n  "route_mode": "client_exit",\n  "backend": "github",\n  "egress": { "allowlist": [] }\n}\n');
  const doc = {
    type: 'loom-agent-run-v1',
    job_id: 'job-7f3a',
    request_hash: digest('v1-request'),
    mode: 'prompt-run',
    parent_state: { state_id: 'state-root', bundle_sha256: digest('v1-bundle-0'), ratchet_step: 0 },
    result: {
      response_sha256: digest('v1-response'),
      response_locator: 'artifacts/response.txt',
      new_state: { state_id: 'state-7f3a', bundle_sha256: digest('v1-bundle-1'), bundle_manifest_sha256: digest('v1-manifest-1') },
    },
    runtime: { workflow_ref: `acme/agents/.github/workflows/agent.yml@${COMMIT}`, runner_class: 'github-hosted', started_at: iso(EPOCH), finished_at: iso(EPOCH + 42) },
    policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: sha256Digest(v1Policy), policy_ref: 'policy.json' },
    timestamp: iso(EPOCH + 42),
  };
  // Other implementations need not write canonical JSON: the pretty-printed bytes are what is hashed.
  return { certificate: Buffer.from(`${JSON.stringify(doc, null, 2)}\n`), policy: v1Policy };
}

const only = process.argv.slice(2);
for (const name of only) if (!(name in cases)) throw new Error(`no case ${name}`);
for (const [name, spec] of Object.entries(cases)) {
  if (only.length > 0 && !only.includes(name)) continue;
  const dir = path.join(casesDir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const names = { certificate: 'certificate.json', signature: 'certificate.dsse.json', policy: 'policy.json' };
  for (const [kind, file] of Object.entries(names)) {
    if (spec.files[kind] !== undefined) fs.writeFileSync(path.join(dir, file), spec.files[kind]);
  }
  const caseJson = {
    description: spec.description,
    args: spec.args,
    env: { ...ENV, ...spec.env },
    ...(spec.before ? { before: spec.before } : {}),
    expect: spec.expect,
  };
  fs.writeFileSync(path.join(dir, 'case.json'), `${JSON.stringify(caseJson, null, 2)}\n`);
}
process.stdout.write(`wrote ${only.length || Object.keys(cases).length} verify-cert cases to ${path.relative(process.cwd(), casesDir)}\n`);
