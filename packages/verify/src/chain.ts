/**
 * `verify chain`: a node's chain back to root. Every certificate goes through the certificate
 * pipeline (its nonce must be unique within the chain, but no store is consumed) and must be
 * signed by a trusted key and hash to what the catalog recorded; every link must match its
 * neighbours: a run's parent_state is its parent's state and its result.new_state is its own; a
 * fork keeps its parent's bundle under a new state id and step. Bundle objects the store holds
 * must hash to their recorded digest.
 */
import { SwarmError, type ChainLink, clockFromEnv, swarmHome, type Clock } from '@swarm/core';
import { verifyCertificate } from './certificate.js';
import { checkBundleObject, type ObjectDigests } from './checks/bundle-object.js';
import { field } from './checks/context.js';
import { checkRecordedArtifactHash } from './checks/recorded-artifact.js';
import { isRecord, parseJsonBytes } from './input-files.js';
import { failed, failedCodes, passed, skipped, type ChainLinkReport, type ChainReport, type CheckResult } from './report.js';
import { MemoryReplayStore } from './replay-store.js';
import { parsePublicKey, resolveTrustedKeys, type TrustOptions, type TrustedKey } from './trust-store.js';

export interface ChainState {
  state_id: string;
  bundle_sha256: string;
  ratchet_step: number;
}

export type { ChainLink };

export interface VerifyChainOptions extends TrustOptions {
  /** How the starting node is named in the report (the reference the user gave). */
  node?: string;
  requirePolicy?: boolean;
  /** Accept links whose certificate binds a policy that the store does not hold. */
  skipPolicy?: boolean;
  /**
   * Accept links whose certificate has no DSSE envelope (each is reported as unsigned). A
   * signature that is present must still verify under a trusted key.
   */
  allowUnsigned?: boolean;
  /** Signatures are required by default; kept for callers that ask explicitly. Conflicts with allowUnsigned. */
  requireSignature?: boolean;
  /**
   * Also fail links whose replay window has closed. Off by default: a chain is history, and a
   * link's window normally closed long after it was accepted.
   */
  checkReplayExpiry?: boolean;
  /** Default: SOURCE_DATE_EPOCH from `env`, else the system clock. */
  clock?: Clock;
  /** Environment for the defaults of `home` and `clock` (default: process.env). */
  env?: NodeJS.ProcessEnv;
  trusted?: readonly TrustedKey[];
}

export function verifyChain(links: readonly ChainLink[], options: VerifyChainOptions = {}): ChainReport {
  if (options.allowUnsigned && options.requireSignature) {
    throw new SwarmError('INVALID_ARGUMENT', '--allow-unsigned and --require-signature contradict each other', {
      hint: 'signatures are required by default; pass --allow-unsigned only to accept unsigned links',
    });
  }
  if (options.skipPolicy && options.requirePolicy) {
    throw new SwarmError('INVALID_ARGUMENT', '--skip-policy and --require-policy contradict each other');
  }
  const env = options.env ?? process.env;
  const home = options.home ?? swarmHome(env);
  const clock = options.clock ?? clockFromEnv(env);
  let trusted = options.trusted;
  const trustedKeys = (): readonly TrustedKey[] => (trusted ??= resolveTrustedKeys({ ...options, home }));
  // Bad --trusted-key values are input errors even when no link is signed.
  if (!trusted) for (const key of options.trustedKeys ?? []) parsePublicKey(key);
  const run: LinkRun = { options: { ...options, clock }, nonces: new MemoryReplayStore(), trustedKeys, objects: new Map() };
  // Oldest first, so when a nonce repeats it is the later link that is reported as the replay.
  const linkReports = links
    .map((link, i) => ({ link, parent: links[i + 1] ?? null }))
    .reverse()
    .map(({ link, parent }) => verifyLink(link, parent, run))
    .reverse();
  const checks = [checkLinkage(links), checkEndsAtRoot(links)];
  const failures = [...failedCodes(checks), ...linkReports.flatMap((l) => l.failed)];
  return {
    kind: 'chain',
    verified: failures.length === 0,
    node: options.node ?? links[0]?.nodeId ?? '(empty)',
    links: linkReports,
    allow_unsigned: options.allowUnsigned ?? false,
    unsigned: linkReports.filter((l) => l.unsigned).map((l) => l.node_id),
    checks,
    failed: failures,
  };
}

