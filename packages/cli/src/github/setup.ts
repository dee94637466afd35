/**
 * `swarm github setup --repo o/r`: makes a repository a swarm runner. The runner's keys are made
 * here and stored only as an environment secret (released to jobs of the pin tags alone), the
 * runner's public key is trusted locally, the worker workflow is committed to the default
 * branch, and the pin tag is created at that commit. Running it again changes nothing that is
 * already right; `--rotate` replaces the keys.
 */
import { SwarmError, isoTime, loadOrCreateSealingKey, loadOrCreateSigningKey, swarmHome, type Clock } from '@swarm/core';
import {
  DEFAULT_ENVIRONMENT,
  PIN_TAG_PREFIX,
  RUNNER_KEY_SECRET,
  WORKFLOW_FILE,
  WORKFLOW_PATH,
  encodeRunnerKey,
  ensurePinTag,
  generateRunnerKey,
  jsonOf,
  workerWorkflow,
} from '@swarm/github';
import { githubContext, readSetup, setupFile, writeSetup, type SetupRecord } from './context.js';

export interface SetupOptions {
  repo: string;
  action: string | undefined;
  environment?: string;
  rotate: boolean;
  /** Require an OIDC token with every certificate (default true). */
  oidc?: boolean;
  env: NodeJS.ProcessEnv;
  ghBin?: string;
  clock: Clock;
  onProgress?: (line: string) => void;
}

export interface SetupResult {
  repo: string;
  workflow_ref: string;
  pin: string;
  tag: string;
  environment: string;
  runner_key_id: string;
  keys: 'created' | 'rotated' | 'kept';
  workflow: 'committed' | 'unchanged';
  /** Whether a ruleset keeps non-admins from creating, moving or deleting pin tags. */
  tag_protection: string;
  record: string;
}

export async function githubSetup(options: SetupOptions): Promise<SetupResult> {
  const environment = options.environment ?? DEFAULT_ENVIRONMENT;
  if (!options.action || !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+@[0-9a-f]{40}$/.test(options.action)) {
    throw new SwarmError('INVALID_ARGUMENT', 'setup needs the swarm action to run, pinned: --action owner/repo@<40-hex commit>', {
      hint: 'the repository and commit of the swarm release your runner should run (or `swarm config set github.action …`)',
    });
  }
  const progress = options.onProgress ?? (() => undefined);
  const ctx = githubContext({ repo: options.repo, env: options.env, ghBin: options.ghBin });
  const home = swarmHome(options.env);
  const repoInfo = jsonOf<{ default_branch?: string; full_name?: string }>(await ctx.api.request('GET', `repos/${options.repo}`, { retry: true }));
  const branch = repoInfo.default_branch;
  if (!branch) throw new SwarmError('GH_RESPONSE_INVALID', `GitHub did not say which branch of ${options.repo} is the default`);

  let previous: SetupRecord | null = null;
  try {
    previous = readSetup(options.env, options.repo);
  } catch {
    previous = null;
  }
  // The environment (and its tag policy) before the secret that lives in it.
  progress(`swarm: environment ${environment} (jobs of ${PIN_TAG_PREFIX}* tags only)`);
  await ctx.api.request('PUT', `repos/${options.repo}/environments/${environment}`, {
    body: { deployment_branch_policy: { protected_branches: false, custom_branch_policies: true } },
    retry: true,
  });
  const policies = jsonOf<{ branch_policies?: Array<{ name: string; type?: string }> }>(
    await ctx.api.request('GET', `repos/${options.repo}/environments/${environment}/deployment-branch-policies`, { retry: true }),
  );
  if (!(policies.branch_policies ?? []).some((p) => p.name === `${PIN_TAG_PREFIX}*` && (p.type ?? 'branch') === 'tag')) {
    await ctx.api.request('POST', `repos/${options.repo}/environments/${environment}/deployment-branch-policies`, { body: { name: `${PIN_TAG_PREFIX}*`, type: 'tag' }, retry: true });
  }
  // Exactly that one: any other branch or tag pattern would release the key to other refs.
  for (const other of (policies.branch_policies ?? []) as Array<{ id?: number; name: string; type?: string }>) {
    if (other.name === `${PIN_TAG_PREFIX}*` && (other.type ?? 'branch') === 'tag') continue;
    if (typeof other.id === 'number') {
      progress(`swarm: removing deployment policy ${other.name} from ${environment}`);
      await ctx.api.request('DELETE', `repos/${options.repo}/environments/${environment}/deployment-branch-policies/${other.id}`, { retry: true });
    }
  }
  const tagProtection = await protectPinTags(ctx, options.repo, progress);

  let keys: SetupResult['keys'] = 'kept';
  let runner = previous?.runner;
  let previousRunners = previous?.previous_runners ?? [];
  if (!runner || options.rotate) {
    const signer = loadOrCreateSigningKey(home);
    const sealing = loadOrCreateSealingKey(home);
    const generated = generateRunnerKey(options.repo, { ed25519: signer.publicKey, x25519: sealing.publicKey });
    // Trusted here first: a key GitHub holds must never sign what this machine would refuse.
    // Each key gets its own name, so a rotated key stays trusted for the certificates it signed.
    const { trustKey } = await import('@swarm/verify');
    trustKey(generated.public.signing_key, { name: `github-${options.repo.replace('/', '-').slice(0, 40)}-${generated.public.key_id.slice(0, 8)}`, home, env: options.env });
    progress(`swarm: storing the runner key as environment secret ${RUNNER_KEY_SECRET}`);
    await ctx.gh.setSecret(RUNNER_KEY_SECRET, encodeRunnerKey(generated.secret), { environment, retry: true });
    if (previous?.runner) previousRunners = [previous.runner, ...previousRunners].slice(0, 8);
    runner = generated.public;
    // GitHub holds the new key now: dispatches must seal to it even if a later step fails.
    if (previous) writeSetup(options.env, { ...previous, runner, previous_runners: previousRunners });
    keys = previous ? 'rotated' : 'created';
  }

  // The worker workflow on the default branch (dispatch needs it there); its commit is the pin.
  const content = workerWorkflow({ action: options.action, environment, oidc: options.oidc ?? true });
  let existing: { sha?: string; content?: string } | null = null;
  try {
    existing = jsonOf(await ctx.api.request('GET', `repos/${options.repo}/contents/${WORKFLOW_PATH}`, { query: { ref: branch }, retry: true }));
  } catch (error) {
    if (!(error instanceof SwarmError && error.code === 'GH_NOT_FOUND')) throw error;
  }
  let workflow: SetupResult['workflow'] = 'unchanged';
  let pin: string;
  if (existing?.content !== undefined && Buffer.from(existing.content, 'base64').toString('utf8') === content) {
    pin = await commitOfFile(ctx, options.repo, branch, previous?.pin);
  } else {
    progress(`swarm: committing ${WORKFLOW_PATH} to ${branch}`);
    const put = jsonOf<{ commit?: { sha?: string } }>(
      await ctx.api.request('PUT', `repos/${options.repo}/contents/${WORKFLOW_PATH}`, {
        body: { message: 'swarm: install the worker workflow', content: Buffer.from(content).toString('base64'), branch, ...(existing?.sha ? { sha: existing.sha } : {}) },
      }),
    );
    if (!put.commit?.sha || !/^[0-9a-f]{40}$/.test(put.commit.sha)) throw new SwarmError('GH_RESPONSE_INVALID', 'GitHub did not return the commit of the workflow');
    pin = put.commit.sha;
    workflow = 'committed';
  }
  const tag = `${PIN_TAG_PREFIX}${pin}`;
  progress(`swarm: pin tag ${tag}`);
  await ensurePinTag(ctx.api, options.repo, tag, pin, ctx.timing.callTimeoutMs);
  const record: SetupRecord = {
    v: 1,
    repo: options.repo,
    host: options.env.GH_HOST ?? null,
    environment,
    workflow_ref: `${options.repo}/${WORKFLOW_PATH}@${pin}`,
    pin,
    tag,
    action: options.action,
    runner,
    previous_runners: previousRunners,
    oidc: options.oidc ?? true,
    created_at: isoTime(options.clock),
  };
  writeSetup(options.env, record);
  return { repo: options.repo, workflow_ref: record.workflow_ref, pin, tag, environment, runner_key_id: runner.key_id, keys, workflow, tag_protection: tagProtection, record: setupFile(options.env, options.repo) };
}

