/**
 * Dispatching a worker run so that at most one run per request id ever executes (research §1.3).
 * The POST asks for the run id (`return_run_details`); a server that does not know the field
 * gets it once more without. An answer that may have created a run (5xx, timeout, a lost
 * connection, a rate limit) is never re-posted blindly: the run is looked up by its name
 * (`swarm <request id>`) first, and only a window without it allows one more POST with the same
 * request id. A run found at another commit than the pin is cancelled.
 */
import { SwarmError } from '@swarm/core';
import { jsonOf, type ApiResponse, type GithubApi, type RemoteRun } from './api.js';
import './errors.js';
import { advance, type LedgerEntry } from './ledger.js';

export interface Timing {
  /** How long to look for a run after an unconfirmed dispatch. */
  correlateMs: number;
  /** First poll interval (doubling up to maxPollMs). */
  pollMs: number;
  maxPollMs: number;
  /** Timeout of each gh call. */
  callTimeoutMs: number;
}

export const DEFAULT_TIMING: Timing = { correlateMs: 90_000, pollMs: 2_000, maxPollMs: 10_000, callTimeoutMs: 30_000 };

/** Timings from SWARM_GH_* variables (seconds), for slow servers or quick tests. */
export function timingFromEnv(env: NodeJS.ProcessEnv): Timing {
  const seconds = (name: string, fallback: number) => {
    const value = Number(env[name]);
    return Number.isFinite(value) && value > 0 ? value * 1000 : fallback;
  };
  return {
    correlateMs: seconds('SWARM_GH_CORRELATE_S', DEFAULT_TIMING.correlateMs),
    pollMs: seconds('SWARM_GH_POLL_S', DEFAULT_TIMING.pollMs),
    maxPollMs: Math.max(seconds('SWARM_GH_POLL_S', DEFAULT_TIMING.pollMs), DEFAULT_TIMING.maxPollMs),
    callTimeoutMs: seconds('SWARM_GH_TIMEOUT_S', DEFAULT_TIMING.callTimeoutMs),
  };
}

export interface DispatchContext {
  api: GithubApi;
  repo: string;
  workflowFile: string;
  tag: string;
  pin: string;
  requestId: string;
  inputs: Record<string, string>;
  timing: Timing;
  /** Persists the ledger entry (before every POST, and after every change). */
  save(entry: LedgerEntry): void;
  now(): string;
  sleep(ms: number): Promise<void>;
  onProgress?(message: string): void;
}

export function runName(requestId: string): string {
  return `swarm ${requestId}`;
}

/** The pin tag must point at the pin; it is created when missing (dispatch takes only a branch or tag). */
export async function ensurePinTag(api: GithubApi, repo: string, tag: string, pin: string, timeoutMs: number): Promise<'exists' | 'created'> {
  const current = await tagTarget(api, repo, tag, timeoutMs);
  if (current === pin) return 'exists';
  if (current !== null) throw tagMoved(tag, pin, current);
  try {
    await api.request('POST', `repos/${repo}/git/refs`, { body: { ref: `refs/tags/${tag}`, sha: pin }, timeoutMs, retry: true });
    return 'created';
  } catch (error) {
    // Created concurrently (or by a retried POST): fine if it is the pin.
    const now = await tagTarget(api, repo, tag, timeoutMs);
    if (now === pin) return 'created';
    if (now !== null) throw tagMoved(tag, pin, now);
    throw error;
  }
}

async function tagTarget(api: GithubApi, repo: string, tag: string, timeoutMs: number): Promise<string | null> {
  try {
    const ref = jsonOf<{ object?: { sha?: string; type?: string } }>(await api.request('GET', `repos/${repo}/git/ref/tags/${tag}`, { timeoutMs, retry: true }));
    return ref.object?.sha ?? null;
  } catch (error) {
    if (error instanceof SwarmError && error.code === 'GH_NOT_FOUND') return null;
    throw error;
  }
}

