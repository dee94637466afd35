/**
 * User configuration in `$SWARM_HOME/config.json` (default `~/.swarm`), with named profiles.
 * A malformed file is an error and is never silently replaced.
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { isMissingFileError, readBoundedFile } from './bounded-file.js';
import { SwarmError, registerErrorCodes } from './errors.js';

registerErrorCodes('core', {
  PROFILE_NAME_INVALID: { category: 'input', description: 'A profile name is not 1-64 letters, digits, `.`, `_` or `-` starting with a letter or digit.' },
});

export const CONFIG_VERSION = 1;
export const DEFAULT_PROFILE = 'default';
/** A config file is a few settings per profile; a bigger one is refused unread. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Starts with a letter or digit, so `__proto__` and friends can never name a profile. */
const PROFILE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export type ConfigValue = string | number | boolean | string[];
export type ProfileSettings = Record<string, ConfigValue>;

export interface ConfigFile {
  version: number;
  default_profile: string;
  profiles: Record<string, ProfileSettings>;
}

interface KeySpec {
  description: string;
  parse(raw: string): ConfigValue;
  check(value: unknown): boolean;
  /** How `config show` prints a value that may hold a secret. */
  display?(value: ConfigValue): ConfigValue;
}

/** A value as `config show` may print it (a password in a proxy URL never is). */
export function displayConfigValue(key: string, value: ConfigValue): ConfigValue {
  return keySpec(key)?.display?.(value) ?? value;
}

/** `http://[user:pass@]host:port`; the proxy package checks it fully where it is used. */
function isProxyUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === 'http:' && url.hostname !== '' && url.pathname === '/' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}

function hidePassword(value: ConfigValue): ConfigValue {
  if (typeof value !== 'string') return value;
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '***';
  }
}

const HOST_RE = /^(\*\.)?[A-Za-z0-9_.-]+(:[0-9]{1,5})?$/;

/** The spec of a registered key; only own entries, so `constructor` or `__proto__` are unknown, not Object's. */
function keySpec(key: string): KeySpec | undefined {
  return Object.hasOwn(CONFIG_KEYS, key) ? CONFIG_KEYS[key] : undefined;
}

export function isValidProfileName(name: string): boolean {
  return typeof name === 'string' && PROFILE_NAME_RE.test(name);
}

function oneOf(values: string[], description: string): KeySpec {
  return {
    description: `${description} (${values.join('|')})`,
    parse: (raw) => {
      if (!values.includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
      return raw;
    },
    check: (v) => typeof v === 'string' && values.includes(v),
  };
}

const boolSpec = (description: string): KeySpec => ({
  description: `${description} (true|false)`,
  parse: (raw) => {
    if (raw !== 'true' && raw !== 'false') throw new Error('must be true or false');
    return raw === 'true';
  },
  check: (v) => typeof v === 'boolean',
});

/** Every key a profile may hold. Unknown keys are rejected on `set` and on load. */
export const CONFIG_KEYS: Readonly<Record<string, KeySpec>> = Object.freeze({
  backend: oneOf(['local', 'github'], 'Default backend for runs'),
  'run.timeout_s': {
    description: 'Default step timeout in seconds (positive number)',
    parse: (raw) => {
      const n = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw) || !(n >= 0.001 && n <= 2_147_483)) throw new Error('must be between 0.001 and 2147483 seconds');
      return n;
    },
    check: (v) => typeof v === 'number' && v >= 0.001 && v <= 2_147_483,
  },
  'run.allow_cold_start': boolSpec('Allow cold starts when a node cannot be restored'),
  'proxy.route_mode': oneOf(['direct', 'client_exit'], 'Default egress route mode'),
  'egress.sandbox': oneOf(
    ['auto', 'require', 'off'],
    'Network sandbox for steps: auto (use it when possible), require, or off (runs then need --unsandboxed-egress)',
  ),
  'egress.upstream_proxy': {
    description:
      "HTTP proxy the broker's own outbound connections go through, http://[user:pass@]host:port (default: the operator's HTTPS_PROXY, then HTTP_PROXY)",
    parse: (raw) => {
      if (!isProxyUrl(raw)) throw new Error('must be an http://[user:pass@]host:port URL');
      return raw;
    },
    check: (v) => typeof v === 'string' && isProxyUrl(v),
    display: hidePassword,
  },
  'egress.allow': {
    description: 'Default egress allowlist, comma-separated hosts (host, *.suffix, optional :port)',
    parse: (raw) => {
      const hosts = raw
        .split(',')
        .map((h) => h.trim())
        .filter((h) => h !== '');
      const bad = hosts.filter((h) => !HOST_RE.test(h));
      if (bad.length > 0) throw new Error(`invalid host pattern(s): ${bad.join(', ')}`);
      return hosts;
    },
    check: (v) => Array.isArray(v) && v.every((h) => typeof h === 'string' && HOST_RE.test(h)),
  },
  'github.repo': {
    description: 'GitHub repository for the github backend (owner/name)',
    parse: (raw) => {
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(raw)) throw new Error('must be owner/name');
      return raw;
    },
    check: (v) => typeof v === 'string' && /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(v),
  },
  'github.action': {
    description: 'The swarm action the worker workflow runs, pinned: owner/repo@<40-hex commit> (a swarm release you trust)',
    parse: (raw) => {
      if (!/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+@[0-9a-f]{40}$/.test(raw)) throw new Error('must be owner/repo@<40 lowercase hex>');
      return raw;
    },
    check: (v) => typeof v === 'string' && /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+@[0-9a-f]{40}$/.test(v),
  },
  'github.workflow': {
    description: 'Worker workflow file name in .github/workflows/',
    parse: (raw) => {
      if (!/^[A-Za-z0-9_.-]+\.ya?ml$/.test(raw)) throw new Error('must be a workflow file name ending in .yml or .yaml');
      return raw;
    },
    check: (v) => typeof v === 'string' && /^[A-Za-z0-9_.-]+\.ya?ml$/.test(v),
  },
  'output.color': oneOf(['auto', 'always', 'never'], 'Colour in human output'),
});

