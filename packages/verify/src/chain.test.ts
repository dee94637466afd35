import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, SwarmError, canonicalBytes, fixedClock, sha256Digest, signDsse } from '@swarm/core';
import { verifyChain, type ChainLink, type VerifyChainOptions } from './chain.js';
import { sha256OfFile } from './file-digest.js';
import type { ChainReport } from './report.js';
import { FIXTURE_EPOCH, engineChain, engineRun, flipByte, newSigningKey, stateOf } from './test-support/engine-run.js';

const key = newSigningKey();
const options = (extra: Partial<VerifyChainOptions> = {}): VerifyChainOptions => ({
  trustedKeys: [key.publicKey],
  requireSignature: true,
  requirePolicy: true,
  clock: fixedClock(FIXTURE_EPOCH * 1000),
  ...extra,
});

function link(report: ChainReport, nodeId: string) {
  const found = report.links.find((l) => l.node_id === nodeId);
  if (!found) throw new Error(`no link ${nodeId}`);
  return found;
}

function codesOf(report: ChainReport, nodeId: string, check: string): string | undefined {
  const c = link(report, nodeId).checks.find((x) => x.name === check);
  return c?.code ?? c?.status;
}

describe('verifyChain', () => {
  it('passes a root → run → fork → run chain built like the engine builds it', () => {
    const { links } = engineChain(key);
    const report = verifyChain(links, options({ node: 'branch:main' }));
    expect(report.failed).toEqual([]);
    expect(report.verified).toBe(true);
    expect(report.node).toBe('branch:main');
    expect(report.links.map((l) => [l.node_id, l.kind, l.verified])).toEqual([
      ['nd_r2', 'run', true],
      ['nd_fork', 'fork', true],
      ['nd_r1', 'run', true],
      ['nd_root', 'root', true],
    ]);
    expect(link(report, 'nd_r2').checks.map((c) => c.name)).toEqual([
      'schema',
      'critical',
      'artifact_hash',
      'commit_pin',
      'policy',
      'replay',
      'signature',
      'run_status',
      'parent_state',
      'new_state',
      'bundle_object',
    ]);
    expect(Object.fromEntries(link(report, 'nd_r2').checks.map((c) => [c.name, c.status]))).toMatchObject({ artifact_hash: 'pass', signature: 'pass', bundle_object: 'skipped' });
    expect(report.unsigned).toEqual([]);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['linkage', 'pass'],
      ['root', 'pass'],
    ]);
  });

  it('does not fail historical links on an expired replay window unless asked to', () => {
    const { links } = engineChain(key);
    const later = fixedClock((FIXTURE_EPOCH + 30 * 86_400) * 1000);
    expect(verifyChain(links, options({ clock: later })).verified).toBe(true);
    const strict = verifyChain(links, options({ clock: later, checkReplayExpiry: true }));
    expect(strict.failed).toEqual(['VERIFY_REPLAY_EXPIRED', 'VERIFY_REPLAY_EXPIRED']);
  });

  it("fails when a certificate's parent_state is not its parent's state", () => {
    const { links } = engineChain(key);
    const tampered = links.map((l) => ({ ...l, state: { ...l.state } }));
    tampered[2]!.state.ratchet_step = 7; // nd_r1's state, which nd_fork's fork check and nd_r1's new_state see
    const report = verifyChain(tampered, options());
    expect(codesOf(report, 'nd_r1', 'new_state')).toBe('VERIFY_CHAIN_STATE_MISMATCH');
    expect(report.verified).toBe(false);

    const parentMoved = links.map((l) => ({ ...l, state: { ...l.state } }));
    parentMoved[3]!.state.bundle_sha256 = `sha256:${'0'.repeat(64)}`; // the root
    const report2 = verifyChain(parentMoved, options());
    expect(codesOf(report2, 'nd_r1', 'parent_state')).toBe('VERIFY_CHAIN_PARENT_MISMATCH');
    expect(report2.failed).toEqual(['VERIFY_CHAIN_PARENT_MISMATCH']);
  });

  it('fails when a run certificate claims another parent', () => {
    const root = { state_id: 'st_root', bundle_sha256: `sha256:${'a'.repeat(64)}`, ratchet_step: 0 };
    const run = engineRun({ runId: 'r-x', key, parent: { ...root, state_id: 'st_elsewhere' } });
    const links: ChainLink[] = [
      { nodeId: 'nd_x', parentNodeId: 'nd_root', state: stateOf(run), certificate: run.certificate, signature: run.signature, policy: run.policy, kind: 'run' },
      { nodeId: 'nd_root', parentNodeId: null, state: root, certificate: null, signature: null, policy: null, kind: 'root' },
    ];
    const report = verifyChain(links, options());
    expect(report.failed).toEqual(['VERIFY_CHAIN_PARENT_MISMATCH']);
    expect(link(report, 'nd_x').checks.find((c) => c.name === 'parent_state')?.details).toMatchObject({ fields: ['state_id'] });
  });

  it('fails a fork that does not keep its parent bundle, or keeps its state id or step', () => {
    const { links } = engineChain(key);
    const cases: Array<Partial<ChainLink['state']>> = [
      { bundle_sha256: `sha256:${'b'.repeat(64)}` },
      { state_id: links[2]!.state.state_id },
      { ratchet_step: links[2]!.state.ratchet_step },
    ];
    for (const change of cases) {
      const changed = links.map((l) => (l.kind === 'fork' ? { ...l, state: { ...l.state, ...change } } : l));
      const report = verifyChain(changed, options());
      expect(codesOf(report, 'nd_fork', 'fork')).toBe('VERIFY_CHAIN_FORK_MISMATCH');
    }
  });

  it('checks every certificate in the chain: a flipped byte deep in the chain fails that link', () => {
    const { links } = engineChain(key);
    const changed = links.map((l) => (l.nodeId === 'nd_r1' ? { ...l, certificate: flipByte(l.certificate!) } : l));
    const report = verifyChain(changed, options());
    expect(codesOf(report, 'nd_r1', 'signature')).toBe('VERIFY_SIGNATURE_PAYLOAD_MISMATCH');
    expect(link(report, 'nd_r2').verified).toBe(true);
    expect(report.verified).toBe(false);
  });

  it('fails links signed by an untrusted key and policies that do not match', () => {
    const { links } = engineChain(key);
    const untrusted = verifyChain(links, options({ trustedKeys: [newSigningKey().publicKey] }));
    expect(untrusted.failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED', 'VERIFY_SIGNATURE_UNTRUSTED']);
    const changed = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, policy: Buffer.concat([l.policy!, Buffer.from(' ')]) } : l));
    expect(verifyChain(changed, options()).failed).toEqual(['VERIFY_POLICY_MISMATCH']);
  });

  it('fails a run whose bound policy the store does not hold, unless skipPolicy', () => {
    const { links } = engineChain(key);
    const missing = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, policy: null } : l));
    expect(verifyChain(links, options({ requirePolicy: false })).verified).toBe(true);
    expect(verifyChain(missing, options({ requirePolicy: false })).failed).toEqual(['VERIFY_POLICY_MISSING']);
    const skipping = verifyChain(missing, options({ requirePolicy: false, skipPolicy: true }));
    expect(codesOf(skipping, 'nd_r2', 'policy')).toBe('skipped');
    expect(skipping.verified).toBe(true);
    expect(() => verifyChain(missing, options({ skipPolicy: true }))).toThrow(SwarmError);
  });

  it('fails a run node without a certificate', () => {
    const { links } = engineChain(key);
    const changed = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, certificate: null } : l));
    expect(codesOf(verifyChain(changed, options()), 'nd_r2', 'certificate')).toBe('VERIFY_CHAIN_CERT_MISSING');
  });

  it('fails a chain that does not end at a root, or whose parent pointers skip a node', () => {
    const { links } = engineChain(key);
    const noRoot = verifyChain(links.slice(0, 3), options());
    expect(noRoot.checks.find((c) => c.name === 'root')?.code).toBe('VERIFY_CHAIN_BROKEN');
    const skipping = verifyChain([links[0]!, links[2]!, links[3]!], options());
    expect(skipping.checks.find((c) => c.name === 'linkage')?.code).toBe('VERIFY_CHAIN_BROKEN');
    expect(verifyChain([], options()).failed).toContain('VERIFY_CHAIN_BROKEN');
  });

  it('fails two links that carry the same replay nonce', () => {
    const root = { state_id: 'st_root', bundle_sha256: `sha256:${'a'.repeat(64)}`, ratchet_step: 0 };
    const first = engineRun({ runId: 'r-1', key, parent: root, nonce: 'f'.repeat(64) });
    const second = engineRun({ runId: 'r-2', key, parent: stateOf(first), nonce: 'f'.repeat(64) });
    const links: ChainLink[] = [
      { nodeId: 'nd_2', parentNodeId: 'nd_1', state: stateOf(second), certificate: second.certificate, signature: second.signature, policy: second.policy, kind: 'run' },
      { nodeId: 'nd_1', parentNodeId: 'nd_root', state: stateOf(first), certificate: first.certificate, signature: first.signature, policy: first.policy, kind: 'import' },
      { nodeId: 'nd_root', parentNodeId: null, state: root, certificate: null, signature: null, policy: null, kind: 'root' },
    ];
    const report = verifyChain(links, options());
    expect(report.failed).toEqual(['VERIFY_REPLAY_NONCE_REUSED']);
    expect(codesOf(report, 'nd_2', 'replay')).toBe('VERIFY_REPLAY_NONCE_REUSED');
    expect(codesOf(report, 'nd_1', 'replay')).toBe('pass');
  });
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-verify-chain-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const objectsDir = () => path.join(tmp, `objects-${++dirs}`);

