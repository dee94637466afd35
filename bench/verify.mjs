// Verifier benchmark: certificates verified per second in one process (schema + critical_ scan +
// artifact hash + DSSE Ed25519 signature), against a baseline of the bare primitives (sha256 of
// the bytes + one Ed25519 verify over the PAE) measured in the same run; plus a whole
// `swarm verify cert` process against bare `node -e 0`. Run after `npm run build`:
//   node bench/verify.mjs
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, heading, median, timeProcess } from './lib.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (pkg) => pathToFileURL(path.join(root, 'packages', pkg, 'dist', 'index.js')).href;
const BIN = path.join(root, 'packages', 'cli', 'bin', 'swarm.js');

/** `count` distinct certificates as the engine writes them, each with its DSSE envelope. */
function makeCertificates(core, count) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const x = publicKey.export({ format: 'jwk' }).x;
  const key = { keyId: core.keyIdOf(x), publicKey: x, privateKey };
  const d = (label) => core.sha256Digest(`bench:${label}`);
  const policy = core.canonicalBytes({ schema_version: 'agent_swarm-policy-v1', route_mode: 'direct', backend: 'local', egress: { allowlist: [] } });
  const commit = core.sha256Hex('bench-commit').slice(0, 40);
  const certificates = [];
  for (let i = 0; i < count; i += 1) {
    const doc = {
      type: 'loom-agent-run-v1',
      job_id: `r-${i}`,
      request_hash: d(`request-${i}`),
      mode: 'prompt-run',
      parent_state: { state_id: `state-${i}`, bundle_sha256: d(`parent-${i}`), ratchet_step: i },
      result: {
        response_sha256: d(`response-${i}`),
        response_locator: 'step.log',
        new_state: { state_id: `state-${i + 1}`, bundle_sha256: d(`bundle-${i}`), bundle_manifest_sha256: d(`manifest-${i}`), ratchet_step: i + 1 },
      },
      runtime: { workflow_ref: `local/swarm-local-run@${commit}`, runner_class: 'local', started_at: '2024-01-01T00:00:00.000Z', finished_at: '2024-01-01T00:00:02.000Z' },
      replay: { nonce: core.sha256Hex(`nonce-${i}`), expires_at_unix: 4_000_000_000 },
      policy: { schema_version: 'agent_swarm-policy-v1', policy_hash: core.sha256Digest(policy), policy_ref: 'policy.json', policy_generated_at: '2024-01-01T00:00:00.000Z' },
      timestamp: '2024-01-01T00:00:02.000Z',
      swarm: { generator: 'swarm/0.1.0', run_id: `r-${i}`, node_id: `node-r-${i}`, parent_node_id: 'root', status: 'succeeded', restore_mode: 'checkpoint', signer: key.keyId },
    };
    const certificate = core.canonicalBytes(doc);
    const signature = core.canonicalBytes(core.signDsse(core.CERTIFICATE_PAYLOAD_TYPE, certificate, key));
    certificates.push({ certificate, signature, policy, artifactHash: core.sha256Digest(certificate) });
  }
  return { certificates, key, commit };
}

function perSecond(count, fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return count / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export async function main({ count = 400, rounds = 7, processRounds = 9 } = {}) {
  const core = await import(dist('core'));
  const verify = await import(dist('verify'));
  const { certificates, key, commit } = makeCertificates(core, count);
  const trusted = verify.resolveTrustedKeys({ trustedKeys: [key.publicKey], home: os.tmpdir() });
  const keyObject = trusted[0].key;

  heading(`verify cert in one process: ${count} distinct certificates per round, median of ${rounds} rounds`);
  const baseline = [];
  const full = [];
  const strict = [];
  // Warm-up: JIT, the lazily loaded schema validators.
  for (const c of certificates.slice(0, 50)) verify.verifyCertificate(c, { trusted, expectedArtifactHash: c.artifactHash });
  for (let r = 0; r < rounds; r += 1) {
    baseline.push(
      perSecond(count, () => {
        for (const c of certificates) {
          core.sha256Digest(c.certificate);
          const envelope = JSON.parse(c.signature.toString('utf8'));
          const pae = core.preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64'));
          if (!crypto.verify(null, pae, keyObject, Buffer.from(envelope.signatures[0].sig, 'base64'))) throw new Error('baseline verify failed');
        }
      }),
    );
    full.push(
      perSecond(count, () => {
        for (const c of certificates) {
          const report = verify.verifyCertificate(c, { trusted, expectedArtifactHash: c.artifactHash });
          if (!report.verified) throw new Error(`certificate failed: ${report.failed}`);
        }
      }),
    );
    strict.push(
      perSecond(count, () => {
        for (const c of certificates) {
          const report = verify.verifyCertificate(c, {
            trusted,
            expectedArtifactHash: c.artifactHash,
            requiredCommit: commit,
            requirePolicy: true,
            requireSignature: true,
          });
          if (!report.verified) throw new Error(`certificate failed: ${report.failed}`);
        }
      }),
    );
  }
  const base = median(baseline);
  console.log(`baseline: sha256 + DSSE parse + 1 Ed25519 verify   median ${fmt(base, 0)} certs/s`);
  console.log(`verifyCertificate (schema + critical + hash + sig)  median ${fmt(median(full), 0)} certs/s   ratio ${fmt(median(full) / base, 2)} of baseline`);
  console.log(`  + commit pin + policy bytes, all required         median ${fmt(median(strict), 0)} certs/s   ratio ${fmt(median(strict) / base, 2)} of baseline`);

  heading(`whole process: swarm verify cert (median of ${processRounds})`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-verify-'));
  try {
    const c = certificates[0];
    fs.writeFileSync(path.join(tmp, 'certificate.json'), c.certificate);
    fs.writeFileSync(path.join(tmp, 'certificate.dsse.json'), c.signature);
    fs.writeFileSync(path.join(tmp, 'policy.json'), c.policy);
    const env = { PATH: process.env.PATH, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
    const args = [BIN, 'verify', 'cert', '--certificate', path.join(tmp, 'certificate.json'), '--expected-artifact-hash', c.artifactHash, '--required-commit', commit, '--require-policy', '--require-signature', '--trusted-key', key.publicKey, '--no-record-nonce', '--json'];
    const node = [];
    const version = [];
    const swarm = [];
    for (let i = 0; i < processRounds; i += 1) {
      node.push(timeProcess(process.execPath, ['-e', '0'], { env }).ms);
      version.push(timeProcess(process.execPath, [BIN, '--version'], { env }).ms);
      swarm.push(timeProcess(process.execPath, args, { env }).ms);
    }
    console.log(`node -e 0 (baseline)     median ${fmt(median(node))} ms`);
    console.log(`swarm --version          median ${fmt(median(version))} ms   ratio ${fmt(median(version) / median(node), 2)} of bare node`);
    console.log(
      `swarm verify cert        median ${fmt(median(swarm))} ms   ratio ${fmt(median(swarm) / median(node), 2)} of bare node; ` +
        `verification's own share ~${fmt(median(swarm) - median(version))} ms over CLI start-up`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main({ count: Number(process.env.BENCH_COUNT ?? 400), rounds: Number(process.env.BENCH_ROUNDS ?? 7) });
}
