/**
 * Error codes of the GitHub backend. Exit codes follow the category (DESIGN §7): input 2,
 * verification 3, backend 4, restore 5.
 */
import { registerErrorCodes, type ErrorCodeInfo } from '@swarm/core';

export const GITHUB_ERROR_CODES = {
  WORKFLOW_REF_INVALID: { category: 'input', description: 'The workflow ref is not `owner/repo/.github/workflows/<file>@<40 hex>`, or GitHub does not know the ref dispatched to.' },
  WORKFLOW_REF_UNPINNED: { category: 'input', description: 'The workflow ref names a branch or tag instead of a 40-hex commit; remote runs must be pinned.' },
  WORKFLOW_REF_MISMATCH: { category: 'verification', description: "The remote run ran at another commit than the pin (its head_sha, or the pin tag moved); the run was cancelled." },
  REQUEST_ID_INVALID: { category: 'input', description: 'A request id is not `^[a-z0-9][a-z0-9-]{0,62}$`.' },
  GH_REPO_INVALID: { category: 'input', description: 'The repository is not `owner/name` (give --repo or set github.repo).' },
  GH_INPUT_TOO_LARGE: { category: 'input', description: 'The dispatch envelope or the input bundle is larger than GitHub accepts.' },
  GH_NOT_SET_UP: { category: 'input', description: 'The repository has no swarm runner set up from this machine (run `swarm github setup --repo o/r`).' },
  RUN_LEDGER_MISSING: { category: 'input', description: 'No ledger entry with this request or run id exists in this store.' },
  RUN_LEDGER_STATE: { category: 'input', description: 'The ledger entry is in a state that does not allow this (say, collecting a cancelled run).' },
  GH_CLI_UNAVAILABLE: { category: 'backend', description: 'The `gh` binary was not found or could not be started (install it, or set SWARM_GH_BIN / --gh-bin).' },
  GH_AUTH_FAILED: { category: 'backend', description: 'GitHub refused the credentials gh holds (HTTP 401); run `gh auth login`.' },
  GH_FORBIDDEN: { category: 'backend', description: 'GitHub refused the request (HTTP 403 that is not a rate limit): missing scope or permission.' },
  GH_NOT_FOUND: { category: 'backend', description: 'GitHub answered 404: the repository, workflow, run or artifact does not exist or the token cannot see it.' },
  GH_RATE_LIMITED: { category: 'backend', description: 'GitHub rate-limited the request past the time swarm may wait; retry later.', retryable: true },
  GH_HTTP_ERROR: { category: 'backend', description: 'GitHub answered with an HTTP error not covered by a more specific code.' },
  GH_TRANSPORT_FAILED: { category: 'backend', description: 'gh, or swarm itself on a runner or when fetching the OIDC issuer\'s keys, could not reach GitHub (connection, TLS), or gh exited without an HTTP answer.', retryable: true },
  GH_COMMAND_TIMEOUT: { category: 'backend', description: 'A gh call ran past its timeout; its process group was killed.', retryable: true },
  GH_RESPONSE_INVALID: { category: 'backend', description: 'GitHub (or gh) answered with something swarm cannot read.' },
  GH_DISPATCH_UNCONFIRMED: { category: 'backend', description: 'The dispatch was sent but no run carrying its request id appeared, even after one more dispatch.' },
  GH_RUN_NOT_FOUND: { category: 'backend', description: 'The remote run of this request cannot be found.' },
  GH_RUN_AMBIGUOUS: { category: 'backend', description: 'More than one remote run carries this request id.' },
  GH_RUN_FAILED: { category: 'backend', description: 'The remote run did not succeed (failure, cancelled, timed out); nothing was imported.' },
  GH_RUN_NOT_COMPLETED: { category: 'backend', description: 'The remote run has not completed yet; watch or collect it later.', retryable: true },
  GH_WATCH_TIMEOUT: { category: 'backend', description: 'The remote run did not complete before the watch deadline; the ledger still says running.', retryable: true },
  ARTIFACT_MISSING: { category: 'backend', description: "The run has no artifact named after its request id." },
  ARTIFACT_EXPIRED: { category: 'backend', description: "The run's artifact expired on GitHub." },
  ARTIFACT_AMBIGUOUS: { category: 'backend', description: 'More than one artifact carries the name of this request.' },
  ARTIFACT_DIGEST_MISSING: { category: 'verification', description: 'GitHub reports no sha256 digest for the artifact, so its bytes cannot be checked.' },
  ARTIFACT_DIGEST_MISMATCH: { category: 'verification', description: "The downloaded artifact's sha256 differs from the digest GitHub recorded at upload." },
  ARTIFACT_ARCHIVE_UNSAFE: { category: 'verification', description: 'The artifact zip has an unsafe entry (.., absolute path, link, duplicate, bomb) or is malformed.' },
  ARTIFACT_MANIFEST_MISMATCH: { category: 'verification', description: "The artifact's files differ from its manifest (missing, extra, or another sha256)." },
  RUN_IDENTITY_MISMATCH: { category: 'verification', description: 'The artifact belongs to another request, run, repository or attempt than the one collected.' },
  OIDC_INVALID: { category: 'verification', description: "The run's OIDC token is missing, not signed by the GitHub issuer, expired, or names another audience (certificate), repository, workflow, commit or run." },
  ENVELOPE_INVALID: { category: 'verification', description: 'The dispatch envelope is malformed, not signed by a trusted operator, expired, or for another request, repository or pin.' },
  RUNNER_KEY_INVALID: { category: 'input', description: 'The runner key (SWARM_RUNNER_KEY) is missing or malformed.' },
  RESTORE_POLICY_VIOLATION: { category: 'restore', description: 'The remote run started from an empty workspace (cold start) although the run did not allow it; nothing was imported.' },
  INPUT_TRANSPORT_FAILED: { category: 'restore', description: "The worker could not fetch the parent's bundle, or it does not match the digest in the envelope." },
} satisfies Record<string, ErrorCodeInfo>;

registerErrorCodes('github', GITHUB_ERROR_CODES);

export type GithubErrorCode = keyof typeof GITHUB_ERROR_CODES;
