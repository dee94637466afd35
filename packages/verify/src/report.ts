/**
 * What every check returns, and the reports the verify functions build from them. A report is
 * plain JSON: it goes into the `data` of a success envelope and the `details` of VERIFY_FAILED.
 */
import './errors.js';
import { SwarmError } from '@swarm/core';
import type { CheckCode } from './errors.js';

export type CheckStatus = 'pass' | 'fail' | 'skipped';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** One line saying why: what matched, what differed, or why the check did not apply. */
  reason: string;
  /** Set exactly when status is 'fail'. */
  code?: CheckCode;
  /** Machine-readable facts behind the reason (expected/actual digests, bad field paths, signer). */
  details?: Record<string, unknown>;
}

export function passed(name: string, reason: string, details?: Record<string, unknown>): CheckResult {
  return details === undefined ? { name, status: 'pass', reason } : { name, status: 'pass', reason, details };
}

export function failed(name: string, code: CheckCode, reason: string, details?: Record<string, unknown>): CheckResult {
  return details === undefined ? { name, status: 'fail', reason, code } : { name, status: 'fail', reason, code, details };
}

export function skipped(name: string, reason: string, details?: Record<string, unknown>): CheckResult {
  return details === undefined ? { name, status: 'skipped', reason } : { name, status: 'skipped', reason, details };
}

/** The codes of the failed checks, in pipeline order. */
export function failedCodes(checks: readonly CheckResult[]): CheckCode[] {
  return checks.filter((c) => c.status === 'fail').map((c) => c.code as CheckCode);
}

export interface CertificateReport {
  kind: 'certificate';
  verified: boolean;
  /** Where the certificate came from (a path, or a label for in-memory bytes). */
  certificate: string;
  /** sha256 of the exact certificate bytes, always computed. */
  artifact_hash: string;
  job_id: string | null;
  /** How the certified step ended, as the certificate says (swarm.status / swarm.exit_code). */
  run: { status: 'succeeded' | 'failed' | null; exit_code: number | null };
  checks: CheckResult[];
  /** Codes of the failed checks, in order; empty when verified. */
  failed: CheckCode[];
  /** Which policy and signature files were used and whether they were found beside the certificate. */
  inputs: {
    policy: { path: string; discovered: boolean } | null;
    signature: { path: string; discovered: boolean } | null;
  };
}

export interface ChainLinkReport {
  node_id: string;
  parent_node_id: string | null;
  kind: string;
  verified: boolean;
  artifact_hash: string | null;
  /** The link carries a certificate but no DSSE envelope (a failure unless unsigned links are allowed). */
  unsigned: boolean;
  checks: CheckResult[];
  failed: CheckCode[];
}

export interface ChainReport {
  kind: 'chain';
  verified: boolean;
  node: string;
  /** Links from the node back to root, in that order. */
  links: ChainLinkReport[];
  /** Whether links without a signature were accepted (`--allow-unsigned`). */
  allow_unsigned: boolean;
  /** Node ids of the links whose certificate has no signature, leaf first. */
  unsigned: string[];
  /** Checks about the chain as a whole (it ends at a root, every parent pointer matches). */
  checks: CheckResult[];
  failed: CheckCode[];
}

export interface ProofReport {
  kind: 'proof';
  verified: boolean;
  proof: string;
  public_inputs: string;
  proof_system: string | null;
  public_inputs_sha256: string;
  checks: CheckResult[];
  failed: CheckCode[];
}

export type VerifyReport = CertificateReport | ChainReport | ProofReport;

/** The error a verify command fails with: exit 3, the whole report in `details`. */
export function verificationFailure(report: VerifyReport): SwarmError {
  const what = report.kind === 'certificate' ? 'certificate' : report.kind === 'chain' ? `chain of ${report.node}` : 'proof';
  return new SwarmError('VERIFY_FAILED', `${what} verification failed: ${[...new Set(report.failed)].join(', ')}`, {
    details: report,
    hint: 'each check is listed with its reason; a fail means the input was altered or is not trusted',
  });
}

/** Human text: one line per check, grouped per chain link. */
export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  const verdict = report.verified ? 'verified' : 'FAILED';
  if (report.kind === 'certificate') {
    lines.push(`${verdict}: ${report.certificate} (${report.artifact_hash})`);
    const exit = report.run.exit_code === null ? '' : `, exit code ${report.run.exit_code}`;
    lines.push(`  step: ${report.run.status ?? 'unknown'}${exit}`);
    lines.push(...formatChecks(report.checks, '  '));
  } else if (report.kind === 'proof') {
    lines.push(`${verdict}: proof ${report.proof} (${report.proof_system ?? 'unknown system'})`);
    lines.push(...formatChecks(report.checks, '  '));
  } else {
    lines.push(`${verdict}: chain of ${report.node} (${report.links.length} node${report.links.length === 1 ? '' : 's'})`);
    lines.push(...formatChecks(report.checks, '  '));
    for (const link of report.links) {
      lines.push(`  ${link.kind} ${link.node_id}${link.unsigned ? ' (unsigned)' : ''}${link.verified ? '' : ' FAILED'}`);
      lines.push(...formatChecks(link.checks, '    '));
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatChecks(checks: readonly CheckResult[], indent: string): string[] {
  const width = Math.max(0, ...checks.map((c) => c.name.length));
  return checks.map((c) => {
    const status = c.status.padEnd(7);
    const code = c.code ? ` [${c.code}]` : '';
    return `${indent}${status} ${c.name.padEnd(width)}  ${c.reason}${code}`;
  });
}