export const PIN_RULESET = 'swarm pin tags';

/**
 * The environment releases the runner key to jobs of `swarm-pin-*` tags, so whoever may create
 * such a tag may have the key: a tag ruleset leaves that to repository admins. Plans without
 * rulesets for this repository get a warning (and doctor says so), not a failure.
 */
async function protectPinTags(ctx: ReturnType<typeof githubContext>, repo: string, progress: (line: string) => void): Promise<string> {
  try {
    const existing = jsonOf<Array<{ name?: string; target?: string; enforcement?: string }>>(await ctx.api.request('GET', `repos/${repo}/rulesets`, { retry: true }));
    const ours = (existing ?? []).find((r) => r.name === PIN_RULESET && r.target === 'tag');
    if (ours) return ours.enforcement === 'active' ? 'ruleset' : `ruleset "${PIN_RULESET}" is ${String(ours.enforcement)}, not active`;
    progress(`swarm: ruleset "${PIN_RULESET}" (only admins create, move or delete ${PIN_TAG_PREFIX}* tags)`);
    await ctx.api.request('POST', `repos/${repo}/rulesets`, {
      body: {
        name: PIN_RULESET,
        target: 'tag',
        enforcement: 'active',
        // Repository role 5 is the admin role.
        bypass_actors: [{ actor_id: 5, actor_type: 'RepositoryRole', bypass_mode: 'always' }],
        conditions: { ref_name: { include: [`refs/tags/${PIN_TAG_PREFIX}*`], exclude: [] } },
        rules: [{ type: 'creation' }, { type: 'update' }, { type: 'deletion' }],
      },
    });
    return 'ruleset';
  } catch (error) {
    if (error instanceof SwarmError && ['GH_NOT_FOUND', 'GH_FORBIDDEN', 'GH_HTTP_ERROR'].includes(error.code)) return `unavailable (${error.code})`;
    throw error;
  }
}

/** The workflow file is already right: the pin stays where it was, else the branch's head. */
async function commitOfFile(ctx: ReturnType<typeof githubContext>, repo: string, branch: string, previousPin: string | undefined): Promise<string> {
  if (previousPin) return previousPin;
  const head = jsonOf<{ sha?: string }>(await ctx.api.request('GET', `repos/${repo}/commits/${branch}`, { retry: true }));
  if (!head.sha) throw new SwarmError('GH_RESPONSE_INVALID', `GitHub did not return the head of ${branch}`);
  return head.sha;
}

export { WORKFLOW_FILE };
