import { failed, passed, skipped, type CheckResult } from '../report.js';
import { field, type CertificateInput, type CheckContext } from './context.js';

const PIN_RE = /^[0-9a-f]{40}$/;

export type WorkflowPin = { pinned: true; commit: string } | { pinned: false; problem: string };

/**
 * The commit a workflow_ref is pinned to: the text after its LAST `@`, which must be exactly 40
 * lowercase hex digits. Anything else (a branch, a short or uppercase id, no `@`) is unpinned.
 */
export function workflowRefPin(workflowRef: unknown): WorkflowPin {
  if (typeof workflowRef !== 'string' || workflowRef.trim() === '') return { pinned: false, problem: 'runtime.workflow_ref is missing' };
  const at = workflowRef.lastIndexOf('@');
  if (at < 0) return { pinned: false, problem: `workflow_ref ${JSON.stringify(workflowRef)} has no @<commit>` };
  const pin = workflowRef.slice(at + 1);
  if (PIN_RE.test(pin)) return { pinned: true, commit: pin };
  let why = 'is not a commit id';
  if (/^[0-9a-fA-F]{40}$/.test(pin)) why = 'is not lowercase';
  else if (/^[0-9a-fA-F]+$/.test(pin)) why = `has ${pin.length} hex digits, not 40`;
  return { pinned: false, problem: `workflow_ref pin ${JSON.stringify(pin)} ${why}` };
}

/** 4. commit_pin: the commit pinned in runtime.workflow_ref is the required commit. */
export function checkCommitPin(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.requiredCommit === null) return skipped('commit_pin', 'no required commit given');
  if (ctx.document === null) return skipped('commit_pin', 'certificate did not parse');
  const workflowRef = field(ctx.document, 'runtime', 'workflow_ref');
  const pin = workflowRefPin(workflowRef);
  if (!pin.pinned) {
    return failed('commit_pin', 'WORKFLOW_REF_UNPINNED', pin.problem, {
      workflow_ref: typeof workflowRef === 'string' ? workflowRef : null,
      required: ctx.requiredCommit,
    });
  }
  if (pin.commit !== ctx.requiredCommit) {
    return failed('commit_pin', 'VERIFY_COMMIT_MISMATCH', `workflow_ref is pinned to ${pin.commit}, required ${ctx.requiredCommit}`, {
      pinned: pin.commit,
      required: ctx.requiredCommit,
    });
  }
  return passed('commit_pin', `workflow_ref is pinned to ${pin.commit}`, { pinned: pin.commit });
}
