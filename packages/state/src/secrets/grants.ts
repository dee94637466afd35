/**
 * `run launch --secret NAME[=ENVVAR]`: the stored secrets a run is granted, as the variables the
 * step gets and the values the log redactor must hide. Every secret is read before anything is
 * recorded, then each granted secret gets one `grant` line in the audit log.
 */
import { SwarmError, isValidName } from '@swarm/core';
import { ENV_NAME, RESERVED_ENV } from '../engine/step-env.js';
import { appendAudit } from './audit.js';
import { SECRET_NAME, isIsoTime } from './names.js';
import { readSecret } from './store.js';
import './errors.js';

export interface SecretGrant {
  /** The stored secret. */
  name: string;
  /** The variable the step sees it as. */
  env: string;
}

export interface ResolvedSecretGrants {
  env: Record<string, string>;
  /** Every granted value once, for the redactor. */
  values: string[];
  /** For the policy: names and variables, never values. */
  names: SecretGrant[];
}

function invalid(spec: string, why: string): SwarmError {
  return new SwarmError('SECRET_GRANT_INVALID', `--secret ${JSON.stringify(spec)}: ${why}`, {
    details: { spec },
    hint: '--secret NAME or --secret NAME=ENVVAR, where NAME is a stored secret (`swarm secret list`)',
  });
}

/** Parses `NAME` or `NAME=ENVVAR` (ENVVAR defaults to NAME). */
export function parseSecretGrant(spec: string): SecretGrant {
  const at = spec.indexOf('=');
  const name = at === -1 ? spec : spec.slice(0, at);
  const env = at === -1 ? spec : spec.slice(at + 1);
  if (!SECRET_NAME.test(name)) throw invalid(spec, `${JSON.stringify(name)} is not a secret name`);
  if (!ENV_NAME.test(env)) throw invalid(spec, `${JSON.stringify(env)} is not a variable name`);
  if (RESERVED_ENV.test(env)) throw invalid(spec, `swarm sets ${env} itself`);
  return { name, env };
}

export function resolveSecretGrants(home: string, specs: string[], context: { runId: string; at: string }): ResolvedSecretGrants {
  if (!isValidName(context.runId)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(context.runId)}`);
  if (!isIsoTime(context.at)) throw new SwarmError('INVALID_ARGUMENT', `grant time ${JSON.stringify(context.at)} is not an ISO time`);
  const names: SecretGrant[] = [];
  for (const spec of specs) {
    const grant = parseSecretGrant(spec);
    const same = names.find((g) => g.env === grant.env);
    if (same && same.name === grant.name) continue;
    if (same) throw invalid(spec, `${grant.env} is already granted secret ${same.name}`);
    names.push(grant);
  }
  const byName = new Map<string, string>();
  for (const { name } of names) if (!byName.has(name)) byName.set(name, readSecret(home, name));
  appendAudit(
    home,
    [...byName.keys()].map((name) => ({ action: 'grant' as const, name, run_id: context.runId, at: context.at })),
  );
  return {
    env: Object.fromEntries(names.map(({ name, env }) => [env, byName.get(name)!])),
    values: [...new Set(byName.values())],
    names,
  };
}