export function swarmHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SWARM_HOME?.trim();
  return fromEnv ? path.resolve(fromEnv) : path.join(os.homedir(), '.swarm');
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(swarmHome(env), 'config.json');
}

export function emptyConfig(): ConfigFile {
  return { version: CONFIG_VERSION, default_profile: DEFAULT_PROFILE, profiles: { [DEFAULT_PROFILE]: {} } };
}

/** Reads the config; a missing file is the empty config, a malformed one is CONFIG_INVALID. */
export function loadConfig(file: string = configPath()): ConfigFile {
  let text: string;
  try {
    text = readBoundedFile(file, { what: 'config file', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (cause) {
    if (isMissingFileError(cause)) return emptyConfig();
    throw new SwarmError('CONFIG_INVALID', `cannot read config file ${file}`, { details: { path: file, cause_code: (cause as SwarmError).code ?? null }, cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new SwarmError('CONFIG_INVALID', `config file ${file} is not valid JSON`, {
      details: { path: file },
      cause,
      hint: 'fix or move the file; swarm will not overwrite it',
    });
  }
  const problems = checkConfig(parsed);
  if (problems.length > 0) {
    throw new SwarmError('CONFIG_INVALID', `config file ${file} is invalid: ${problems.join('; ')}`, {
      details: { path: file, errors: problems },
      hint: 'fix or move the file; swarm will not overwrite it',
    });
  }
  return parsed as ConfigFile;
}

function checkConfig(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return ['must be a JSON object'];
  const config = value as Record<string, unknown>;
  const problems: string[] = [];
  if (config.version !== CONFIG_VERSION) problems.push(`/version must be ${CONFIG_VERSION}`);
  if (typeof config.default_profile !== 'string' || !isValidProfileName(config.default_profile)) {
    problems.push('/default_profile must be a profile name');
  }
  const profiles = config.profiles;
  if (typeof profiles !== 'object' || profiles === null || Array.isArray(profiles)) {
    problems.push('/profiles must be an object');
    return problems;
  }
  for (const [name, settings] of Object.entries(profiles)) {
    if (!isValidProfileName(name)) {
      problems.push(`/profiles/${name} is not a valid profile name`);
      continue;
    }
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
      problems.push(`/profiles/${name} must be an object`);
      continue;
    }
    for (const [key, v] of Object.entries(settings)) {
      const spec = keySpec(key);
      if (!spec) problems.push(`/profiles/${name}/${key} is not a known key`);
      else if (!spec.check(v)) problems.push(`/profiles/${name}/${key} has an invalid value`);
    }
  }
  for (const key of Object.keys(config)) {
    if (!['version', 'default_profile', 'profiles'].includes(key)) problems.push(`/${key} is not a known field`);
  }
  return problems;
}

/** The settings of one profile (default: the file's default profile). */
export function resolveProfile(config: ConfigFile, profile?: string): { name: string; settings: ProfileSettings } {
  const name = profile ?? config.default_profile;
  const settings = Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
  if (!settings) {
    if (profile === undefined && name === DEFAULT_PROFILE) return { name, settings: {} };
    throw new SwarmError('PROFILE_UNKNOWN', `profile ${JSON.stringify(name)} does not exist`, {
      details: { profile: name, known: Object.keys(config.profiles) },
    });
  }
  return { name, settings };
}

export function parseConfigValue(key: string, raw: string): ConfigValue {
  const spec = keySpec(key);
  if (!spec) {
    throw new SwarmError('CONFIG_KEY_UNKNOWN', `unknown config key ${JSON.stringify(key)}`, {
      details: { key, known: Object.keys(CONFIG_KEYS) },
    });
  }
  try {
    return spec.parse(raw.trim());
  } catch (error) {
    throw new SwarmError('CONFIG_VALUE_INVALID', `invalid value for ${key}: ${(error as Error).message}`, {
      details: { key },
    });
  }
}

/** Sets one key in a profile (creating the profile) and writes the file atomically. */
export function setConfigValue(
  key: string,
  raw: string,
  options: { profile?: string; file?: string } = {},
): { file: string; profile: string; key: string; value: ConfigValue } {
  const file = options.file ?? configPath();
  const value = parseConfigValue(key, raw);
  const config = loadConfig(file);
  const profile = options.profile ?? config.default_profile;
  if (!isValidProfileName(profile)) {
    throw new SwarmError('PROFILE_NAME_INVALID', `invalid profile name ${JSON.stringify(profile)}`, { details: { profile } });
  }
  const current = Object.hasOwn(config.profiles, profile) ? config.profiles[profile] : {};
  config.profiles[profile] = { ...current, [key]: value };
  writeConfig(config, file);
  return { file, profile, key, value };
}

export function writeConfig(config: ConfigFile, file: string = configPath()): void {
  writeFileAtomic(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
