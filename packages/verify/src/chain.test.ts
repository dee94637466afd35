import { describe, expect, it } from 'vitest';
import { fixedClock } from '@swarm/core';
import { verifyChain, type ChainLink, type VerifyChainOptions } from './chain.js';
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
      'parent_state',
      'new_state',
    ]);
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
