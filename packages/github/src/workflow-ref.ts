/**
 * Pinned workflow refs: `owner/repo/.github/workflows/<file>@<40 lowercase hex>`. A branch or tag
 * after the `@` can move under a run, so remote runs refuse it.
 */
import { SwarmError } from '@swarm/core';
import './errors.js';

export interface WorkflowRef {
  owner: string;
  repo: string;
  /** `owner/repo`. */
  fullName: string;
  /** `.github/workflows/<file>`. */
  path: string;
  file: string;
  /** The 40-hex commit the run must execute at. */
  pin: string;
  /** The ref as written back: `owner/repo/.github/workflows/<file>@<pin>`. */
  text: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const FILE = /^[A-Za-z0-9_.-]{1,200}\.ya?ml$/;
export const PIN = /^[0-9a-f]{40}$/;

export function parseWorkflowRef(text: string): WorkflowRef {
  const invalid = (why: string) =>
    new SwarmError('WORKFLOW_REF_INVALID', `invalid workflow ref ${JSON.stringify(text)}: ${why}`, {
      hint: 'write owner/repo/.github/workflows/<file>.yml@<40-hex commit>',
      details: { workflow_ref: text },
    });
  const at = text.lastIndexOf('@');
  if (at < 0) {
    throw new SwarmError('WORKFLOW_REF_UNPINNED', `workflow ref ${JSON.stringify(text)} names no commit`, {
      hint: 'append @<40-hex commit> (the commit `swarm github setup` printed)',
      details: { workflow_ref: text },
    });
  }
  const left = text.slice(0, at);
  const pin = text.slice(at + 1);
  const parts = left.split('/');
  if (parts.length !== 5 || parts[2] !== '.github' || parts[3] !== 'workflows') throw invalid('the path must be .github/workflows/<file>');
  const [owner, repo, , , file] = parts as [string, string, string, string, string];
  if (!NAME.test(owner) || !NAME.test(repo) || owner.startsWith('.') || repo.startsWith('.')) throw invalid('bad owner or repository name');
  if (!FILE.test(file)) throw invalid('the workflow file must be a .yml or .yaml name');
  if (!PIN.test(pin)) {
    if (/^[0-9a-fA-F]{40}$/.test(pin)) throw invalid('the commit must be lowercase hex');
    throw new SwarmError('WORKFLOW_REF_UNPINNED', `workflow ref ${JSON.stringify(text)} is pinned to ${JSON.stringify(pin)}, not a 40-hex commit`, {
      hint: 'a branch or tag can move under a run; pin the commit',
      details: { workflow_ref: text, ref: pin },
    });
  }
  return { owner, repo, fullName: `${owner}/${repo}`, path: `.github/workflows/${file}`, file, pin, text: `${left}@${pin}` };
}

export function parseRepo(text: string): { owner: string; repo: string; fullName: string } {
  const parts = text.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p) && !p.startsWith('.'))) {
    throw new SwarmError('GH_REPO_INVALID', `invalid repository ${JSON.stringify(text)}`, { hint: 'write owner/name' });
  }
  return { owner: parts[0]!, repo: parts[1]!, fullName: text };
}

export const REQUEST_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function checkRequestId(id: string): string {
  if (!REQUEST_ID.test(id)) throw new SwarmError('REQUEST_ID_INVALID', `invalid request id ${JSON.stringify(id)}`, { hint: '1–63 of a-z 0-9 -, starting with a letter or digit' });
  return id;
}
