import { SwarmError } from './errors.js';

/** A parsed node reference: a node id, `root`, `run:<run_id>` or `branch:<label>`. */
export type NodeRef =
  | { kind: 'root' }
  | { kind: 'node'; nodeId: string }
  | { kind: 'run'; runId: string }
  | { kind: 'branch'; label: string };

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function parseNodeRef(text: string): NodeRef {
  const ref = text.trim();
  if (ref === 'root') return { kind: 'root' };
  if (ref.startsWith('run:')) return { kind: 'run', runId: checkName(ref.slice(4), ref) };
  if (ref.startsWith('branch:')) return { kind: 'branch', label: checkName(ref.slice(7), ref) };
  return { kind: 'node', nodeId: checkName(ref, ref) };
}

export function formatNodeRef(ref: NodeRef): string {
  switch (ref.kind) {
    case 'root':
      return 'root';
    case 'node':
      return ref.nodeId;
    case 'run':
      return `run:${ref.runId}`;
    case 'branch':
      return `branch:${ref.label}`;
  }
}

/** Names used for run ids, branch labels and node ids: safe as file names, no separators. */
export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

function checkName(name: string, whole: string): string {
  if (!NAME_RE.test(name)) {
    throw new SwarmError('INVALID_ARGUMENT', `invalid node reference ${JSON.stringify(whole)}`, {
      details: { ref: whole },
      hint: 'use a node id, root, run:<run_id> or branch:<label>',
    });
  }
  return name;
}
