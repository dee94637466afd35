import { failed, passed, type CheckResult } from '../report.js';
import type { CertificateInput, CheckContext } from './context.js';

/** 1. schema: the certificate parses and satisfies the certificate schema; every bad field at once. */
export function checkSchema(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.parseError !== null || ctx.validation === null) {
    return failed('schema', 'VERIFY_SCHEMA_INVALID', ctx.parseError ?? 'certificate did not parse', {
      errors: [{ path: '', keyword: 'json', message: ctx.parseError ?? 'did not parse' }],
    });
  }
  // Unknown critical_* keys are their own check (next), so they are not counted twice here.
  const errors = ctx.validation.errors.filter((e) => e.keyword !== 'critical');
  if (errors.length > 0) {
    const list = errors.map((e) => `${e.path || '/'} ${e.message}`).join('; ');
    return failed('schema', 'VERIFY_SCHEMA_INVALID', `${errors.length} schema error${errors.length === 1 ? '' : 's'}: ${list}`, { errors });
  }
  const flavour = ctx.document?.swarm === undefined ? 'v1 certificate (no swarm block)' : 'certificate written by swarm';
  return passed('schema', `valid loom-agent-run-v1 ${flavour}`);
}