/** What every link of one verification shares. */
interface LinkRun {
  options: VerifyChainOptions;
  /** Nonces seen so far in this chain. */
  nonces: MemoryReplayStore;
  trustedKeys: () => readonly TrustedKey[];
  objects: ObjectDigests;
}

/** Every link's parent pointer names the next link. */
function checkLinkage(links: readonly ChainLink[]): CheckResult {
  if (links.length === 0) return failed('linkage', 'VERIFY_CHAIN_BROKEN', 'the chain is empty');
  for (let i = 0; i + 1 < links.length; i++) {
    const link = links[i]!;
    const next = links[i + 1]!;
    if (link.parentNodeId !== next.nodeId) {
      return failed('linkage', 'VERIFY_CHAIN_BROKEN', `node ${link.nodeId} has parent ${link.parentNodeId ?? 'none'}, but the chain continues with ${next.nodeId}`, {
        node_id: link.nodeId,
        parent_node_id: link.parentNodeId,
        next_node_id: next.nodeId,
      });
    }
  }
  return passed('linkage', `${links.length} node${links.length === 1 ? '' : 's'}, each pointing to the next`);
}

/** The chain ends at the one root, and nothing before it claims to be a root. */
function checkEndsAtRoot(links: readonly ChainLink[]): CheckResult {
  const last = links[links.length - 1];
  if (!last) return failed('root', 'VERIFY_CHAIN_BROKEN', 'the chain is empty');
  if (last.kind !== 'root' || last.parentNodeId !== null) {
    return failed('root', 'VERIFY_CHAIN_BROKEN', `the chain ends at ${last.kind} node ${last.nodeId}, not at a root`, { node_id: last.nodeId });
  }
  const early = links.slice(0, -1).find((l) => l.kind === 'root');
  if (early) return failed('root', 'VERIFY_CHAIN_BROKEN', `root node ${early.nodeId} appears before the end of the chain`, { node_id: early.nodeId });
  return passed('root', `the chain ends at the root node ${last.nodeId}`);
}

/**
 * seed: the operator's own starting point (a `--workspace` launch), directly on the root. Like the
 * root it has no certificate; what it holds is bound by the next run's certificate (parent_state)
 * and, where the store has it, by its bundle's digest.
 */
function checkSeed(link: ChainLink, parent: ChainLink | null): CheckResult {
  if (parent === null || parent.kind !== 'root' || link.state.ratchet_step !== parent.state.ratchet_step + 1) {
    return failed('seed', 'VERIFY_CHAIN_BROKEN', `seed node ${link.nodeId} does not sit directly on the root`, { node_id: link.nodeId });
  }
  return passed('seed', `the chain was seeded with bundle ${link.state.bundle_sha256}`);
}

function verifyLink(link: ChainLink, parent: ChainLink | null, run: LinkRun): ChainLinkReport {
  const { options } = run;
  let checks: CheckResult[];
  let artifactHash: string | null = null;
  let unsigned = false;
  if (link.kind === 'root') {
    checks = [passed('root', 'the empty root: nothing to verify')];
  } else if (link.kind === 'fork') {
    checks = [checkFork(link, parent)];
  } else if (link.kind === 'import' && link.status === 'seeded' && link.certificate === null) {
    checks = [checkSeed(link, parent)];
  } else if (link.certificate === null) {
    checks = [failed('certificate', 'VERIFY_CHAIN_CERT_MISSING', `${link.kind} node ${link.nodeId} has no certificate`)];
  } else {
    const report = verifyCertificate(
      { certificate: link.certificate, policy: link.policy, signature: link.signature },
      {
        requirePolicy: options.requirePolicy,
        skipPolicy: options.skipPolicy,
        requireSignature: !options.allowUnsigned,
        clock: options.clock,
        replayStore: run.nonces,
        consumeNonce: true,
        checkReplayExpiry: options.checkReplayExpiry ?? false,
        trusted: run.trustedKeys,
      },
    );
    artifactHash = report.artifact_hash;
    unsigned = link.signature === null;
    const document = parseDocument(link.certificate);
    checks = [
      ...report.checks.map((c) => chainCertificateCheck(c, link, report.artifact_hash)),
      checkParentState(document, parent),
      checkNewState(document, link),
    ];
  }
  checks.push(checkBundleObject(link, run.objects));
  const failures = failedCodes(checks);
  return {
    node_id: link.nodeId,
    parent_node_id: link.parentNodeId,
    kind: link.kind,
    verified: failures.length === 0,
    artifact_hash: artifactHash,
    unsigned,
    checks,
    failed: failures,
  };
}

