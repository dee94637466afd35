import { field, type CertificateInput, type CheckContext } from './context.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';

export interface RunStatus {
  /** `succeeded` or `failed` as the certificate states it (swarm.status, else from swarm.exit_code); null when it says neither. */
  status: 'succeeded' | 'failed' | null;
  exit_code: number | null;
}

/** What the certificate says about its step: swarm.status, or swarm.exit_code when only that is there. */
export function runStatusOf(document: Record<string, unknown> | null): RunStatus {
  const status = field(document, 'swarm', 'status');
  const code = field(document, 'swarm', 'exit_code');
  const exitCode = typeof code === 'number' && Number.isInteger(code) ? code : null;
  if (status === 'succeeded') return { status: exitCode === null || exitCode === 0 ? 'succeeded' : 'failed', exit_code: exitCode };
  if (status === 'failed') return { status: 'failed', exit_code: exitCode };
  if (status === undefined && exitCode !== null) return { status: exitCode === 0 ? 'succeeded' : 'failed', exit_code: exitCode };
  return { status: null, exit_code: exitCode };
}

/**
 * 8. run_status: the step's outcome. Informational unless requireSuccess, which fails a failed run
 * and, failing closed, a certificate that does not say how its step ended.
 */
export function checkRunStatus(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.document === null) return skipped('run_status', 'certificate did not parse');
  const run = runStatusOf(ctx.document);
  const details = { status: run.status, exit_code: run.exit_code };
  const exit = run.exit_code === null ? '' : ` (exit code ${run.exit_code})`;
  if (run.status === 'succeeded') return passed('run_status', `the step succeeded${exit}`, details);
  if (!ctx.requireSuccess) {
    const what = run.status === 'failed' ? `the step FAILED${exit}` : 'the certificate does not say whether the step succeeded';
    return skipped('run_status', `${what}; success not required (--require-success)`, details);
  }
  if (run.status === 'failed') return failed('run_status', 'VERIFY_RUN_NOT_SUCCEEDED', `the step failed${exit}`, details);
  return failed('run_status', 'VERIFY_RUN_NOT_SUCCEEDED', 'success is required but the certificate does not say whether the step succeeded', details);
}
