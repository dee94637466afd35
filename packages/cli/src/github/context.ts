/**
 * What the github backend's commands share: the repository a command is about, what `swarm
 * github setup` recorded for it on this machine (public keys, the pinned workflow ref), and the
 * API client (the real `gh`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, configPath, loadConfig, resolveProfile, swarmHome, writeFileAtomic } from '@swarm/core';
import { GhClient, parseRepo, timingFromEnv, type GhMethod, type GithubApi, type RunnerPublic, type Timing } from '@swarm/github';

export interface SetupRecord {
  v: 1;
  repo: string;
  /** GH_HOST at setup (null: github.com). */
  host: string | null;
  environment: string;
  workflow_ref: string;
  pin: string;
  tag: string;
  action: string;
  runner: RunnerPublic;
  /** Runner keys this one replaced (`--rotate`): what runs dispatched before the rotation were signed with. */
  previous_runners?: RunnerPublic[];
  /** Whether collect requires each certificate's OIDC token (absent in records of older setups: required). */
  oidc?: boolean;
  created_at: string;
}

export function setupFile(env: NodeJS.ProcessEnv, repo: string): string {
  return path.join(swarmHome(env), 'github', `${repo.replace('/', '__')}.json`);
}

export function readSetup(env: NodeJS.ProcessEnv, repo: string): SetupRecord {
  const file = setupFile(env, repo);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new SwarmError('GH_NOT_SET_UP', `${repo} has no swarm runner set up from this machine`, { hint: `run \`swarm github setup --repo ${repo}\``, details: { repo } });
  }
  const record = JSON.parse(text) as SetupRecord;
  if (record.v !== 1 || record.repo !== repo) throw new SwarmError('GH_NOT_SET_UP', `${file} is not a setup record of ${repo}`, { hint: `run \`swarm github setup --repo ${repo}\`` });
  return record;
}

export function writeSetup(env: NodeJS.ProcessEnv, record: SetupRecord): string {
  const file = setupFile(env, record.repo);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`);
  return file;
}

/** `--repo`, else the profile's github.repo. */
export function resolveRepo(flag: string | undefined, env: NodeJS.ProcessEnv, profile?: string): string {
  const { settings } = resolveProfile(loadConfig(configPath(env)), profile);
  const repo = flag ?? (settings['github.repo'] as string | undefined);
  if (!repo) throw new SwarmError('GH_REPO_INVALID', 'no repository given', { hint: 'pass --repo owner/name or `swarm config set github.repo owner/name`' });
  return parseRepo(repo).fullName;
}

export function configuredAction(flag: string | undefined, env: NodeJS.ProcessEnv, profile?: string): string | undefined {
  const { settings } = resolveProfile(loadConfig(configPath(env)), profile);
  return flag ?? (settings['github.action'] as string | undefined);
}

export interface GithubContext {
  repo: string;
  gh: GhClient;
  /** The same client as the backend's modules use it (`retry` on a POST means the call is idempotent). */
  api: GithubApi;
  timing: Timing;
  env: NodeJS.ProcessEnv;
}

export function githubContext(options: { repo: string; env: NodeJS.ProcessEnv; ghBin?: string }): GithubContext {
  const timing = timingFromEnv(options.env);
  const gh = new GhClient({ repo: options.repo, env: options.env, bin: options.ghBin ?? options.env.SWARM_GH_BIN, timeoutMs: timing.callTimeoutMs });
  const api: GithubApi = {
    request: (method, path, o = {}) => gh.request(method as GhMethod, path, o),
    download: (path, file, o = {}) => gh.download(path, file, o),
  };
  return { repo: options.repo, gh, api, timing, env: options.env };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
