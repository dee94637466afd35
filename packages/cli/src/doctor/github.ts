/**
 * doctor's github section: what a remote run needs, each probed with a timeout. `gh auth status`
 * is judged by its exit code alone (it prints a token prefix); scopes come from the
 * X-OAuth-Scopes header of `GET /user`.
 */
import { SwarmError } from '@swarm/core';
import { PIN_TAG_PREFIX, RUNNER_KEY_SECRET, WORKFLOW_FILE, WORKFLOW_PATH, jsonOf } from '@swarm/github';
import type { DoctorCheck } from './checks.js';

export async function githubChecks(options: { repo: string; env: NodeJS.ProcessEnv; required: boolean }): Promise<DoctorCheck[]> {
  const { githubContext, readSetup } = await import('../github/context.js');
  const { repo, env, required } = options;
  const checks: DoctorCheck[] = [];
  const add = (name: string, ok: boolean | 'warn', detail: string, hint?: string) =>
    checks.push({ name, status: ok === 'warn' ? 'warn' : ok ? 'ok' : 'fail', required, detail, ...(ok === true ? {} : { hint }) });
  const ctx = githubContext({ repo, env: { ...env, SWARM_GH_TIMEOUT_S: env.SWARM_GH_TIMEOUT_S ?? '15' } });
  try {
    const v = await ctx.gh.version();
    add('github.gh', true, `gh ${v.version}${v.major === 2 && v.minor < 40 ? ' (old, but swarm needs only gh api and gh secret set)' : ''}`);
  } catch (error) {
    add('github.gh', false, error instanceof SwarmError ? error.message : 'gh cannot be run', 'install gh (Debian: apt-get install gh) or set SWARM_GH_BIN');
    return checks;
  }
  const host = env.GH_HOST;
  const authed = await ctx.gh.authStatusOk(host);
  add('github.auth', authed, authed ? `gh is logged in${host ? ` to ${host}` : ''}` : 'gh is not logged in', 'run `gh auth login`');
  if (!authed) return checks;
  const probe = async <T>(fn: () => Promise<T>): Promise<T | SwarmError> => {
    try {
      return await fn();
    } catch (error) {
      return error instanceof SwarmError ? error : new SwarmError('GH_HTTP_ERROR', String(error));
    }
  };
  const user = await probe(() => ctx.api.request('GET', 'user', { retry: true }));
  if (user instanceof SwarmError) add('github.scopes', false, user.message);
  else {
    const scopes = (user.headers['x-oauth-scopes'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    if (scopes.length === 0) add('github.scopes', 'warn', 'the token reports no OAuth scopes (a fine-grained token?); it needs Actions, Contents, Environments and Secrets: read and write');
    else {
      const missing = ['repo', 'workflow'].filter((s) => !scopes.includes(s));
      add('github.scopes', missing.length === 0, missing.length === 0 ? `scopes ${scopes.join(', ')}` : `missing scope(s) ${missing.join(', ')}`, 'run `gh auth refresh -s repo,workflow`');
    }
  }
  let setup;
  try {
    setup = readSetup(env, repo);
  } catch (error) {
    add('github.setup', false, (error as Error).message, `run \`swarm github setup --repo ${repo}\``);
    return checks;
  }
  add('github.setup', true, `set up from here; workflow ref ${setup.workflow_ref}`);
  const workflow = await probe(() => ctx.api.request('GET', `repos/${repo}/actions/workflows/${WORKFLOW_FILE}`, { retry: true }));
  add('github.workflow', !(workflow instanceof SwarmError) && jsonOf<{ state?: string }>(workflow).state === 'active', workflow instanceof SwarmError ? `${WORKFLOW_FILE} is not registered: ${workflow.code}` : `${WORKFLOW_FILE} is ${jsonOf<{ state?: string }>(workflow).state}`, 'it must be on the default branch: run `swarm github setup` again');
  const atPin = await probe(() => ctx.api.request('GET', `repos/${repo}/contents/${WORKFLOW_PATH}`, { query: { ref: setup.pin }, retry: true }));
  add('github.pin', !(atPin instanceof SwarmError), atPin instanceof SwarmError ? `${WORKFLOW_PATH} is not at ${setup.pin}` : `${WORKFLOW_PATH} exists at ${setup.pin}`);
  const tag = await probe(() => ctx.api.request('GET', `repos/${repo}/git/ref/tags/${PIN_TAG_PREFIX}${setup.pin}`, { retry: true }));
  const tagSha = tag instanceof SwarmError ? null : jsonOf<{ object?: { sha?: string } }>(tag).object?.sha;
  add('github.tag', tagSha === setup.pin, tagSha === setup.pin ? `${setup.tag} points at the pin` : tagSha ? `${setup.tag} points at ${tagSha}, not at the pin` : `${setup.tag} does not exist`, 'run `swarm github setup` again');
  const rulesets = await probe(() => ctx.api.request('GET', `repos/${repo}/rulesets`, { retry: true }));
  const protectedTags = !(rulesets instanceof SwarmError) && (jsonOf<Array<{ name?: string; target?: string; enforcement?: string }>>(rulesets) ?? []).some((r) => r.name === 'swarm pin tags' && r.target === 'tag' && r.enforcement === 'active');
  add('github.tags', protectedTags ? true : 'warn', protectedTags ? `only admins may create or move ${PIN_TAG_PREFIX}* tags` : `no active ruleset protects ${PIN_TAG_PREFIX}* tags: whoever can push one can have the runner key`, 'run `swarm github setup` again, or protect the tags in the repository settings');
  const secret = await probe(() => ctx.api.request('GET', `repos/${repo}/environments/${setup.environment}/secrets/${RUNNER_KEY_SECRET}`, { retry: true }));
  add('github.secret', !(secret instanceof SwarmError), secret instanceof SwarmError ? `environment ${setup.environment} has no ${RUNNER_KEY_SECRET}` : `environment ${setup.environment} holds ${RUNNER_KEY_SECRET}`, 'run `swarm github setup --rotate`');
  const { resolveTrustedKeys } = await import('@swarm/verify');
  const { swarmHome } = await import('@swarm/core');
  const trusted = resolveTrustedKeys({ home: swarmHome(env) }).some((k) => k.publicKey === setup.runner.signing_key);
  add('github.trust', trusted, trusted ? `runner key ${setup.runner.key_id} is trusted here` : `runner key ${setup.runner.key_id} is not in the trust store`, 'run `swarm github setup --rotate`');
  return checks;
}