function tagMoved(tag: string, pin: string, actual: string): SwarmError {
  return new SwarmError('WORKFLOW_REF_MISMATCH', `tag ${tag} points at ${actual}, not at the pin ${pin}`, {
    hint: 'someone moved the pin tag; check the repository, then run `swarm github setup` again',
    details: { tag, pin, actual },
  });
}

type PostOutcome =
  | { kind: 'created'; runId: number; response: ApiResponse }
  | { kind: 'accepted'; response: ApiResponse }
  | { kind: 'unsupported' }
  | { kind: 'ambiguous'; error: SwarmError; rateLimited: boolean; retryAfterMs: number }
  | { kind: 'refused'; error: SwarmError };

/** The longest a dispatch waits out a rate limit before it gives up (GitHub's reset can be an hour away). */
export const MAX_RATE_LIMIT_WAIT_MS = 5 * 60_000;

/** How long GitHub asked to wait: Retry-After, else until the reset (gh.ts works it out), else a minute. */
function rateLimitWaitMs(error: SwarmError): number {
  const d = (error.details ?? {}) as { retry_after_s?: unknown; wait_ms?: unknown };
  const after = Number(d.retry_after_s);
  if (Number.isFinite(after) && after > 0) return after * 1000;
  const wait = Number(d.wait_ms);
  if (Number.isFinite(wait) && wait > 0) return wait;
  return 60_000;
}

async function post(ctx: DispatchContext, withDetails: boolean): Promise<PostOutcome> {
  const body = { ref: ctx.tag, inputs: ctx.inputs, ...(withDetails ? { return_run_details: true } : {}) };
  try {
    const response = await ctx.api.request('POST', `repos/${ctx.repo}/actions/workflows/${ctx.workflowFile}/dispatches`, { body, timeoutMs: ctx.timing.callTimeoutMs });
    if (response.status === 200) {
      const id = jsonOf<{ workflow_run_id?: unknown }>(response).workflow_run_id;
      if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0) return { kind: 'created', runId: id, response };
    }
    return { kind: 'accepted', response };
  } catch (error) {
    if (!(error instanceof SwarmError)) throw error;
    const status = httpStatus(error);
    if ((status === 400 || status === 422) && /return_run_details/.test(error.message)) return { kind: 'unsupported' };
    if (status === 422 && /no ref found/i.test(error.message)) {
      return { kind: 'refused', error: new SwarmError('WORKFLOW_REF_INVALID', `GitHub knows no ref ${ctx.tag} in ${ctx.repo}`, { hint: 'run `swarm github setup` to create the pin tag', details: { ref: ctx.tag }, cause: error }) };
    }
    const rateLimited = error.code === 'GH_RATE_LIMITED';
    if (rateLimited || (status !== null && status >= 500) || error.code === 'GH_COMMAND_TIMEOUT' || error.code === 'GH_TRANSPORT_FAILED') {
      return { kind: 'ambiguous', error, rateLimited, retryAfterMs: rateLimited ? rateLimitWaitMs(error) : 0 };
    }
    return { kind: 'refused', error };
  }
}

function githubRequestId(error: SwarmError): string | null {
  const id = (error.details as { github_request_id?: unknown } | undefined)?.github_request_id;
  return typeof id === 'string' ? id : null;
}

function httpStatus(error: SwarmError): number | null {
  const status = (error.details as { http_status?: unknown } | undefined)?.http_status;
  return typeof status === 'number' ? status : null;
}

/**
 * Dispatches the request and returns its run; the ledger entry goes pending before each POST
 * and dispatched once the run is known.
 */
