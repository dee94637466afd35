import type { BaseCommand } from '../../base-command.js';

type VerifyModule = typeof import('@swarm/verify');
type Report = Parameters<VerifyModule['formatReport']>[0];

/**
 * Hands a verification report to the output: the envelope's data on success; on failure the
 * per-check listing goes to stderr (human mode) and VERIFY_FAILED carries the report (exit 3).
 */
export function finishVerification(command: BaseCommand, verify: VerifyModule, report: Report, okMessage: string): number {
  const text = verify.formatReport(report);
  if (!report.verified) {
    if (!command.json) command.output.info(text.trimEnd());
    throw verify.verificationFailure(report);
  }
  command.output.ok(okMessage, report, text);
  return 0;
}