/** The chain with nd_r1's certificate edited the way an attacker would: a field changed, the bytes still canonical. */
function editedR1(links: ChainLink[], options: { resignWith?: ReturnType<typeof newSigningKey>; dropSignature?: boolean } = {}): ChainLink[] {
  return links.map((l) => {
    if (l.nodeId !== 'nd_r1') return l;
    const document = JSON.parse(l.certificate!.toString('utf8'));
    document.swarm.exit_code = 0;
    document.swarm.status = 'succeeded';
    document.result.response_sha256 = sha256Digest('a better answer');
    const certificate = canonicalBytes(document);
    const signature = options.dropSignature ? null : options.resignWith ? Buffer.from(JSON.stringify(signDsse(CERTIFICATE_PAYLOAD_TYPE, certificate, options.resignWith))) : l.signature;
    return { ...l, certificate, signature };
  });
}

describe('verifyChain: signatures are required', () => {
  it('fails a link whose signature was deleted, and passes it with allowUnsigned, reporting it unsigned', () => {
    const { links } = engineChain(key);
    const unsignedR1 = links.map((l) => (l.nodeId === 'nd_r1' ? { ...l, signature: null } : l));
    // requireSignature is not passed: the requirement is the default.
    const strict = verifyChain(unsignedR1, options({ requireSignature: undefined }));
    expect(strict.verified).toBe(false);
    expect(strict.failed).toEqual(['VERIFY_SIGNATURE_MISSING']);
    expect(codesOf(strict, 'nd_r1', 'signature')).toBe('VERIFY_SIGNATURE_MISSING');
    expect(strict.unsigned).toEqual(['nd_r1']);

    const relaxed = verifyChain(unsignedR1, options({ requireSignature: undefined, allowUnsigned: true }));
    expect(relaxed.failed).toEqual([]);
    expect(relaxed.verified).toBe(true);
    expect(relaxed.allow_unsigned).toBe(true);
    expect(relaxed.unsigned).toEqual(['nd_r1']);
    expect(link(relaxed, 'nd_r1').unsigned).toBe(true);
    expect(link(relaxed, 'nd_r2').unsigned).toBe(false);
    expect(codesOf(relaxed, 'nd_r1', 'signature')).toBe('skipped');
    expect(codesOf(relaxed, 'nd_r2', 'signature')).toBe('pass');
  });

  it('still fails a signature that is present but invalid or untrusted under allowUnsigned', () => {
    const { links } = engineChain(key);
    const relaxed = options({ requireSignature: undefined, allowUnsigned: true });
    const corrupt = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, signature: Buffer.from('{"payloadType":1}') } : l));
    expect(verifyChain(corrupt, relaxed).failed).toEqual(['VERIFY_SIGNATURE_INVALID']);
    const stranger = newSigningKey();
    const foreign = links.map((l) =>
      l.nodeId === 'nd_r2' ? { ...l, signature: Buffer.from(JSON.stringify(signDsse(CERTIFICATE_PAYLOAD_TYPE, l.certificate!, stranger))) } : l,
    );
    expect(verifyChain(foreign, relaxed).failed).toEqual(['VERIFY_SIGNATURE_UNTRUSTED']);
    expect(verifyChain(foreign, relaxed).unsigned).toEqual([]);
  });

  it('refuses allowUnsigned together with requireSignature as an input error', () => {
    const { links } = engineChain(key);
    let error: unknown;
    try {
      verifyChain(links, options({ allowUnsigned: true, requireSignature: true }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SwarmError);
    expect((error as SwarmError).code).toBe('INVALID_ARGUMENT');
  });
});