export async function dispatchRun(ctx: DispatchContext, start: LedgerEntry): Promise<{ entry: LedgerEntry; run: RemoteRun }> {
  let entry = start;
  let withDetails = true;
  const since = new Date(Date.now() - 10 * 60_000).toISOString();
  let run: RemoteRun | null = null;
  let correlation: 'response' | 'run-name' = 'run-name';
  for (let posts = 0; posts < 2 && !run; posts++) {
    entry = { ...entry, attempts: entry.attempts + 1, updated_at: ctx.now() };
    ctx.save(entry);
    let outcome = await post(ctx, withDetails);
    if (outcome.kind === 'unsupported') {
      // A 4xx created no run: the same POST without the field is safe.
      withDetails = false;
      entry = record(entry, ctx, 'unsupported-field', 400, null);
      outcome = await post(ctx, false);
      if (outcome.kind === 'unsupported') throw new SwarmError('GH_HTTP_ERROR', 'GitHub refused the dispatch body twice', { details: { repo: ctx.repo } });
    }
    if (outcome.kind === 'refused') {
      // A 4xx other than a rate limit: nothing was created, and repeating it would not help.
      entry = record(entry, ctx, 'refused', httpStatus(outcome.error), githubRequestId(outcome.error));
      ctx.save(entry);
      throw outcome.error;
    }
    if (outcome.kind === 'ambiguous' && outcome.rateLimited && outcome.retryAfterMs > MAX_RATE_LIMIT_WAIT_MS) {
      // Refused before it was processed, and the limit resets too late to wait for.
      entry = record(entry, ctx, 'rate-limited', httpStatus(outcome.error), githubRequestId(outcome.error));
      ctx.save(entry);
      throw new SwarmError('GH_RATE_LIMITED', `GitHub rate-limits the dispatch for ${Math.ceil(outcome.retryAfterMs / 1000)} s more; nothing was dispatched`, {
        retryable: true,
        details: { ...(outcome.error.details as object), request_id: ctx.requestId },
        cause: outcome.error,
      });
    }
    if (outcome.kind === 'created') {
      // GitHub has the run: from here on the entry is never `failed` for want of reading it.
      entry = advance(record(entry, ctx, 'created', outcome.response.status, outcome.response.requestId), 'dispatched', ctx.now(), { remote_run_id: outcome.runId });
      ctx.save(entry);
      run = await getRun(ctx.api, ctx.repo, outcome.runId, ctx.timing.callTimeoutMs);
      correlation = 'response';
      // After a second POST the first may have run after all: the lowest id counts, as for the worker.
      if (posts > 0) run = (await findRun(ctx, since)) ?? run;
      break;
    }
    if (outcome.kind === 'accepted') {
      entry = record(entry, ctx, 'accepted', outcome.response.status, outcome.response.requestId);
    } else {
      entry = record(entry, ctx, outcome.rateLimited ? 'rate-limited' : 'ambiguous', httpStatus(outcome.error), githubRequestId(outcome.error));
      ctx.onProgress?.(`dispatch answer unclear (${outcome.error.code}); looking for the run before any retry`);
    }
    ctx.save(entry);
    if (outcome.kind === 'ambiguous' && outcome.rateLimited) {
      // A rate limit is answered before the dispatch is processed: one look after the wait suffices.
      await ctx.sleep(outcome.retryAfterMs);
      run = await findRun(ctx, since);
    } else {
      run = await correlate(ctx, since);
      // GitHub accepted this dispatch: its run will show, and another POST could only make a second one.
      if (!run && outcome.kind === 'accepted') break;
    }
  }
  if (!run) {
    entry = { ...entry, updated_at: ctx.now() };
    throw new SwarmError('GH_DISPATCH_UNCONFIRMED', `no run named "${runName(ctx.requestId)}" appeared after ${entry.attempts} dispatches`, {
      hint: 'check the repository\'s Actions tab; `swarm backend github watch` finds the run if it shows up later',
      details: { request_id: ctx.requestId, attempts: entry.attempts },
    });
  }
  entry = { ...entry, dispatch: { ...entry.dispatch, correlation } };
  if (run.head_sha !== ctx.pin) {
    await cancelQuietly(ctx.api, ctx.repo, run.id, ctx.timing.callTimeoutMs);
    const failed = advance(entry, 'failed', ctx.now(), { remote_run_id: run.id, remote: remoteOf(run) });
    ctx.save(failed);
    throw new SwarmError('WORKFLOW_REF_MISMATCH', `run ${run.id} runs at ${run.head_sha}, not at the pin ${ctx.pin}; it was cancelled`, {
      details: { remote_run_id: run.id, head_sha: run.head_sha, pin: ctx.pin },
    });
  }
  entry = advance(entry, run.status === 'completed' ? 'completed' : run.status === 'in_progress' ? 'running' : 'dispatched', ctx.now(), {
    remote_run_id: run.id,
    remote: remoteOf(run),
  });
  ctx.save(entry);
  return { entry, run };
}

