import { failed, passed, skipped, type CheckResult } from '../report.js';
import type { CertificateInput, CheckContext } from './context.js';

/** 2. critical: no key starting with critical_ that this verifier does not understand, at any depth. */
export function checkCritical(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.validation === null) return skipped('critical', 'certificate did not parse');
  const paths = ctx.validation.errors.filter((e) => e.keyword === 'critical').map((e) => e.path);
  if (paths.length > 0) {
    return failed('critical', 'VERIFY_CRITICAL_EXTENSION', `unknown critical extension${paths.length === 1 ? '' : 's'} at ${paths.join(', ')}`, { paths });
  }
  return passed('critical', 'no unknown critical_ keys');
}