describe('verifyChain: certificates hash to what the catalog recorded', () => {
  it('control: the edited chain passes when nothing binds the bytes (unsigned allowed, no recorded hash)', () => {
    const { links } = engineChain(key);
    const edited = editedR1(links, { dropSignature: true }).map((l) => ({ ...l, recordedArtifactHash: undefined }));
    const report = verifyChain(edited, options({ requireSignature: undefined, allowUnsigned: true }));
    expect(report.verified).toBe(true);
    expect(codesOf(report, 'nd_r1', 'artifact_hash')).toBe('skipped');
  });

  it('fails an edited certificate whose signature was deleted, even with allowUnsigned', () => {
    const { links } = engineChain(key);
    const edited = editedR1(links, { dropSignature: true });
    const strict = verifyChain(edited, options({ requireSignature: undefined }));
    expect(strict.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_MISSING']);
    const relaxed = verifyChain(edited, options({ requireSignature: undefined, allowUnsigned: true }));
    expect(relaxed.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH']);
    expect(link(relaxed, 'nd_r1').checks.find((c) => c.name === 'artifact_hash')?.details).toEqual({
      expected: links[2]!.recordedArtifactHash,
      actual: sha256Digest(edited[2]!.certificate!),
    });
  });

  it('fails an edited certificate re-signed by an untrusted key, or by the trusted key itself', () => {
    const { links } = engineChain(key);
    const byStranger = verifyChain(editedR1(links, { resignWith: newSigningKey() }), options());
    expect(byStranger.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_UNTRUSTED']);
    const byOperator = verifyChain(editedR1(links, { resignWith: key }), options());
    expect(byOperator.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH']);
  });

  it('fails a certified link for which the catalog recorded no artifact hash, or a malformed one', () => {
    const { links } = engineChain(key);
    const none = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, recordedArtifactHash: null } : l));
    expect(codesOf(verifyChain(none, options()), 'nd_r2', 'artifact_hash')).toBe('VERIFY_CERT_HASH_MISMATCH');
    const upper = links.map((l) => (l.nodeId === 'nd_r2' ? { ...l, recordedArtifactHash: l.recordedArtifactHash!.toUpperCase() } : l));
    expect(codesOf(verifyChain(upper, options()), 'nd_r2', 'artifact_hash')).toBe('VERIFY_CERT_HASH_MISMATCH');
  });
});

describe('verifyChain: bundle objects', () => {
  it('passes every link whose object hashes to its recorded bundle_sha256', () => {
    const { links } = engineChain(key, { objectsDir: objectsDir() });
    const report = verifyChain(links, options());
    expect(report.failed).toEqual([]);
    expect(report.links.map((l) => [l.node_id, codesOf(report, l.node_id, 'bundle_object')])).toEqual([
      ['nd_r2', 'pass'],
      ['nd_fork', 'pass'],
      ['nd_r1', 'pass'],
      ['nd_root', 'pass'],
    ]);
  });

  it('fails the links that share a corrupted object (one byte flipped), and only those', () => {
    const { links } = engineChain(key, { objectsDir: objectsDir() });
    const file = links[2]!.bundleObject!; // nd_r1's bundle, shared by nd_fork
    const bytes = fs.readFileSync(file);
    bytes[3] = bytes[3]! ^ 0x01;
    fs.writeFileSync(file, bytes);
    const report = verifyChain(links, options());
    expect(report.failed).toEqual(['VERIFY_CHAIN_BUNDLE_MISMATCH', 'VERIFY_CHAIN_BUNDLE_MISMATCH']);
    expect(codesOf(report, 'nd_fork', 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');
    expect(codesOf(report, 'nd_r1', 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');
    expect(codesOf(report, 'nd_r2', 'bundle_object')).toBe('pass');
    expect(link(report, 'nd_r1').checks.find((c) => c.name === 'bundle_object')?.details).toMatchObject({ expected: links[2]!.state.bundle_sha256, actual: sha256Digest(bytes) });
  });

  it('reports a missing object as skipped, and fails a directory or a malformed recorded digest', () => {
    const { links } = engineChain(key, { objectsDir: objectsDir() });
    fs.rmSync(links[0]!.bundleObject!);
    const missing = verifyChain(links, options());
    expect(missing.verified).toBe(true);
    expect(codesOf(missing, 'nd_r2', 'bundle_object')).toBe('skipped');
    expect(link(missing, 'nd_r2').checks.find((c) => c.name === 'bundle_object')?.details).toMatchObject({ present: false });

    fs.mkdirSync(links[0]!.bundleObject!);
    expect(codesOf(verifyChain(links, options()), 'nd_r2', 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');

    const bad = links.map((l) => (l.kind === 'root' ? { ...l, state: { ...l.state, bundle_sha256: 'sha256:../../etc' } } : l));
    expect(codesOf(verifyChain(bad, options()), 'nd_root', 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');
  });
});

describe('sha256OfFile', () => {
  it('hashes exactly the file bytes across chunk boundaries', () => {
    const file = path.join(tmp, 'chunks.bin');
    const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 37) % 256));
    fs.writeFileSync(file, bytes);
    for (const chunk of [1, 7, 50, 99, 100, 101, 4096]) {
      expect(sha256OfFile(file, chunk)).toEqual({ status: 'hashed', digest: sha256Digest(bytes), size: 100 });
    }
    fs.writeFileSync(file, '');
    expect(sha256OfFile(file, 7)).toEqual({ status: 'hashed', digest: sha256Digest(''), size: 0 });
    expect(sha256OfFile(path.join(tmp, 'absent')).status).toBe('missing');
    expect(sha256OfFile(tmp).status).toBe('not-a-file');
  });
});