function record(entry: LedgerEntry, ctx: DispatchContext, outcome: string, status: number | null, requestId: string | null): LedgerEntry {
  return { ...entry, dispatch: { ...entry.dispatch, posts: [...entry.dispatch.posts, { at: ctx.now(), outcome, http_status: status, github_request_id: requestId }] } };
}

export function remoteOf(run: RemoteRun): NonNullable<LedgerEntry['remote']> {
  return { run_attempt: run.run_attempt, html_url: run.html_url, head_sha: run.head_sha, status: run.status, conclusion: run.conclusion, updated_at: run.updated_at };
}

/** Polls for the run by its name until the window closes. */
async function correlate(ctx: DispatchContext, since: string): Promise<RemoteRun | null> {
  const deadline = Date.now() + ctx.timing.correlateMs;
  let wait = ctx.timing.pollMs;
  for (;;) {
    const run = await findRun(ctx, since);
    if (run) return run;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    // The last look is at the deadline itself, not one interval before it.
    await ctx.sleep(Math.min(wait, left));
    wait = Math.min(wait * 2, ctx.timing.maxPollMs);
  }
}

/** The run of this request: the lowest id when several carry its name (the others are cancelled). */
export async function findRun(ctx: Pick<DispatchContext, 'api' | 'repo' | 'workflowFile' | 'tag' | 'requestId' | 'timing'>, since: string): Promise<RemoteRun | null> {
  const list = jsonOf<{ workflow_runs?: RemoteRun[] }>(
    await ctx.api.request('GET', `repos/${ctx.repo}/actions/workflows/${ctx.workflowFile}/runs`, {
      query: { event: 'workflow_dispatch', branch: ctx.tag, created: `>=${since}`, per_page: 100 },
      timeoutMs: ctx.timing.callTimeoutMs,
      retry: true,
    }),
  );
  const matches = (list.workflow_runs ?? []).filter((r) => r.display_title === runName(ctx.requestId) && Number.isSafeInteger(r.id) && r.id > 0).sort((a, b) => a.id - b.id);
  if (matches.length === 0) return null;
  for (const extra of matches.slice(1)) await cancelQuietly(ctx.api, ctx.repo, extra.id, ctx.timing.callTimeoutMs);
  return matches[0]!;
}

export async function getRun(api: GithubApi, repo: string, runId: number, timeoutMs: number): Promise<RemoteRun> {
  const run = jsonOf<RemoteRun>(await api.request('GET', `repos/${repo}/actions/runs/${runId}`, { timeoutMs, retry: true }));
  if (run?.id !== runId) throw new SwarmError('GH_RESPONSE_INVALID', `GitHub answered run ${JSON.stringify(run?.id)} for run ${runId}`);
  return run;
}

/** Cancels a run; 409 means it already completed. Returns whether the cancel was accepted. */
export async function cancelRun(api: GithubApi, repo: string, runId: number, timeoutMs: number): Promise<boolean> {
  try {
    await api.request('POST', `repos/${repo}/actions/runs/${runId}/cancel`, { timeoutMs, retry: true });
    return true;
  } catch (error) {
    if (error instanceof SwarmError && httpStatus(error) === 409) return false;
    throw error;
  }
}

async function cancelQuietly(api: GithubApi, repo: string, runId: number, timeoutMs: number): Promise<void> {
  try {
    await cancelRun(api, repo, runId, timeoutMs);
  } catch {
    // The caller reports the real problem; a failed cancel shows in the run list.
  }
}
