/**
 * The environment a step gets (docs/security.md): default-deny, so the caller's tokens and keys
 * never reach it unless the operator grants them by name.
 */
import os from 'node:os';
import { SwarmError } from '@swarm/core';
import { MIN_SECRET_LENGTH } from '../run/redact.js';

/** Taken from the caller's environment; `*` ends a prefix. */
export const STEP_BASE_ENV = ['PATH', 'LANG', 'LANGUAGE', 'LC_*', 'TERM', 'TZ', 'COLORTERM', 'NO_COLOR'] as const;

/** Names a step may not be granted: they would steer swarm or bypass the broker. */
export const RESERVED_ENV = /^(SWARM_.*|HOME|(https?|all|no|ftp)_proxy)$/i;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MIN_PASSED_VALUE = MIN_SECRET_LENGTH;

export interface GrantedEnvironment {
  env: Record<string, string>;
  /** Values passed from the caller's environment: the log redactor hides them. */
  secrets: string[];
  /** Names for the policy (never values). */
  granted: string[];
  passed: string[];
}

export function stepBaseEnv(env: NodeJS.ProcessEnv, home: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (STEP_BASE_ENV.some((name) => (name.endsWith('*') ? k.startsWith(name.slice(0, -1)) : k === name))) out[k] = v;
  }
  out.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  const user = os.userInfo().username;
  return { ...out, HOME: home, USER: user, LOGNAME: user, SHELL: '/bin/sh', TMPDIR: '/tmp' };
}

/** `--env NAME=VALUE` and `--pass-env NAME`, checked before anything runs. */
export function grantedEnvironment(env: NodeJS.ProcessEnv, grant: Record<string, string>, pass: string[]): GrantedEnvironment {
  const out: Record<string, string> = {};
  const secrets: string[] = [];
  const check = (name: string, flag: string) => {
    if (!ENV_NAME.test(name)) throw new SwarmError('INVALID_ARGUMENT', `${flag} ${JSON.stringify(name)}: not a variable name`);
    if (RESERVED_ENV.test(name)) throw new SwarmError('INVALID_ARGUMENT', `${flag} ${name}: swarm sets this variable itself`);
  };
  for (const [name, value] of Object.entries(grant)) {
    check(name, '--env');
    out[name] = value;
  }
  for (const name of pass) {
    check(name, '--pass-env');
    const value = env[name];
    if (value === undefined) throw new SwarmError('INVALID_ARGUMENT', `--pass-env ${name}: the variable is not set`);
    // Passed values are redacted from the log; one too short to find reliably cannot be promised that.
    if (value.length < MIN_PASSED_VALUE) {
      throw new SwarmError('INVALID_ARGUMENT', `--pass-env ${name}: its value is shorter than ${MIN_PASSED_VALUE} characters and could not be redacted reliably`, {
        hint: `give it with --env ${name}=… instead (recorded by name; its value is not treated as a secret)`,
      });
    }
    out[name] = value;
    secrets.push(value);
  }
  return { env: out, secrets, granted: Object.keys(grant).sort(), passed: [...new Set(pass)].sort() };
}
