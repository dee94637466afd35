/**
 * The contract between the loopback GitHub emulator (emulator.ts) and the loopback runner
 * (runner.ts). The emulator owns all state (repositories, runs, artifacts, secrets); when a
 * dispatch creates a run it hands the run to the runner, which executes the workflow file found
 * at the run's head_sha and reports back only through RunnerHost.
 */

export type RunStatus = 'queued' | 'in_progress' | 'completed';
export type RunConclusion = 'success' | 'failure' | 'cancelled' | 'timed_out' | 'skipped' | 'neutral' | null;

export interface EmulatedRun {
  id: number;
  /** `owner/name`. */
  repo: string;
  workflow_id: number;
  /** `.github/workflows/<file>`. */
  path: string;
  /** The workflow's `name:`. */
  name: string;
  /** `run-name:` evaluated with the dispatch inputs (what REST calls display_title). */
  display_title: string;
  event: 'workflow_dispatch';
  /** Branch or tag name the dispatch named (REST head_branch). */
  head_branch: string;
  /** The commit `ref` pointed at when the run was created (GITHUB_SHA). */
  head_sha: string;
  run_number: number;
  run_attempt: number;
  status: RunStatus;
  conclusion: RunConclusion;
  created_at: string;
  updated_at: string;
  /** Dispatch inputs as sent (strings). */
  inputs: Record<string, string>;
}

export interface RunnerHost {
  /** `https://localhost:<port>` (GITHUB_SERVER_URL). */
  serverUrl: string;
  /** `https://localhost:<port>/api/v3` (GITHUB_API_URL). */
  apiUrl: string;
  /** PEM of the CA that signed the emulator's certificate (NODE_EXTRA_CA_CERTS / SSL_CERT_FILE). */
  caFile: string;
  /** A file of the repository at a commit, or undefined. */
  readFile(repo: string, sha: string, filePath: string): Buffer | undefined;
  /**
   * Secrets released to a job of this run: repository secrets, plus those of `environment` when
   * the run's head_branch passes that environment's deployment policy. Decrypted values.
   */
  secretsFor(run: EmulatedRun, environment: string | undefined): Record<string, string>;
  /** A token the job may use as GITHUB_TOKEN against the emulator's API (this repository only). */
  jobToken(run: EmulatedRun): string;
  setStatus(runId: number, status: RunStatus, conclusion?: RunConclusion): void;
  /** Stores an uploaded artifact (a zip) for the run; the digest is sha256 of exactly these bytes. */
  addArtifact(runId: number, name: string, zip: Buffer, retentionDays?: number): { id: number; digest: string };
  /** One line of the run's job log, as a runner would show it (already masked). */
  appendLog(runId: number, line: string): void;
  /**
   * Where a job with `id-token: write` asks for OIDC tokens (ACTIONS_ID_TOKEN_REQUEST_URL) and the
   * bearer token it asks with (ACTIONS_ID_TOKEN_REQUEST_TOKEN). Absent: the host has no issuer.
   */
  idTokenRequest?(run: EmulatedRun, job: string): { url: string; token: string };
}

export interface Runner {
  /** Starts executing a run that the emulator just created; returns at once. */
  start(run: EmulatedRun, host: RunnerHost): void;
  /** Cancels a run in progress: SIGTERM to the current step's process group, then `if: always()` steps. */
  cancel(runId: number): void;
  /** Resolves when every started run has finished. */
  idle(): Promise<void>;
}
