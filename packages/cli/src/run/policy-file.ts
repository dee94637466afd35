/** `--policy-file`: the allowlist, route mode and timeout a run takes from a JSON policy. */
import path from 'node:path';
import { SwarmError, parseStrictJson, readBoundedFile, type RouteMode } from '@swarm/core';

/** Node timers hold at most 2^31-1 ms; below a millisecond a timeout would round to none. */
export const MIN_TIMEOUT_S = 0.001;
export const MAX_TIMEOUT_S = 2_147_483;

export interface PolicyInput {
  allowlist: string[];
  routeMode?: RouteMode;
  timeoutS?: number;
}

const MAX_POLICY_FILE_BYTES = 1024 * 1024;

export function readPolicyFile(file: string, cwd: string): PolicyInput {
  // Bounded: `--policy-file /dev/zero` or a FIFO is a coded error, never a read that does not end.
  const bytes = readBoundedFile(path.resolve(cwd, file), { what: 'policy file', maxBytes: MAX_POLICY_FILE_BYTES });
  // The same strict reading as `schema validate` and `verify`: no BOM, no lone surrogates.
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} ${parsed.reason}`, { details: { path: file, problem: parsed.problem } });
  }
  const doc = parsed.value;
  // The input fields, and the record fields of an agent_swarm-policy-v1 document (written by a run, or
  // by another implementation), which describe the run that wrote them and are accepted but not applied.
  const knownKeys: Record<string, readonly string[] | null> = {
    schema_version: null,
    route_mode: null,
    egress: ['allowlist', 'sandbox'],
    limits: ['timeout_s'],
    backend: null,
    step: null,
    env: null,
    workspace: null,
    restore: null,
    workflow_ref: null,
    generated_at: null,
    swarm: null,
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(doc)) throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} is not a JSON object`, { details: { path: file } });
  // Fail closed: a misspelt key (`limit`, `egress.allow`) would otherwise be a silently ignored limit.
  const unknown: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    if (!Object.prototype.hasOwnProperty.call(knownKeys, key)) unknown.push(`/${key}`);
    const nested = knownKeys[key];
    if (nested && isObject(value)) for (const inner of Object.keys(value)) if (!nested.includes(inner)) unknown.push(`/${key}/${inner}`);
  }
  if (unknown.length > 0) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file} has unknown keys: ${unknown.join(', ')}`, { details: { path: file, unknown } });
  }
  if (doc.schema_version !== undefined && doc.schema_version !== 'agent_swarm-policy-v1') {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: schema_version must be agent_swarm-policy-v1`, { details: { path: file } });
  }
  for (const key of ['egress', 'limits']) {
    if (doc[key] !== undefined && !isObject(doc[key])) throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: ${key} must be an object`, { details: { path: file } });
  }
  const egress = doc.egress as { allowlist?: unknown } | undefined;
  const limits = doc.limits as { timeout_s?: unknown } | undefined;
  const allowlist = egress?.allowlist ?? [];
  if (!Array.isArray(allowlist) || !allowlist.every((h) => typeof h === 'string')) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: egress.allowlist must be a list of hosts`);
  }
  if (doc.route_mode !== undefined && doc.route_mode !== 'direct' && doc.route_mode !== 'client_exit') {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: route_mode must be direct or client_exit`);
  }
  const timeout = limits?.timeout_s;
  // The same range as --timeout: outside it a Node timer would fire at once or never.
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout >= MIN_TIMEOUT_S && timeout <= MAX_TIMEOUT_S)) {
    throw new SwarmError('INVALID_ARGUMENT', `policy file ${file}: limits.timeout_s must be between ${MIN_TIMEOUT_S} and ${MAX_TIMEOUT_S} seconds`, {
      details: { path: file },
    });
  }
  return { allowlist: allowlist as string[], routeMode: doc.route_mode as RouteMode | undefined, timeoutS: (timeout as number | null | undefined) ?? undefined };
}