/**
 * In a chain the expected artifact hash is the one the catalog recorded, and an unsigned link
 * (only reachable with allowUnsigned) says so in its signature check.
 */
function chainCertificateCheck(check: CheckResult, link: ChainLink, artifactHash: string): CheckResult {
  if (check.name === 'artifact_hash') return checkRecordedArtifactHash(link, artifactHash);
  if (check.name === 'signature' && check.status === 'skipped') return skipped('signature', 'unsigned: the certificate has no DSSE envelope (allowed by --allow-unsigned)');
  return check;
}

function parseDocument(bytes: Buffer): Record<string, unknown> | null {
  const parsed = parseJsonBytes(bytes);
  return parsed.ok && isRecord(parsed.value) ? parsed.value : null;
}

const STATE_FIELDS = ['state_id', 'bundle_sha256', 'ratchet_step'] as const;

/** Fields of `claimed` that differ from `actual`; a field absent from `claimed` is listed in `absent`. */
function stateDifferences(claimed: unknown, actual: ChainState): { differ: string[]; absent: string[] } {
  const differ: string[] = [];
  const absent: string[] = [];
  for (const key of STATE_FIELDS) {
    const value = isRecord(claimed) ? claimed[key] : undefined;
    if (value === undefined) absent.push(key);
    else if (value !== actual[key]) differ.push(key);
  }
  return { differ, absent };
}

function checkParentState(document: Record<string, unknown> | null, parent: ChainLink | null): CheckResult {
  if (document === null) return skipped('parent_state', 'certificate did not parse');
  if (parent === null) return skipped('parent_state', 'the node has no parent in the chain');
  const claimed = field(document, 'parent_state');
  const { differ, absent } = stateDifferences(claimed, parent.state);
  const wrong = [...differ, ...absent];
  if (wrong.length > 0) {
    return failed('parent_state', 'VERIFY_CHAIN_PARENT_MISMATCH', `parent_state differs from parent node ${parent.nodeId} in ${wrong.join(', ')}`, {
      fields: wrong,
      claimed: isRecord(claimed) ? claimed : null,
      parent: parent.state,
    });
  }
  return passed('parent_state', `matches parent node ${parent.nodeId} (${parent.state.state_id}, step ${parent.state.ratchet_step})`);
}

function checkNewState(document: Record<string, unknown> | null, link: ChainLink): CheckResult {
  if (document === null) return skipped('new_state', 'certificate did not parse');
  const claimed = field(document, 'result', 'new_state');
  const { differ, absent } = stateDifferences(claimed, link.state);
  // v1 certificates may leave out new_state.ratchet_step; state id and bundle digest still bind.
  const missing = absent.filter((key) => key !== 'ratchet_step');
  const wrong = [...differ, ...missing];
  if (wrong.length > 0) {
    return failed('new_state', 'VERIFY_CHAIN_STATE_MISMATCH', `result.new_state differs from node ${link.nodeId} in ${wrong.join(', ')}`, {
      fields: wrong,
      claimed: isRecord(claimed) ? claimed : null,
      node: link.state,
    });
  }
  const note = absent.includes('ratchet_step') ? ' (the certificate records no ratchet_step)' : '';
  return passed('new_state', `matches node ${link.nodeId} (${link.state.state_id})${note}`);
}

/** A fork shares its parent's sealed bundle but has its own state id and ratchet step. */
function checkFork(link: ChainLink, parent: ChainLink | null): CheckResult {
  if (parent === null) return failed('fork', 'VERIFY_CHAIN_FORK_MISMATCH', `fork node ${link.nodeId} has no parent in the chain`);
  const problems: string[] = [];
  if (link.state.bundle_sha256 !== parent.state.bundle_sha256) problems.push('bundle_sha256 differs from the parent');
  if (link.state.state_id === parent.state.state_id) problems.push('state_id is the parent’s');
  if (link.state.ratchet_step === parent.state.ratchet_step) problems.push('ratchet_step is the parent’s');
  if (problems.length > 0) {
    return failed('fork', 'VERIFY_CHAIN_FORK_MISMATCH', `fork node ${link.nodeId}: ${problems.join('; ')}`, {
      fork: link.state,
      parent: parent.state,
    });
  }
  return passed('fork', `shares bundle ${link.state.bundle_sha256} with ${parent.nodeId} under state ${link.state.state_id}, step ${link.state.ratchet_step}`);
}
