/**
 * What the backend needs of a GitHub API client. On the operator's machine that is the real
 * `gh` (gh.ts); on a runner, fetch with the job's token (runner-api.ts). Both answer with the
 * status, the headers and the raw body, and throw SwarmErrors with GitHub's request id.
 */

export interface ApiResponse {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: Buffer;
  requestId: string | null;
}

export interface ApiRequestOptions {
  body?: unknown;
  query?: Record<string, string | number>;
  accept?: string;
  timeoutMs?: number;
  /** Idempotent: may be retried on transport errors, 5xx and rate limits. */
  retry?: boolean;
}

export interface GithubApi {
  request(method: string, path: string, options?: ApiRequestOptions): Promise<ApiResponse>;
  /** Streams a (possibly redirected, binary) GET into `file`. */
  download(path: string, file: string, options?: { timeoutMs?: number; retry?: boolean }): Promise<{ status: number; bytes: number }>;
}

export function jsonOf<T>(response: ApiResponse): T {
  return JSON.parse(response.body.toString('utf8') || 'null') as T;
}

/** A workflow run as REST describes it (the fields swarm reads). */
export interface RemoteRun {
  id: number;
  display_title: string;
  event: string;
  path: string;
  head_branch: string | null;
  head_sha: string;
  run_attempt: number;
  status: string;
  conclusion: string | null;
  html_url: string;
  created_at: string;
  updated_at: string;
}

export interface RemoteArtifact {
  id: number;
  name: string;
  size_in_bytes: number;
  expired: boolean;
  digest: string | null;
  created_at: string | null;
  expires_at: string | null;
  workflow_run?: { id?: number; head_sha?: string; head_branch?: string } | null;
}
