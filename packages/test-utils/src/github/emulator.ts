/**
 * A loopback GitHub (GHES-style `/api/v3`) for tests that drive the real `gh` binary: repositories
 * with commits, refs and blobs, environments and sealed-box secrets, workflows, dispatches, runs,
 * jobs and artifacts, all in memory. Runs are handed to a Runner (types.ts), which reports back
 * through the RunnerHost this emulator implements. Tests reach into the state through methods,
 * inject faults, and collect everything received or stored for leak scans.
 *
 * Loopback only; the Authorization header and decrypted secret values are never recorded.
 */
import { createHash, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { testPki } from './pki.js';
import { openSealed, sealKeyPair, type SealKeyPair } from './sealed-box.js';
import type { EmulatedRun, Runner, RunnerHost, RunConclusion, RunStatus } from './types.js';

// ------------------------------------------------------------------------------------------------
// Public types

export interface EmulatorOptions {
  /** What `GET /meta` reports as `installed_version` (and `X-GitHub-Enterprise-Version`). Default '3.21.0'. */
  installedVersion?: string;
  /** false = "GHES 3.20 mode": a dispatch body carrying `return_run_details` gets 400. Default true. */
  returnRunDetails?: boolean;
  /** Largest Git blob accepted by `POST git/blobs`, in decoded bytes. Default 40 MiB. */
  maxBlobBytes?: number;
  runner?: Runner;
  /** The operator's login. Default 'monalisa'. */
  login?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query string as received. */
  url: string;
  /** The path alone, e.g. `/api/v3/repos/o/r`. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; never `authorization` / `proxy-authorization`. */
  headers: Record<string, string>;
  body: Buffer;
  /** Status answered; 0 while pending or when the connection was dropped. */
  status: number;
  /** Which credential the request carried. */
  credential: 'operator' | 'job' | 'none' | 'invalid';
  time: string;
}

export interface FaultSpec {
  method?: string;
  /** Tested against the request path (no query), e.g. /\/dispatches$/. */
  path: RegExp;
  /** How many matching requests the fault takes; default 1; Infinity for all. */
  times?: number;
  /** Status of the replacement answer (default 502 when the fault replaces the answer). */
  status?: number;
  /** Replacement body: an object is sent as JSON, a string as is (text/html when it starts with `<`). */
  body?: object | string;
  /** Extra headers on the answer (e.g. Retry-After, X-RateLimit-Remaining: 0). */
  headers?: Record<string, string>;
  /** Hang this long before answering (the socket stays open); after the real handler when `after`. */
  delayMs?: number;
  /**
   * Run the real handler first (its effects stay), then answer. The answer is replaced when
   * `status` or `body` is given, or when `after` is set without `delayMs` (then 502); so
   * `{after, delayMs}` stalls the real answer after the work is done, and a bare `delayMs` stalls
   * before it. `headers` are added to whichever answer goes out.
   */
  after?: boolean;
  /** Destroy the socket instead of answering (after the handler when `after`, after `delayMs`). */
  dropConnection?: boolean;
  /** Send the full Content-Length but only this many body bytes, then reset (a truncated download). */
  truncateAfterBytes?: number;
}

export interface FaultHandle {
  readonly spec: FaultSpec;
  /** Requests this fault has taken so far. */
  readonly hits: number;
  remove(): void;
}

export interface CreateRepoOptions {
  defaultBranch?: string;
  /** Files of the first commit (default: a README). */
  files?: Record<string, string | Buffer>;
  private?: boolean;
}

export interface RepoInfo {
  id: number;
  fullName: string;
  defaultBranch: string;
  /** The first commit. */
  sha: string;
}

export interface BranchPolicy {
  protected_branches: boolean;
  custom_branch_policies: boolean;
}

export interface EnvironmentSetup {
  /** null (or absent) = every branch and tag may deploy. */
  deploymentBranchPolicy?: BranchPolicy | null;
  /** Name patterns (`*` within a path segment, `**` across) for custom policies. */
  policies?: Array<{ name: string; type: 'branch' | 'tag' }>;
}

export interface EmulatedArtifact {
  id: number;
  runId: number;
  repo: string;
  name: string;
  bytes: Buffer;
  /** `sha256:<hex>` of the bytes as uploaded, or null (artifacts of upload-artifact < v4). */
  digest: string | null;
  size_in_bytes: number;
  expired: boolean;
  created_at: string;
  updated_at: string;
  expires_at: string;
}

export type ArtifactPatch = Partial<Pick<EmulatedArtifact, 'name' | 'digest' | 'size_in_bytes' | 'expired' | 'created_at' | 'updated_at' | 'expires_at'>>;

export type FileChanges = Record<string, string | Buffer | null>;

export interface GithubEmulator {
  readonly port: number;
  /** `https://localhost:<port>` (GITHUB_SERVER_URL). */
  readonly serverUrl: string;
  /** `https://localhost:<port>/api/v3`. */
  readonly apiUrl: string;
  readonly caFile: string;
  /** The operator token (`ghp_…`), what GH_ENTERPRISE_TOKEN carries. */
  readonly token: string;
  readonly requests: RecordedRequest[];
  /** The RunnerHost handed to runners; tests may drive runs through it directly. */
  readonly host: RunnerHost;
  /** Environment for a `gh` child process: process.env without GH_/GITHUB_ variables, plus ours and `extra` (undefined deletes). */
  env(extra?: Record<string, string | undefined>): Record<string, string>;
  close(): Promise<void>;
  setRunner(runner: Runner | undefined): void;
  /** Emulator time (Date header, created_at, blob-URL expiry, hidden runs); see advanceClock. */
  now(): Date;
  advanceClock(ms: number): void;

  createRepo(fullName: string, options?: CreateRepoOptions): RepoInfo;
  /** Adds a commit on `branch` (created from the default branch if missing); null deletes a file. Returns its sha. */
  commit(repo: string, branch: string, files: FileChanges, message?: string): string;
  /** Points `ref` (`refs/heads/x`, `refs/tags/x`, or `heads/x`/`tags/x`) at `sha`, creating it if needed. */
  moveRef(repo: string, ref: string, sha: string): void;
  /** The sha `ref` points at (full ref name, `heads/x`, `tags/x`, or a short branch/tag name). */
  refSha(repo: string, ref: string): string | undefined;
  setEnvironment(repo: string, name: string, setup?: EnvironmentSetup): void;
  /** Stores a secret directly (as if set through the API). */
  setSecret(repo: string, name: string, value: string, environment?: string): void;
  secretValue(repo: string, name: string, environment?: string): string | undefined;

  /** Runs of a repository, oldest first (copies). */
  runs(repo: string): EmulatedRun[];
  run(id: number): EmulatedRun | undefined;
  artifacts(runId: number): EmulatedArtifact[];
  log(runId: number): string[];
  /** Every job token handed out (for leak scans). */
  jobTokens(): string[];
  /** The rulesets created through the API. */
  rulesets(repo: string): Array<Record<string, unknown>>;
  /** Claims that replace the real ones in OIDC tokens issued from now on; `{}` restores them. */
  oidcOverride(claims: Record<string, unknown>): void;
  /** The OIDC request tokens handed to jobs (for leak scans). */
  oidcRequestTokens(): string[];

  fault(spec: FaultSpec): FaultHandle;
  clearFaults(): void;
  /** Runs created from now on are invisible to the API (lists and by id) for `ms` after creation; 0 turns it off. */
  hideNewRuns(ms: number): void;
  /** Replaces an artifact's stored bytes, keeping its digest and size (tampering in storage). */
  tamperArtifact(id: number, bytes: Buffer): void;
  setArtifact(id: number, patch: ArtifactPatch): void;
  addRawArtifact(runId: number, name: string, zip: Buffer, patch?: ArtifactPatch): EmulatedArtifact;
  /** Makes the API report another head_sha for the run. */
  forceHeadSha(runId: number, sha: string): void;
  dumpState(): unknown;
  /** Everything received or stored, for leak scans; never the Authorization header, secret values or tokens issued. */
  leakCorpus(): Buffer;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<GithubEmulator> {
  const emulator = new Emulator(options);
  await emulator.listen();
  return emulator;
}

// ------------------------------------------------------------------------------------------------
// State

interface CommitState {
  sha: string;
  treeSha: string;
  parents: string[];
  /** path → blob sha */
  files: Map<string, string>;
  message: string;
  date: string;
}

interface SecretState {
  value: string;
  created_at: string;
  updated_at: string;
}

interface SecretScope {
  keyPair: SealKeyPair;
  keyId: string;
  secrets: Map<string, SecretState>;
}

interface BranchPolicyEntry {
  id: number;
  name: string;
  type: 'branch' | 'tag';
}

interface EnvironmentState extends SecretScope {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
  policy: BranchPolicy | null;
  branchPolicies: BranchPolicyEntry[];
}

interface VariableState {
  value: string;
  created_at: string;
  updated_at: string;
}

interface RepoState extends SecretScope {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  private: boolean;
  created_at: string;
  commits: Map<string, CommitState>;
  refs: Map<string, string>;
  blobs: Map<string, Buffer>;
  environments: Map<string, EnvironmentState>;
  variables: Map<string, VariableState>;
  /** workflow path → id, assigned when first seen on the default branch. */
  workflowIds: Map<string, { id: number; created_at: string }>;
  runNumbers: Map<number, number>;
}

interface JobState {
  id: number;
  status: RunStatus;
  conclusion: RunConclusion;
  started_at: string | null;
  completed_at: string | null;
}

interface RunState {
  run: EmulatedRun;
  refKind: 'branch' | 'tag';
  hiddenUntil: number;
  run_started_at: string;
  job: JobState;
  log: string[];
}

interface WorkflowInfo {
  id: number;
  path: string;
  name: string;
  created_at: string;
}

interface WorkflowInput {
  required: boolean;
  default?: string;
  type?: string;
  options?: string[];
}

interface ParsedWorkflow {
  name?: string;
  runName?: string;
  dispatchable: boolean;
  inputs: Map<string, WorkflowInput>;
}

type Credential = { kind: 'operator' } | { kind: 'job'; repo: string; runId: number } | { kind: 'none' } | { kind: 'invalid' };

interface Ctx {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  credential: Credential;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

type RepoHandler = (ctx: Ctx, repo: RepoState, params: Record<string, string>) => Reply;
interface RepoRoute {
  method: string;
  segments: string[];
  handler: RepoHandler;
}

interface ActiveFault {
  spec: FaultSpec;
  hits: number;
  removed: boolean;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const DOCS = 'https://docs.github.com/enterprise-server@3.21/rest';
const SCOPES = 'repo, read:org, workflow, gist';
const RATE_LIMIT = 5000;
const BLOB_URL_TTL_MS = 60_000;
const MAX_REQUEST_BYTES = 256 * 1024 * 1024;
const DAY_MS = 86_400_000;
/** `<key>_url` → the path after the repository's API URL. */
const REPO_URL_TEMPLATES: Record<string, string> = {
  forks: 'forks',
  keys: 'keys{/key_id}',
  collaborators: 'collaborators{/collaborator}',
  teams: 'teams',
  hooks: 'hooks',
  issue_events: 'issues/events{/number}',
  events: 'events',
  assignees: 'assignees{/user}',
  branches: 'branches{/branch}',
  tags: 'tags',
  blobs: 'git/blobs{/sha}',
  git_tags: 'git/tags{/sha}',
  git_refs: 'git/refs{/sha}',
  trees: 'git/trees{/sha}',
  statuses: 'statuses/{sha}',
  languages: 'languages',
  stargazers: 'stargazers',
  contributors: 'contributors',
  subscribers: 'subscribers',
  subscription: 'subscription',
  commits: 'commits{/sha}',
  git_commits: 'git/commits{/sha}',
  comments: 'comments{/number}',
  issue_comment: 'issues/comments{/number}',
  contents: 'contents/{+path}',
  compare: 'compare/{base}...{head}',
  merges: 'merges',
  archive: '{archive_format}{/ref}',
  downloads: 'downloads',
  issues: 'issues{/number}',
  pulls: 'pulls{/number}',
  milestones: 'milestones{/number}',
  notifications: 'notifications{?since,all,participating}',
  labels: 'labels{/name}',
  releases: 'releases{/id}',
  deployments: 'deployments',
};
const RUN_STATUSES = new Set(['queued', 'in_progress', 'completed', 'requested', 'waiting', 'pending']);

function sha1Hex(data: Buffer | string): string {
  return createHash('sha1').update(data).digest('hex');
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Git's blob id: sha1 of `blob <len>\0<bytes>`. */
export function gitBlobSha(bytes: Buffer): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nodeId(kind: string, id: number | string): string {
  return Buffer.from(`0${kind.length}:${kind}${id}`).toString('base64').replace(/=+$/, '');
}

function randomToken(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(36);
  let out = prefix;
  for (const byte of bytes) out += alphabet[byte % alphabet.length];
  return out;
}

function base64Lines(bytes: Buffer): string {
  const b64 = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 60) lines.push(b64.slice(i, i + 60));
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function splitRepo(fullName: string): [string, string] {
  const parts = fullName.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`emulator: a repository is "owner/name", not ${JSON.stringify(fullName)}`);
  return [parts[0], parts[1]];
}

/** GitHub's deployment policy patterns: `*` stays within a path segment, `**` crosses them. */
export function policyPatternMatches(pattern: string, name: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] ?? '';
    if (ch === '*' && pattern[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (ch === '*') source += '[^/]*';
    else if (ch === '?') source += '[^/]';
    else source += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${source}$`).test(name);
}

function parseWorkflow(text: string): ParsedWorkflow {
  const result: ParsedWorkflow = { dispatchable: false, inputs: new Map() };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return result;
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return result;
  const top = doc as Record<string, unknown>;
  if (typeof top.name === 'string') result.name = top.name;
  if (typeof top['run-name'] === 'string') result.runName = top['run-name'];
  const on = top.on ?? top.true; // `on` is a boolean key under YAML 1.1 readers
  if (on === 'workflow_dispatch') result.dispatchable = true;
  else if (Array.isArray(on)) result.dispatchable = on.includes('workflow_dispatch');
  else if (on !== null && typeof on === 'object' && 'workflow_dispatch' in on) {
    result.dispatchable = true;
    const dispatch = (on as Record<string, unknown>).workflow_dispatch;
    const inputs = dispatch !== null && typeof dispatch === 'object' ? (dispatch as Record<string, unknown>).inputs : undefined;
    if (inputs !== null && typeof inputs === 'object') {
      for (const [key, value] of Object.entries(inputs as Record<string, unknown>)) {
        const spec = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
        const input: WorkflowInput = { required: spec.required === true };
        if (spec.default !== undefined && spec.default !== null) input.default = String(spec.default);
        if (typeof spec.type === 'string') input.type = spec.type;
        if (Array.isArray(spec.options)) input.options = spec.options.map(String);
        result.inputs.set(key, input);
      }
    }
  }
  return result;
}

/** `${{ inputs.X }}` / `${{ github.event.inputs.X }}` substituted; other expressions are left as written. */
function evaluateRunName(template: string, inputs: Record<string, string>): string {
  return template.replace(/\$\{\{\s*(?:github\.event\.)?inputs\.([A-Za-z0-9_-]+)\s*\}\}/g, (_all, key: string) => inputs[key] ?? '');
}

/** Entries of a zip (central directory), inflated with a size cap; best effort, for leak scans. */
function unzipForScan(zip: Buffer): Array<{ name: string; data: Buffer }> {
  const out: Array<{ name: string; data: Buffer }> = [];
  const floor = Math.max(0, zip.length - 65_557);
  let eocd = -1;
  for (let i = zip.length - 22; i >= floor; i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return out;
  const count = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count && offset + 46 <= zip.length; n++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) break;
    const method = zip.readUInt16LE(offset + 10);
    const compressed = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const local = zip.readUInt32LE(offset + 42);
    const name = zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8');
    offset += 46 + nameLength + extraLength + commentLength;
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) continue;
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, Math.min(zip.length, start + compressed));
    let data: Buffer = raw;
    if (method === 8) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: 64 * 1024 * 1024 });
      } catch {
        data = raw;
      }
    }
    out.push({ name, data });
  }
  return out;
}

function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: Buffer.from(JSON.stringify(value)) };
}

function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: Buffer.alloc(0) };
}

function defaultMessage(status: number): string {
  const messages: Record<number, string> = {
    400: 'Bad Request',
    401: 'Bad credentials',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    422: 'Validation Failed',
    429: 'Too Many Requests',
    500: 'Server Error',
    502: 'Server Error',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return messages[status] ?? http.STATUS_CODES[status] ?? 'Error';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function wantsRaw(ctx: Ctx): boolean {
  const accept = String(ctx.headers.accept ?? '');
  return /application\/vnd\.github(\.v3)?\.raw/.test(accept);
}

// ------------------------------------------------------------------------------------------------
// The emulator

class Emulator implements GithubEmulator {
  readonly token = randomToken('ghp_');
  readonly requests: RecordedRequest[] = [];
  readonly caFile: string;
  readonly host: RunnerHost;
  port = 0;
  serverUrl = '';
  apiUrl = '';

  readonly #options: Required<Omit<EmulatorOptions, 'runner'>>;
  #runner: Runner | undefined;
  readonly #server: https.Server;
  readonly #configDir: string;
  readonly #repos = new Map<string, RepoState>();
  readonly #rulesets = new Map<string, Array<Record<string, unknown> & { id: number; name: string; target: string; enforcement: string }>>();
  readonly #runs = new Map<number, RunState>();
  readonly #artifacts = new Map<number, EmulatedArtifact>();
  readonly #jobTokens = new Map<string, { repo: string; runId: number }>();
  readonly #blobUrls = new Map<string, { artifactId: number; expiresAt: number }>();
  readonly #rateUsed = new Map<string, number>();
  readonly #faults: ActiveFault[] = [];
  /** Pending fault delays: each timer with the resolver that ends its wait early (on close). */
  readonly #timers = new Map<NodeJS.Timeout, (alive: boolean) => void>();
  readonly #repoRoutes: RepoRoute[] = [];
  #clockOffset = 0;
  #hideMs = 0;
  #rateReset = 0;
  #nextRepoId = 100_001;
  #nextWorkflowId = 1001;
  #nextRunId = 9_000_000_001;
  #nextJobId = 20_000_000_001;
  #nextArtifactId = 5_000_001;
  #nextEnvironmentId = 700_001;
  #nextPolicyId = 800_001;
  #commitCounter = 0;

  constructor(options: EmulatorOptions) {
    this.#options = {
      installedVersion: options.installedVersion ?? '3.21.0',
      returnRunDetails: options.returnRunDetails ?? true,
      maxBlobBytes: options.maxBlobBytes ?? 40 * 1024 * 1024,
      login: options.login ?? 'monalisa',
    };
    this.#runner = options.runner;
    const pki = testPki();
    this.caFile = pki.caFile;
    this.#configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-gh-config-'));
    this.#server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => this.#onRequest(req, res));
    this.host = this.#makeHost();
    this.#registerRoutes();
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.address() as AddressInfo).port;
    this.serverUrl = `https://localhost:${this.port}`;
    this.apiUrl = `${this.serverUrl}/api/v3`;
    this.#rateReset = Math.floor(this.#nowMs() / 1000) + 3600;
  }

  env(extra: Record<string, string | undefined> = {}): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value === undefined || key.startsWith('GH_') || key.startsWith('GITHUB_')) continue;
      env[key] = value;
    }
    Object.assign(env, {
      GH_HOST: `localhost:${this.port}`,
      GH_ENTERPRISE_TOKEN: this.token,
      GH_CONFIG_DIR: this.#configDir,
      SSL_CERT_FILE: this.caFile,
      NODE_EXTRA_CA_CERTS: this.caFile,
      GH_PROMPT_DISABLED: '1',
      GH_NO_UPDATE_NOTIFIER: '1',
      NO_COLOR: '1',
    });
    for (const [key, value] of Object.entries(extra)) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    return env;
  }

  async close(): Promise<void> {
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve(false);
    }
    this.#timers.clear();
    await new Promise<void>((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
    fs.rmSync(this.#configDir, { recursive: true, force: true });
  }

  setRunner(runner: Runner | undefined): void {
    this.#runner = runner;
  }

  #nowMs(): number {
    return Date.now() + this.#clockOffset;
  }

  now(): Date {
    return new Date(this.#nowMs());
  }

  #iso(): string {
    return isoSeconds(this.#nowMs());
  }

  advanceClock(ms: number): void {
    this.#clockOffset += ms;
  }

  // ----------------------------------------------------------------------------------------------
  // Repository state

  #repo(fullName: string): RepoState {
    const repo = this.#repos.get(fullName.toLowerCase());
    if (!repo) throw new Error(`emulator: no repository ${fullName}`);
    return repo;
  }

  #secretScope(): SecretScope {
    const keyPair = sealKeyPair();
    // GitHub's key ids are decimal strings of about 19 digits.
    const keyId = BigInt(`0x${randomBytes(8).toString('hex')}`).toString().slice(0, 19);
    return { keyPair, keyId, secrets: new Map() };
  }

  createRepo(fullName: string, options: CreateRepoOptions = {}): RepoInfo {
    const [owner, name] = splitRepo(fullName);
    if (this.#repos.has(fullName.toLowerCase())) throw new Error(`emulator: ${fullName} exists`);
    const defaultBranch = options.defaultBranch ?? 'main';
    const repo: RepoState = {
      ...this.#secretScope(),
      id: this.#nextRepoId++,
      owner,
      name,
      fullName,
      defaultBranch,
      private: options.private ?? true,
      created_at: this.#iso(),
      commits: new Map(),
      refs: new Map(),
      blobs: new Map(),
      environments: new Map(),
      variables: new Map(),
      workflowIds: new Map(),
      runNumbers: new Map(),
    };
    this.#repos.set(fullName.toLowerCase(), repo);
    const sha = this.#addCommit(repo, undefined, options.files ?? { 'README.md': `# ${name}\n` }, 'Initial commit');
    repo.refs.set(`refs/heads/${defaultBranch}`, sha);
    this.#syncWorkflows(repo);
    return { id: repo.id, fullName, defaultBranch, sha };
  }

  #storeBlob(repo: RepoState, bytes: Buffer): string {
    const sha = gitBlobSha(bytes);
    if (!repo.blobs.has(sha)) repo.blobs.set(sha, Buffer.from(bytes));
    return sha;
  }

  #addCommit(repo: RepoState, parent: string | undefined, changes: FileChanges, message: string): string {
    const files = new Map(parent ? repo.commits.get(parent)?.files : undefined);
    for (const [filePath, content] of Object.entries(changes)) {
      if (content === null) files.delete(filePath);
      else files.set(filePath, this.#storeBlob(repo, typeof content === 'string' ? Buffer.from(content, 'utf8') : content));
    }
    const treeText = [...files.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([p, s]) => `${p}\0${s}\n`)
      .join('');
    const treeSha = sha1Hex(`tree\n${treeText}`);
    const date = this.#iso();
    const parents = parent ? [parent] : [];
    const sha = sha1Hex(`commit\n${treeSha}\n${parents.join(' ')}\n${date}\n${this.#commitCounter++}\n${message}`);
    repo.commits.set(sha, { sha, treeSha, parents, files, message, date });
    return sha;
  }

  commit(fullName: string, branch: string, files: FileChanges, message = 'Update files'): string {
    const repo = this.#repo(fullName);
    const ref = `refs/heads/${branch}`;
    const parent = repo.refs.get(ref) ?? repo.refs.get(`refs/heads/${repo.defaultBranch}`);
    const sha = this.#addCommit(repo, parent, files, message);
    repo.refs.set(ref, sha);
    if (branch === repo.defaultBranch) this.#syncWorkflows(repo);
    return sha;
  }

  #fullRef(ref: string): string {
    if (ref.startsWith('refs/')) return ref;
    if (ref.startsWith('heads/') || ref.startsWith('tags/')) return `refs/${ref}`;
    return ref;
  }

  moveRef(fullName: string, ref: string, sha: string): void {
    const repo = this.#repo(fullName);
    if (!repo.commits.has(sha)) throw new Error(`emulator: no commit ${sha} in ${fullName}`);
    const full = this.#fullRef(ref);
    if (!/^refs\/(heads|tags)\/.+/.test(full)) throw new Error(`emulator: ${ref} is not a branch or tag ref`);
    repo.refs.set(full, sha);
    if (full === `refs/heads/${repo.defaultBranch}`) this.#syncWorkflows(repo);
  }

  refSha(fullName: string, ref: string): string | undefined {
    const repo = this.#repo(fullName);
    const full = this.#fullRef(ref);
    return repo.refs.get(full) ?? repo.refs.get(`refs/heads/${ref}`) ?? repo.refs.get(`refs/tags/${ref}`);
  }

  /** Branch or tag name (or full ref) → commit; raw shas are not refs. */
  #resolveRef(repo: RepoState, ref: string): { sha: string; kind: 'branch' | 'tag'; name: string } | undefined {
    const attempts: Array<[string, 'branch' | 'tag', string]> = [];
    if (ref.startsWith('refs/heads/')) attempts.push([ref, 'branch', ref.slice(11)]);
    else if (ref.startsWith('refs/tags/')) attempts.push([ref, 'tag', ref.slice(10)]);
    else attempts.push([`refs/heads/${ref}`, 'branch', ref], [`refs/tags/${ref}`, 'tag', ref]);
    for (const [full, kind, name] of attempts) {
      const sha = repo.refs.get(full);
      if (sha) return { sha, kind, name };
    }
    return undefined;
  }

  /** A sha (full or unique prefix of ≥ 7), branch or tag → commit. */
  #resolveCommitish(repo: RepoState, ref: string): CommitState | undefined {
    const byRef = this.#resolveRef(repo, ref);
    if (byRef) return repo.commits.get(byRef.sha);
    if (/^[0-9a-f]{7,40}$/.test(ref)) {
      const found = [...repo.commits.values()].filter((c) => c.sha.startsWith(ref));
      if (found.length === 1) return found[0];
    }
    return undefined;
  }

  #defaultHead(repo: RepoState): CommitState {
    const sha = repo.refs.get(`refs/heads/${repo.defaultBranch}`);
    const commit = sha ? repo.commits.get(sha) : undefined;
    if (!commit) throw new ApiError(404, 'Not Found');
    return commit;
  }

  #fileAt(repo: RepoState, commit: CommitState, filePath: string): Buffer | undefined {
    const blob = commit.files.get(filePath);
    return blob ? repo.blobs.get(blob) : undefined;
  }

  #isAncestor(repo: RepoState, ancestor: string, descendant: string): boolean {
    const stack = [descendant];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const sha = stack.pop() as string;
      if (sha === ancestor) return true;
      if (seen.has(sha)) continue;
      seen.add(sha);
      stack.push(...(repo.commits.get(sha)?.parents ?? []));
    }
    return false;
  }

  /** Workflows are the `.github/workflows/*.yml` files on the default branch; ids stick once given. */
  #syncWorkflows(repo: RepoState): void {
    const head = this.#defaultHead(repo);
    const paths = [...head.files.keys()].filter((p) => /^\.github\/workflows\/[^/]+\.ya?ml$/.test(p)).sort();
    for (const p of paths) if (!repo.workflowIds.has(p)) repo.workflowIds.set(p, { id: this.#nextWorkflowId++, created_at: this.#iso() });
  }

  #workflows(repo: RepoState): WorkflowInfo[] {
    this.#syncWorkflows(repo);
    const head = this.#defaultHead(repo);
    const out: WorkflowInfo[] = [];
    for (const [p, { id, created_at }] of repo.workflowIds) {
      const bytes = this.#fileAt(repo, head, p);
      if (!bytes) continue;
      out.push({ id, path: p, name: parseWorkflow(bytes.toString('utf8')).name ?? p, created_at });
    }
    return out.sort((a, b) => a.id - b.id);
  }

  #workflow(repo: RepoState, idOrFile: string): WorkflowInfo {
    const found = this.#workflows(repo).find((w) => (/^\d+$/.test(idOrFile) ? String(w.id) === idOrFile : path.posix.basename(w.path) === idOrFile));
    if (!found) throw new ApiError(404, 'Not Found');
    return found;
  }

  setEnvironment(fullName: string, name: string, setup: EnvironmentSetup = {}): void {
    const repo = this.#repo(fullName);
    const env = this.#ensureEnvironment(repo, name);
    if (setup.deploymentBranchPolicy !== undefined) env.policy = setup.deploymentBranchPolicy;
    for (const policy of setup.policies ?? []) {
      if (!env.branchPolicies.some((p) => p.name === policy.name && p.type === policy.type)) env.branchPolicies.push({ id: this.#nextPolicyId++, ...policy });
    }
    env.updated_at = this.#iso();
  }

  #ensureEnvironment(repo: RepoState, name: string): EnvironmentState {
    let env = repo.environments.get(name.toLowerCase());
    if (!env) {
      const now = this.#iso();
      env = { ...this.#secretScope(), id: this.#nextEnvironmentId++, name, created_at: now, updated_at: now, policy: null, branchPolicies: [] };
      repo.environments.set(name.toLowerCase(), env);
    }
    return env;
  }

  #environment(repo: RepoState, name: string): EnvironmentState {
    const env = repo.environments.get(name.toLowerCase());
    if (!env) throw new ApiError(404, 'Not Found');
    return env;
  }

  setSecret(fullName: string, name: string, value: string, environment?: string): void {
    const repo = this.#repo(fullName);
    const scope = environment === undefined ? repo : this.#ensureEnvironment(repo, environment);
    const now = this.#iso();
    const existing = scope.secrets.get(name.toUpperCase());
    scope.secrets.set(name.toUpperCase(), { value, created_at: existing?.created_at ?? now, updated_at: now });
  }

  secretValue(fullName: string, name: string, environment?: string): string | undefined {
    const repo = this.#repo(fullName);
    const scope = environment === undefined ? repo : repo.environments.get(environment.toLowerCase());
    return scope?.secrets.get(name.toUpperCase())?.value;
  }

  /** Whether a run's ref passes the environment's deployment branch/tag policy. */
  #deploymentAllowed(env: EnvironmentState, state: RunState): boolean {
    if (env.policy === null) return true;
    if (env.policy.protected_branches) return false; // no branch is protected here
    if (!env.policy.custom_branch_policies) return true;
    return env.branchPolicies.some((p) => p.type === state.refKind && policyPatternMatches(p.name, state.run.head_branch));
  }

  // ----------------------------------------------------------------------------------------------
  // Runs and artifacts

  #runState(id: number): RunState {
    const state = this.#runs.get(id);
    if (!state) throw new Error(`emulator: no run ${id}`);
    return state;
  }

  #visibleRun(repo: RepoState, id: string): RunState {
    const state = /^\d+$/.test(id) ? this.#runs.get(Number(id)) : undefined;
    if (!state || state.run.repo !== repo.fullName || state.hiddenUntil > this.#nowMs()) throw new ApiError(404, 'Not Found');
    return state;
  }

  runs(fullName: string): EmulatedRun[] {
    const repo = this.#repo(fullName);
    return [...this.#runs.values()].filter((s) => s.run.repo === repo.fullName).map((s) => ({ ...s.run, inputs: { ...s.run.inputs } }));
  }

  run(id: number): EmulatedRun | undefined {
    const state = this.#runs.get(id);
    return state ? { ...state.run, inputs: { ...state.run.inputs } } : undefined;
  }

  artifacts(runId: number): EmulatedArtifact[] {
    return [...this.#artifacts.values()].filter((a) => a.runId === runId).map((a) => ({ ...a, bytes: Buffer.from(a.bytes) }));
  }

  log(runId: number): string[] {
    return [...(this.#runs.get(runId)?.log ?? [])];
  }

  rulesets(fullName: string): Array<Record<string, unknown>> {
    return structuredClone(this.#rulesets.get(fullName) ?? []);
  }

  jobTokens(): string[] {
    return [...this.#jobTokens.keys()];
  }

  hideNewRuns(ms: number): void {
    this.#hideMs = ms;
  }

  #artifact(id: number): EmulatedArtifact {
    const artifact = this.#artifacts.get(id);
    if (!artifact) throw new Error(`emulator: no artifact ${id}`);
    return artifact;
  }

  tamperArtifact(id: number, bytes: Buffer): void {
    this.#artifact(id).bytes = Buffer.from(bytes);
  }

  setArtifact(id: number, patch: ArtifactPatch): void {
    Object.assign(this.#artifact(id), patch);
  }

  addRawArtifact(runId: number, name: string, zip: Buffer, patch: ArtifactPatch = {}): EmulatedArtifact {
    const { id } = this.host.addArtifact(runId, name, zip);
    this.setArtifact(id, patch);
    return { ...this.#artifact(id) };
  }

  forceHeadSha(runId: number, sha: string): void {
    this.#runState(runId).run.head_sha = sha;
  }

  #setStatus(runId: number, status: RunStatus, conclusion?: RunConclusion): void {
    const state = this.#runState(runId);
    const { run, job } = state;
    if (run.status === 'completed') return; // a finished run stays as it finished (e.g. after force-cancel)
    const now = this.#iso();
    run.status = status;
    run.conclusion = status === 'completed' ? (conclusion ?? 'success') : null;
    run.updated_at = now;
    job.status = status;
    job.conclusion = run.conclusion;
    if (status !== 'queued' && job.started_at === null) job.started_at = now;
    if (status === 'completed') job.completed_at = now;
  }

  #makeHost(): RunnerHost {
    const self = this;
    return {
      get serverUrl() {
        return self.serverUrl;
      },
      get apiUrl() {
        return self.apiUrl;
      },
      caFile: this.caFile,
      readFile(repoName, sha, filePath) {
        const repo = self.#repos.get(repoName.toLowerCase());
        const commit = repo?.commits.get(sha);
        const bytes = repo && commit ? self.#fileAt(repo, commit, filePath) : undefined;
        return bytes ? Buffer.from(bytes) : undefined;
      },
      secretsFor(run, environment) {
        const state = self.#runs.get(run.id);
        const repo = self.#repo(run.repo);
        const out: Record<string, string> = {};
        for (const [name, secret] of repo.secrets) out[name] = secret.value;
        const env = environment === undefined ? undefined : repo.environments.get(environment.toLowerCase());
        if (env && state && self.#deploymentAllowed(env, state)) for (const [name, secret] of env.secrets) out[name] = secret.value;
        return out;
      },
      jobToken(run) {
        for (const [token, owner] of self.#jobTokens) if (owner.runId === run.id) return token;
        const token = randomToken('ghs_');
        self.#jobTokens.set(token, { repo: run.repo, runId: run.id });
        return token;
      },
      setStatus(runId, status, conclusion) {
        self.#setStatus(runId, status, conclusion);
      },
      addArtifact(runId, name, zip, retentionDays = 90) {
        const state = self.#runState(runId);
        const nowMs = self.#nowMs();
        const bytes = Buffer.from(zip);
        const artifact: EmulatedArtifact = {
          id: self.#nextArtifactId++,
          runId,
          repo: state.run.repo,
          name,
          bytes,
          digest: `sha256:${sha256Hex(bytes)}`,
          size_in_bytes: bytes.length,
          expired: false,
          created_at: isoSeconds(nowMs),
          updated_at: isoSeconds(nowMs),
          expires_at: isoSeconds(nowMs + retentionDays * DAY_MS),
        };
        self.#artifacts.set(artifact.id, artifact);
        return { id: artifact.id, digest: artifact.digest as string };
      },
      appendLog(runId, line) {
        self.#runState(runId).log.push(line);
      },
      idTokenRequest(run, job) {
        const token = randomToken('oidcreq_');
        self.#oidcRequests.set(token, { runId: run.id, job });
        return { url: `${self.serverUrl}/_services/token/idtoken?api-version=2.0`, token };
      },
    };
  }

  // ----------------------------------------------------------------------------------------------
  // OIDC issuer (GHES-style: https://HOST/_services/token), RS256

  readonly #oidcKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  readonly #oidcKid = randomBytes(8).toString('hex');
  readonly #oidcRequests = new Map<string, { runId: number; job: string }>();
  #oidcOverride: Record<string, unknown> = {};

  /** Claims that replace the real ones in tokens issued from now on (tests of a wrong token). */
  oidcOverride(claims: Record<string, unknown>): void {
    this.#oidcOverride = { ...claims };
  }

  oidcRequestTokens(): string[] {
    return [...this.#oidcRequests.keys()];
  }

  #oidc(ctx: Ctx, pathname: string): Reply {
    const issuer = `${this.serverUrl}/_services/token`;
    const rest = pathname.slice('/_services/token/'.length);
    if (rest === '.well-known/openid-configuration') {
      return jsonReply(200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks`,
        subject_types_supported: ['public', 'pairwise'],
        response_types_supported: ['id_token'],
        claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_id', 'run_id', 'run_attempt', 'job_workflow_ref', 'job_workflow_sha', 'workflow_sha', 'event_name'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid'],
      });
    }
    if (rest === '.well-known/jwks') {
      const jwk = this.#oidcKey.publicKey.export({ format: 'jwk' }) as JsonObject;
      return jsonReply(200, { keys: [{ ...jwk, kid: this.#oidcKid, alg: 'RS256', use: 'sig' }] });
    }
    if (rest === 'idtoken' && ctx.method === 'GET') {
      const auth = String(ctx.headers.authorization ?? '');
      const grant = this.#oidcRequests.get(auth.replace(/^Bearer\s+/i, ''));
      if (!grant) throw new ApiError(401, 'Bad credentials');
      const state = this.#runState(grant.runId);
      const run = state.run;
      const repo = this.#repos.get(run.repo.toLowerCase());
      const isTag = run.head_branch.startsWith('swarm-pin-') || (repo?.refs.has(`refs/tags/${run.head_branch}`) ?? false);
      const ref = `refs/${isTag ? 'tags' : 'heads'}/${run.head_branch}`;
      const now = Math.floor(this.#nowMs() / 1000);
      const claims: Record<string, unknown> = {
        jti: randomBytes(16).toString('hex'),
        sub: `repo:${run.repo}:ref:${ref}`,
        aud: ctx.url.searchParams.get('audience') ?? `${this.serverUrl}/${run.repo.split('/')[0]}`,
        ref,
        sha: run.head_sha,
        repository: run.repo,
        repository_owner: run.repo.split('/')[0],
        repository_id: String(repo?.id ?? 0),
        run_id: String(run.id),
        run_number: String(run.run_number),
        run_attempt: String(run.run_attempt),
        actor: this.#options.login,
        workflow: run.name,
        event_name: run.event,
        ref_type: isTag ? 'tag' : 'branch',
        workflow_ref: `${run.repo}/${run.path}@${ref}`,
        workflow_sha: run.head_sha,
        job_workflow_ref: `${run.repo}/${run.path}@${ref}`,
        job_workflow_sha: run.head_sha,
        runner_environment: 'github-hosted',
        iss: issuer,
        nbf: now - 5,
        iat: now,
        exp: now + 300,
        ...this.#oidcOverride,
      };
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      const signingInput = `${b64({ typ: 'JWT', alg: 'RS256', kid: this.#oidcKid })}.${b64(claims)}`;
      const signature = cryptoSign('sha256', Buffer.from(signingInput), this.#oidcKey.privateKey).toString('base64url');
      return jsonReply(200, { count: 1, value: `${signingInput}.${signature}` });
    }
    throw new ApiError(404, 'Not Found');
  }

  // ----------------------------------------------------------------------------------------------
  // Faults and inspection

  fault(spec: FaultSpec): FaultHandle {
    const active: ActiveFault = { spec, hits: 0, removed: false };
    this.#faults.push(active);
    return {
      spec,
      get hits() {
        return active.hits;
      },
      remove() {
        active.removed = true;
      },
    };
  }

  clearFaults(): void {
    for (const f of this.#faults) f.removed = true;
    this.#faults.length = 0;
  }

  #takeFault(method: string, pathname: string): FaultSpec | undefined {
    for (const f of this.#faults) {
      if (f.removed || f.hits >= (f.spec.times ?? 1)) continue;
      if (f.spec.method !== undefined && f.spec.method.toUpperCase() !== method) continue;
      f.spec.path.lastIndex = 0;
      if (!f.spec.path.test(pathname)) continue;
      f.hits++;
      return f.spec;
    }
    return undefined;
  }

  dumpState(): unknown {
    const repos = [...this.#repos.values()].map((repo) => ({
      id: repo.id,
      fullName: repo.fullName,
      defaultBranch: repo.defaultBranch,
      refs: Object.fromEntries(repo.refs),
      commits: [...repo.commits.values()].map((c) => ({ sha: c.sha, parents: c.parents, message: c.message, files: Object.fromEntries(c.files) })),
      blobs: [...repo.blobs.entries()].map(([sha, bytes]) => ({ sha, size: bytes.length })),
      secrets: [...repo.secrets.keys()],
      environments: [...repo.environments.values()].map((e) => ({ name: e.name, policy: e.policy, branchPolicies: e.branchPolicies, secrets: [...e.secrets.keys()] })),
      variables: Object.fromEntries([...repo.variables].map(([k, v]) => [k, v.value])),
      workflows: this.#workflows(repo),
    }));
    const runs = [...this.#runs.values()].map((s) => ({ ...s.run, refKind: s.refKind, hiddenUntil: s.hiddenUntil, job: s.job, logLines: s.log.length }));
    const artifacts = [...this.#artifacts.values()].map(({ bytes, ...rest }) => ({ ...rest, storedBytes: bytes.length, storedSha256: sha256Hex(bytes) }));
    return { now: this.#iso(), repos, runs, artifacts, requests: this.requests.length };
  }

  leakCorpus(): Buffer {
    const parts: Buffer[] = [];
    const add = (value: Buffer | string) => parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value, Buffer.from('\n'));
    const addDecodedStrings = (value: unknown) => {
      if (typeof value === 'string') {
        add(value);
        const compact = value.replace(/\s+/g, '');
        if (compact.length >= 4 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
          add(Buffer.from(compact, 'base64'));
          add(Buffer.from(compact, 'base64url'));
        }
      } else if (Array.isArray(value)) for (const v of value) addDecodedStrings(v);
      else if (isObject(value)) for (const [k, v] of Object.entries(value)) {
        add(k);
        addDecodedStrings(v);
      }
    };
    for (const request of this.requests) {
      add(`${request.method} ${request.url}`);
      try {
        add(decodeURIComponent(request.url));
      } catch {
        // not URL-encoded text
      }
      for (const [k, v] of Object.entries(request.headers)) add(`${k}: ${v}`);
      add(request.body);
      if (request.body.length > 0) {
        const text = request.body.toString('utf8');
        try {
          addDecodedStrings(JSON.parse(text) as unknown);
        } catch {
          if (request.body.length <= 64 * 1024 * 1024) addDecodedStrings(text); // not JSON: perhaps base64 as a whole
        }
      }
    }
    for (const repo of this.#repos.values()) {
      for (const bytes of repo.blobs.values()) add(bytes);
      for (const c of repo.commits.values()) add(`${c.message}\n${[...c.files.keys()].join('\n')}`);
      for (const [k, v] of repo.variables) add(`${k}=${v.value}`);
      for (const env of repo.environments.values()) add(`${env.name} ${env.branchPolicies.map((p) => p.name).join(' ')}`);
    }
    for (const state of this.#runs.values()) {
      add(state.run.display_title);
      for (const [k, v] of Object.entries(state.run.inputs)) add(`${k}=${v}`);
      addDecodedStrings(state.run.inputs);
      for (const line of state.log) add(line);
    }
    for (const artifact of this.#artifacts.values()) {
      add(artifact.name);
      add(artifact.bytes);
      for (const entry of unzipForScan(artifact.bytes)) {
        add(entry.name);
        add(entry.data);
      }
    }
    return Buffer.concat(parts);
  }

  // ----------------------------------------------------------------------------------------------
  // HTTP plumbing

  #credential(headers: http.IncomingHttpHeaders): { credential: Credential; key: string } {
    const header = headers.authorization;
    if (header === undefined) return { credential: { kind: 'none' }, key: '' };
    const match = /^(?:token|bearer)\s+(\S+)$/i.exec(header);
    const presented = match?.[1];
    if (presented === this.token) return { credential: { kind: 'operator' }, key: presented };
    const job = presented === undefined ? undefined : this.#jobTokens.get(presented);
    if (presented !== undefined && job) return { credential: { kind: 'job', repo: job.repo, runId: job.runId }, key: presented };
    return { credential: { kind: 'invalid' }, key: '' };
  }

  #standardHeaders(credential: Credential, key: string, resource: string): Record<string, string> {
    const headers: Record<string, string> = {
      date: this.now().toUTCString(),
      server: 'GitHub.com',
      'x-github-request-id': [4, 4, 6, 6, 8].map((n) => randomBytes(n).toString('hex').slice(0, n).toUpperCase()).join(':'),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
      'x-github-enterprise-version': this.#options.installedVersion,
    };
    if (credential.kind === 'operator' || credential.kind === 'job') {
      const limit = credential.kind === 'operator' ? RATE_LIMIT : 1000;
      const used = (this.#rateUsed.get(key) ?? 0) + 1;
      this.#rateUsed.set(key, used);
      Object.assign(headers, {
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': String(Math.max(0, limit - used)),
        'x-ratelimit-reset': String(this.#rateReset),
        'x-ratelimit-used': String(used),
        'x-ratelimit-resource': resource,
      });
      if (credential.kind === 'operator') {
        headers['x-oauth-scopes'] = SCOPES;
        headers['x-accepted-oauth-scopes'] = '';
      }
    } else {
      Object.assign(headers, { 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': String(this.#rateReset), 'x-ratelimit-used': '1', 'x-ratelimit-resource': 'core' });
    }
    return headers;
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      this.#serve(req, res, Buffer.concat(chunks), size > MAX_REQUEST_BYTES).catch(() => res.destroy());
    });
    req.on('error', () => res.destroy());
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, tooLarge: boolean): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(`https://localhost${(req.url ?? '/').startsWith('/') ? (req.url ?? '/') : `/${req.url ?? ''}`}`);
    const { credential, key } = this.#credential(req.headers);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name === 'authorization' || name === 'proxy-authorization' || value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const record: RecordedRequest = {
      method,
      url: req.url ?? '/',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body,
      status: 0,
      credential: credential.kind,
      time: this.#iso(),
    };
    this.requests.push(record);
    const ctx: Ctx = { method, url, headers: req.headers, body, credential };
    const standard = url.pathname.startsWith('/_blob/') ? {} : this.#standardHeaders(credential, key, url.pathname === '/api/graphql' ? 'graphql' : 'core');
    const real = (): Reply => {
      const reply = tooLarge ? jsonReply(413, { message: 'Request body too large' }) : this.#handle(ctx);
      return { ...reply, headers: { ...standard, ...reply.headers } };
    };
    const fault = this.#takeFault(method, url.pathname);
    let reply: Reply;
    if (!fault) reply = real();
    else {
      const realFirst = fault.after === true ? real() : undefined;
      if (fault.delayMs !== undefined && fault.delayMs > 0 && !(await this.#sleep(fault.delayMs, res))) return;
      if (fault.dropConnection) {
        req.socket.destroy();
        return;
      }
      const replaced = fault.status !== undefined || fault.body !== undefined || (fault.after === true && fault.delayMs === undefined);
      if (replaced) {
        const status = fault.status ?? 502;
        const text = typeof fault.body === 'string' ? fault.body : undefined;
        const bodyBytes = Buffer.from(text ?? JSON.stringify(fault.body ?? { message: defaultMessage(status), documentation_url: DOCS }));
        const contentType = text === undefined ? 'application/json; charset=utf-8' : text.trimStart().startsWith('<') ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8';
        reply = { status, headers: { ...standard, 'content-type': contentType }, body: bodyBytes };
      } else reply = realFirst ?? real();
      reply.headers = { ...reply.headers, ...lowerKeys(fault.headers ?? {}) };
    }
    if (res.destroyed) return;
    record.status = reply.status;
    const noBody = reply.status === 204 || reply.status === 304;
    res.writeHead(reply.status, noBody ? reply.headers : { ...reply.headers, 'content-length': String(reply.body.length) });
    if (noBody) res.end();
    else if (fault?.truncateAfterBytes !== undefined && fault.truncateAfterBytes < reply.body.length) {
      // The full Content-Length is promised, part of the body sent, then the connection reset.
      res.write(reply.body.subarray(0, fault.truncateAfterBytes), () => setImmediate(() => req.socket.destroy()));
    } else res.end(reply.body);
  }

  /** Waits `ms`; false when the client went away (or the emulator closed) meanwhile. */
  #sleep(ms: number, res: http.ServerResponse): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve(!res.destroyed);
      }, ms);
      this.#timers.set(timer, resolve);
      res.once('close', () => {
        if (this.#timers.delete(timer)) {
          clearTimeout(timer);
          resolve(false);
        }
      });
    });
  }

  #handle(ctx: Ctx): Reply {
    try {
      return this.#route(ctx);
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status === 204 || error.status === 304) return emptyReply(error.status, error.extra);
        return jsonReply(error.status, { message: error.message, documentation_url: DOCS }, error.extra);
      }
      return jsonReply(500, { message: `emulator: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  #route(ctx: Ctx): Reply {
    const pathname = ctx.url.pathname;
    if (pathname.startsWith('/_blob/')) return this.#serveBlobUrl(ctx, pathname.slice('/_blob/'.length));
    if (pathname.startsWith('/_services/token/')) return this.#oidc(ctx, pathname);
    if (pathname !== '/api/graphql' && pathname !== '/api/v3' && !pathname.startsWith('/api/v3/')) throw new ApiError(404, 'Not Found');
    if (ctx.credential.kind === 'none') throw new ApiError(401, 'Requires authentication');
    if (ctx.credential.kind === 'invalid') throw new ApiError(401, 'Bad credentials');
    if (pathname === '/api/graphql') {
      if (ctx.method !== 'POST') throw new ApiError(404, 'Not Found');
      return this.#graphql(ctx);
    }
    let segments: string[];
    try {
      segments = pathname.slice('/api/v3'.length).split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    } catch {
      throw new ApiError(404, 'Not Found');
    }
    const [first, ...rest] = segments;
    if (first === undefined) return this.#root(ctx);
    if (segments.length === 1 && first === 'user' && ctx.method === 'GET') {
      if (ctx.credential.kind !== 'operator') throw new ApiError(403, 'Resource not accessible by integration');
      return jsonReply(200, this.#userJson());
    }
    if (segments.length === 1 && first === 'meta' && ctx.method === 'GET') return this.#meta();
    if (segments.length === 1 && first === 'rate_limit' && ctx.method === 'GET') return this.#rateLimit();
    let repo: RepoState | undefined;
    let tail: string[] = [];
    if (first === 'repos' && rest.length >= 2) {
      repo = this.#repos.get(`${rest[0]}/${rest[1]}`.toLowerCase());
      tail = rest.slice(2);
    } else if (first === 'repositories' && rest.length >= 1 && /^\d+$/.test(rest[0] ?? '')) {
      repo = [...this.#repos.values()].find((r) => String(r.id) === rest[0]);
      tail = rest.slice(1);
    } else throw new ApiError(404, 'Not Found');
    if (!repo) throw new ApiError(404, 'Not Found');
    if (ctx.credential.kind === 'job' && ctx.credential.repo !== repo.fullName) throw new ApiError(404, 'Not Found');
    for (const route of this.#repoRoutes) {
      if (route.method !== ctx.method) continue;
      const params = matchSegments(route.segments, tail);
      if (params) return route.handler(ctx, repo, params);
    }
    throw new ApiError(404, 'Not Found');
  }

  #json(ctx: Ctx): Record<string, unknown> {
    if (ctx.body.length === 0) return {};
    let value: unknown;
    try {
      value = JSON.parse(ctx.body.toString('utf8'));
    } catch {
      throw new ApiError(400, 'Problems parsing JSON');
    }
    if (!isObject(value)) throw new ApiError(400, 'Body should be a JSON object');
    return value;
  }

  #page(ctx: Ctx): { perPage: number; page: number } {
    const perPageRaw = Number(ctx.url.searchParams.get('per_page') ?? '30');
    const pageRaw = Number(ctx.url.searchParams.get('page') ?? '1');
    const perPage = Number.isInteger(perPageRaw) && perPageRaw >= 1 ? Math.min(100, perPageRaw) : 30;
    const page = Number.isInteger(pageRaw) && pageRaw >= 1 ? pageRaw : 1;
    return { perPage, page };
  }

  /** One page of `items` and the `Link` header GitHub would send (next/last/first/prev). */
  #paginate<T>(ctx: Ctx, items: T[]): { items: T[]; headers: Record<string, string> } {
    const { perPage, page } = this.#page(ctx);
    const last = Math.max(1, Math.ceil(items.length / perPage));
    const link = (n: number, rel: string) => {
      const u = new URL(`${this.serverUrl}${ctx.url.pathname}${ctx.url.search}`);
      u.searchParams.set('page', String(n));
      if (!u.searchParams.has('per_page')) u.searchParams.set('per_page', String(perPage));
      return `<${u.toString()}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'), link(Math.min(page - 1, last), 'prev'));
    return { items: items.slice((page - 1) * perPage, page * perPage), headers: links.length > 0 ? { link: links.join(', ') } : {} };
  }

  // ----------------------------------------------------------------------------------------------
  // JSON shapes

  #ownerJson(login: string): JsonObject {
    const url = `${this.apiUrl}/users/${login}`;
    return {
      login,
      id: login === this.#options.login ? 1 : 2,
      node_id: nodeId('User', login),
      type: 'User',
      site_admin: false,
      url,
      html_url: `${this.serverUrl}/${login}`,
      avatar_url: `${this.serverUrl}/avatars/u/1`,
      gravatar_id: '',
      followers_url: `${url}/followers`,
      following_url: `${url}/following{/other_user}`,
      gists_url: `${url}/gists{/gist_id}`,
      starred_url: `${url}/starred{/owner}{/repo}`,
      subscriptions_url: `${url}/subscriptions`,
      organizations_url: `${url}/orgs`,
      repos_url: `${url}/repos`,
      events_url: `${url}/events{/privacy}`,
      received_events_url: `${url}/received_events`,
    };
  }

  /** GET /user: the authenticated (private) form. */
  #userJson(): JsonObject {
    const owned = [...this.#repos.values()].filter((r) => r.owner === this.#options.login);
    const privateRepos = owned.filter((r) => r.private).length;
    return {
      ...this.#ownerJson(this.#options.login),
      name: 'Monalisa Octocat',
      email: null,
      company: null,
      blog: '',
      location: null,
      hireable: null,
      bio: null,
      public_repos: owned.length - privateRepos,
      public_gists: 0,
      followers: 0,
      following: 0,
      created_at: '2008-01-14T04:33:35Z',
      updated_at: '2008-01-14T04:33:35Z',
      private_gists: 0,
      total_private_repos: privateRepos,
      owned_private_repos: privateRepos,
      disk_usage: 0,
      collaborators: 0,
      two_factor_authentication: true,
    };
  }

  #repoJson(repo: RepoState, full = true): JsonObject {
    const url = `${this.apiUrl}/repos/${repo.fullName}`;
    const base: JsonObject = {
      id: repo.id,
      node_id: nodeId('Repository', repo.id),
      name: repo.name,
      full_name: repo.fullName,
      private: repo.private,
      owner: this.#ownerJson(repo.owner),
      html_url: `${this.serverUrl}/${repo.fullName}`,
      url,
      fork: false,
      description: null,
    };
    // The hypermedia URL templates GitHub sends with every repository, minimal or full.
    for (const [key, suffix] of Object.entries(REPO_URL_TEMPLATES)) base[`${key}_url`] = `${url}/${suffix}`;
    if (!full) return base;
    return {
      ...base,
      homepage: null,
      language: null,
      size: 0,
      forks: 0,
      forks_count: 0,
      stargazers_count: 0,
      watchers: 0,
      watchers_count: 0,
      open_issues: 0,
      open_issues_count: 0,
      network_count: 0,
      subscribers_count: 1,
      has_issues: true,
      has_projects: false,
      has_wiki: false,
      has_pages: false,
      has_discussions: false,
      mirror_url: null,
      license: null,
      visibility: repo.private ? 'private' : 'public',
      default_branch: repo.defaultBranch,
      archived: false,
      disabled: false,
      created_at: repo.created_at,
      updated_at: repo.created_at,
      pushed_at: this.#iso(),
      clone_url: `${this.serverUrl}/${repo.fullName}.git`,
      git_url: `git://localhost:${this.port}/${repo.fullName}.git`,
      ssh_url: `git@localhost:${repo.fullName}.git`,
      svn_url: `${this.serverUrl}/${repo.fullName}`,
      permissions: { admin: true, maintain: true, push: true, triage: true, pull: true },
    };
  }

  #commitJson(repo: RepoState, commit: CommitState): JsonObject {
    const person = { name: this.#options.login, email: `${this.#options.login}@users.noreply.localhost`, date: commit.date };
    return {
      sha: commit.sha,
      node_id: nodeId('Commit', commit.sha),
      url: `${this.apiUrl}/repos/${repo.fullName}/commits/${commit.sha}`,
      html_url: `${this.serverUrl}/${repo.fullName}/commit/${commit.sha}`,
      comments_url: `${this.apiUrl}/repos/${repo.fullName}/commits/${commit.sha}/comments`,
      commit: {
        author: person,
        committer: person,
        message: commit.message,
        tree: { sha: commit.treeSha, url: `${this.apiUrl}/repos/${repo.fullName}/git/trees/${commit.treeSha}` },
        url: `${this.apiUrl}/repos/${repo.fullName}/git/commits/${commit.sha}`,
        comment_count: 0,
        verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
      },
      author: this.#ownerJson(this.#options.login),
      committer: this.#ownerJson(this.#options.login),
      parents: commit.parents.map((sha) => ({ sha, url: `${this.apiUrl}/repos/${repo.fullName}/commits/${sha}`, html_url: `${this.serverUrl}/${repo.fullName}/commit/${sha}` })),
    };
  }

  #gitCommitJson(repo: RepoState, commit: CommitState): JsonObject {
    const person = { name: this.#options.login, email: `${this.#options.login}@users.noreply.localhost`, date: commit.date };
    return {
      sha: commit.sha,
      node_id: nodeId('Commit', commit.sha),
      url: `${this.apiUrl}/repos/${repo.fullName}/git/commits/${commit.sha}`,
      html_url: `${this.serverUrl}/${repo.fullName}/commit/${commit.sha}`,
      author: person,
      committer: person,
      message: commit.message,
      tree: { sha: commit.treeSha, url: `${this.apiUrl}/repos/${repo.fullName}/git/trees/${commit.treeSha}` },
      parents: commit.parents.map((sha) => ({ sha, url: `${this.apiUrl}/repos/${repo.fullName}/git/commits/${sha}`, html_url: `${this.serverUrl}/${repo.fullName}/commit/${sha}` })),
      verification: { verified: false, reason: 'unsigned', signature: null, payload: null, verified_at: null },
    };
  }

  #contentJson(repo: RepoState, filePath: string, blobSha: string, ref: string, withContent: boolean): JsonObject {
    const bytes = repo.blobs.get(blobSha) ?? Buffer.alloc(0);
    const url = `${this.apiUrl}/repos/${repo.fullName}/contents/${filePath}?ref=${encodeURIComponent(ref)}`;
    const gitUrl = `${this.apiUrl}/repos/${repo.fullName}/git/blobs/${blobSha}`;
    const htmlUrl = `${this.serverUrl}/${repo.fullName}/blob/${ref}/${filePath}`;
    const json: JsonObject = {
      type: 'file',
      name: path.posix.basename(filePath),
      path: filePath,
      sha: blobSha,
      size: bytes.length,
      url,
      html_url: htmlUrl,
      git_url: gitUrl,
      download_url: `${this.serverUrl}/${repo.fullName}/raw/${ref}/${filePath}`,
      _links: { self: url, git: gitUrl, html: htmlUrl },
    };
    if (withContent) {
      json.content = base64Lines(bytes);
      json.encoding = 'base64';
    }
    return json;
  }

  #refJson(repo: RepoState, ref: string, sha: string): JsonObject {
    return {
      ref,
      node_id: nodeId('Ref', `${repo.id}:${ref}`),
      url: `${this.apiUrl}/repos/${repo.fullName}/git/${ref}`,
      object: { sha, type: 'commit', url: `${this.apiUrl}/repos/${repo.fullName}/git/commits/${sha}` },
    };
  }

  #workflowJson(repo: RepoState, w: WorkflowInfo): JsonObject {
    return {
      id: w.id,
      node_id: nodeId('Workflow', w.id),
      name: w.name,
      path: w.path,
      state: 'active',
      created_at: w.created_at,
      updated_at: w.created_at,
      url: `${this.apiUrl}/repos/${repo.fullName}/actions/workflows/${w.id}`,
      html_url: `${this.serverUrl}/${repo.fullName}/blob/${repo.defaultBranch}/${w.path}`,
      badge_url: `${this.serverUrl}/${repo.fullName}/workflows/${encodeURIComponent(w.name)}/badge.svg`,
    };
  }

  #runJson(repo: RepoState, state: RunState): JsonObject {
    const { run } = state;
    const runUrl = `${this.apiUrl}/repos/${repo.fullName}/actions/runs/${run.id}`;
    const commit = repo.commits.get(run.head_sha);
    const person = { name: this.#options.login, email: `${this.#options.login}@users.noreply.localhost` };
    return {
      id: run.id,
      name: run.name,
      node_id: nodeId('WorkflowRun', run.id),
      head_branch: run.head_branch,
      head_sha: run.head_sha,
      path: run.path,
      display_title: run.display_title,
      run_number: run.run_number,
      event: run.event,
      status: run.status,
      conclusion: run.conclusion,
      workflow_id: run.workflow_id,
      check_suite_id: run.id + 1_000_000_000,
      check_suite_node_id: nodeId('CheckSuite', run.id + 1_000_000_000),
      url: runUrl,
      html_url: `${this.serverUrl}/${repo.fullName}/actions/runs/${run.id}`,
      pull_requests: [],
      created_at: run.created_at,
      updated_at: run.updated_at,
      actor: this.#ownerJson(this.#options.login),
      triggering_actor: this.#ownerJson(this.#options.login),
      run_attempt: run.run_attempt,
      referenced_workflows: [],
      run_started_at: state.run_started_at,
      jobs_url: `${runUrl}/jobs`,
      logs_url: `${runUrl}/logs`,
      check_suite_url: `${this.apiUrl}/repos/${repo.fullName}/check-suites/${run.id + 1_000_000_000}`,
      artifacts_url: `${runUrl}/artifacts`,
      cancel_url: `${runUrl}/cancel`,
      rerun_url: `${runUrl}/rerun`,
      previous_attempt_url: null,
      workflow_url: `${this.apiUrl}/repos/${repo.fullName}/actions/workflows/${run.workflow_id}`,
      head_commit: commit ? { id: commit.sha, tree_id: commit.treeSha, message: commit.message, timestamp: commit.date, author: person, committer: person } : null,
      repository: this.#repoJson(repo, false),
      head_repository: this.#repoJson(repo, false),
    };
  }

  #jobJson(repo: RepoState, state: RunState): JsonObject {
    const { run, job } = state;
    return {
      id: job.id,
      run_id: run.id,
      run_url: `${this.apiUrl}/repos/${repo.fullName}/actions/runs/${run.id}`,
      run_attempt: run.run_attempt,
      node_id: nodeId('CheckRun', job.id),
      head_sha: run.head_sha,
      head_branch: run.head_branch,
      url: `${this.apiUrl}/repos/${repo.fullName}/actions/jobs/${job.id}`,
      html_url: `${this.serverUrl}/${repo.fullName}/actions/runs/${run.id}/job/${job.id}`,
      status: job.status,
      conclusion: job.conclusion,
      created_at: run.created_at,
      started_at: job.started_at ?? run.created_at,
      completed_at: job.completed_at,
      name: 'run',
      steps: [],
      check_run_url: `${this.apiUrl}/repos/${repo.fullName}/check-runs/${job.id}`,
      labels: ['ubuntu-latest'],
      runner_id: job.started_at ? 1 : null,
      runner_name: job.started_at ? 'loopback' : null,
      runner_group_id: job.started_at ? 1 : null,
      runner_group_name: job.started_at ? 'Default' : null,
      workflow_name: run.name,
    };
  }

  #artifactJson(repo: RepoState, artifact: EmulatedArtifact): JsonObject {
    const run = this.#runs.get(artifact.runId)?.run;
    const url = `${this.apiUrl}/repos/${repo.fullName}/actions/artifacts/${artifact.id}`;
    return {
      id: artifact.id,
      node_id: nodeId('Artifact', artifact.id),
      name: artifact.name,
      size_in_bytes: artifact.size_in_bytes,
      url,
      archive_download_url: `${url}/zip`,
      expired: artifact.expired,
      created_at: artifact.created_at,
      updated_at: artifact.updated_at,
      expires_at: artifact.expires_at,
      digest: artifact.digest,
      workflow_run: { id: artifact.runId, repository_id: repo.id, head_repository_id: repo.id, head_branch: run?.head_branch ?? null, head_sha: run?.head_sha ?? null },
    };
  }

  #environmentJson(repo: RepoState, env: EnvironmentState): JsonObject {
    return {
      id: env.id,
      node_id: nodeId('Environment', env.id),
      name: env.name,
      url: `${this.apiUrl}/repos/${repo.fullName}/environments/${encodeURIComponent(env.name)}`,
      html_url: `${this.serverUrl}/${repo.fullName}/deployments/activity_log?environments_filter=${encodeURIComponent(env.name)}`,
      created_at: env.created_at,
      updated_at: env.updated_at,
      can_admins_bypass: true,
      protection_rules: env.policy ? [{ id: env.id + 1, node_id: nodeId('ProtectionRule', env.id + 1), type: 'branch_policy' }] : [],
      deployment_branch_policy: env.policy ? { ...env.policy } : null,
    };
  }

  #policyJson(p: BranchPolicyEntry): JsonObject {
    return { id: p.id, node_id: nodeId('DeploymentBranchPolicy', p.id), name: p.name, type: p.type };
  }

  // ----------------------------------------------------------------------------------------------
  // Top-level endpoints

  #root(ctx: Ctx): Reply {
    if (ctx.method !== 'GET') throw new ApiError(404, 'Not Found');
    return jsonReply(200, {
      current_user_url: `${this.apiUrl}/user`,
      repository_url: `${this.apiUrl}/repos/{owner}/{repo}`,
      rate_limit_url: `${this.apiUrl}/rate_limit`,
      user_url: `${this.apiUrl}/users/{user}`,
    });
  }

  #meta(): Reply {
    return jsonReply(200, { verifiable_password_authentication: false, installed_version: this.#options.installedVersion, hooks: [], git: [], pages: [], importer: [], actions: [], dependabot: [], domains: {} });
  }

  #rateLimit(): Reply {
    const core = { limit: RATE_LIMIT, remaining: RATE_LIMIT, reset: this.#rateReset, used: 0, resource: 'core' };
    return jsonReply(200, { resources: { core, graphql: { ...core, resource: 'graphql' } }, rate: core });
  }

  /** Answers `viewer` and `repository(owner, name)` with exactly the fields asked for (gh's decoder rejects extras). */
  #graphql(ctx: Ctx): Reply {
    const body = this.#json(ctx);
    const query = typeof body.query === 'string' ? body.query : '';
    const variables = isObject(body.variables) ? body.variables : {};
    let selections: GqlField[];
    try {
      selections = parseGraphqlQuery(query, variables);
    } catch (error) {
      return jsonReply(200, { errors: [{ message: `Parse error: ${error instanceof Error ? error.message : String(error)}` }] });
    }
    const errors: JsonObject[] = [];
    const resolveRoot = (field: GqlField): Json => {
      if (field.name === '__typename') return 'Query';
      if (field.name === 'viewer') return { login: this.#options.login, id: nodeId('User', this.#options.login), databaseId: 1, name: 'Monalisa Octocat', __typename: 'User' };
      if (field.name === 'repository') {
        const owner = typeof field.args.owner === 'string' ? field.args.owner : '';
        const name = typeof field.args.name === 'string' ? field.args.name : '';
        const repo = this.#repos.get(`${owner}/${name}`.toLowerCase());
        if (!repo || (ctx.credential.kind === 'job' && ctx.credential.repo !== repo.fullName)) {
          errors.push({ type: 'NOT_FOUND', path: [field.alias], message: `Could not resolve to a Repository with the name '${owner}/${name}'.` });
          return null;
        }
        const head = repo.refs.get(`refs/heads/${repo.defaultBranch}`) ?? null;
        return {
          __typename: 'Repository',
          id: nodeId('Repository', repo.id),
          databaseId: repo.id,
          name: repo.name,
          nameWithOwner: repo.fullName,
          owner: { __typename: 'User', login: repo.owner, id: nodeId('User', repo.owner) },
          url: `${this.serverUrl}/${repo.fullName}`,
          description: '',
          isPrivate: repo.private,
          visibility: repo.private ? 'PRIVATE' : 'PUBLIC',
          isArchived: false,
          isFork: false,
          isInOrganization: false,
          isEmpty: false,
          hasIssuesEnabled: true,
          hasWikiEnabled: false,
          viewerPermission: 'ADMIN',
          parent: null,
          defaultBranchRef: { __typename: 'Ref', name: repo.defaultBranch, target: { __typename: 'Commit', oid: head } },
        };
      }
      errors.push({ message: `Field '${field.name}' doesn't exist on type 'Query'`, path: [field.alias] });
      return null;
    };
    const data: JsonObject = {};
    for (const field of selections) data[field.alias] = projectGraphql(resolveRoot(field), field.selections);
    return jsonReply(200, errors.length > 0 ? { data, errors } : { data });
  }

  #serveBlobUrl(ctx: Ctx, token: string): Reply {
    const entry = this.#blobUrls.get(token);
    const artifact = entry ? this.#artifacts.get(entry.artifactId) : undefined;
    if (ctx.method !== 'GET' || !entry || !artifact || entry.expiresAt < this.#nowMs()) {
      const xml = '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request.</Message></Error>';
      return { status: 403, headers: { 'content-type': 'application/xml' }, body: Buffer.from(xml) };
    }
    return { status: 200, headers: { 'content-type': 'application/zip', 'content-disposition': `attachment; filename=${artifact.name}.zip` }, body: Buffer.from(artifact.bytes) };
  }

  // ----------------------------------------------------------------------------------------------
  // Repository endpoints

  #registerRoutes(): void {
    const r = (method: string, pattern: string, handler: RepoHandler) => this.#repoRoutes.push({ method, segments: pattern === '' ? [] : pattern.split('/'), handler });

    r('GET', '', (_ctx, repo) => jsonReply(200, this.#repoJson(repo)));

    // Contents
    r('GET', 'contents', (ctx, repo) => this.#getContents(ctx, repo, ''));
    r('GET', 'contents/*path', (ctx, repo, p) => this.#getContents(ctx, repo, p.path ?? ''));
    r('PUT', 'contents/*path', (ctx, repo, p) => this.#putContents(ctx, repo, p.path ?? ''));
    r('DELETE', 'contents/*path', (ctx, repo, p) => this.#deleteContents(ctx, repo, p.path ?? ''));

    // Commits
    r('GET', 'commits/*ref', (_ctx, repo, p) => {
      const commit = this.#resolveCommitish(repo, p.ref ?? '');
      if (!commit) throw new ApiError(422, `No commit found for SHA: ${p.ref ?? ''}`);
      return jsonReply(200, this.#commitJson(repo, commit));
    });
    r('GET', 'git/commits/:sha', (_ctx, repo, p) => {
      const commit = repo.commits.get(p.sha ?? '');
      if (!commit) throw new ApiError(404, 'Not Found');
      return jsonReply(200, this.#gitCommitJson(repo, commit));
    });

    // Refs
    r('GET', 'git/ref/*ref', (_ctx, repo, p) => {
      const ref = `refs/${p.ref ?? ''}`;
      const sha = repo.refs.get(ref);
      if (!sha) throw new ApiError(404, 'Not Found');
      return jsonReply(200, this.#refJson(repo, ref, sha));
    });
    r('GET', 'git/refs', (_ctx, repo) => jsonReply(200, this.#matchingRefs(repo, 'refs/')));
    r('GET', 'git/refs/*ref', (_ctx, repo, p) => {
      const ref = `refs/${p.ref ?? ''}`;
      const sha = repo.refs.get(ref);
      if (sha) return jsonReply(200, this.#refJson(repo, ref, sha));
      const matches = this.#matchingRefs(repo, ref);
      if (matches.length === 0) throw new ApiError(404, 'Not Found');
      return jsonReply(200, matches);
    });
    r('GET', 'git/matching-refs/*ref', (_ctx, repo, p) => jsonReply(200, this.#matchingRefs(repo, `refs/${p.ref ?? ''}`)));
    r('POST', 'git/refs', (ctx, repo) => this.#createRef(ctx, repo));
    r('PATCH', 'git/refs/*ref', (ctx, repo, p) => this.#updateRef(ctx, repo, `refs/${p.ref ?? ''}`));
    r('DELETE', 'git/refs/*ref', (_ctx, repo, p) => {
      const ref = `refs/${p.ref ?? ''}`;
      if (!repo.refs.has(ref)) throw new ApiError(422, 'Reference does not exist');
      if (ref === `refs/heads/${repo.defaultBranch}`) throw new ApiError(422, 'Cannot delete the default branch');
      repo.refs.delete(ref);
      return emptyReply(204);
    });

    // Rulesets (stored and listed; the emulator's only caller is an admin, who bypasses them)
    r('GET', 'rulesets', (_ctx, repo) => jsonReply(200, (this.#rulesets.get(repo.fullName) ?? []).map((x) => ({ id: x.id, name: x.name, target: x.target, enforcement: x.enforcement, source_type: 'Repository', source: repo.fullName }))));
    r('POST', 'rulesets', (ctx, repo) => {
      const body = this.#json(ctx);
      if (typeof body.name !== 'string' || !['branch', 'tag', 'push'].includes(String(body.target ?? 'branch'))) throw new ApiError(422, 'Invalid request.');
      const list = this.#rulesets.get(repo.fullName) ?? [];
      if (list.some((x) => x.name === body.name)) throw new ApiError(422, 'Validation Failed: Name must be unique');
      const ruleset = { ...body, id: 4000 + list.length + 1, target: String(body.target ?? 'branch'), enforcement: String(body.enforcement ?? 'disabled'), name: body.name, source_type: 'Repository', source: repo.fullName };
      list.push(ruleset);
      this.#rulesets.set(repo.fullName, list);
      return jsonReply(201, ruleset);
    });
    r('GET', 'rulesets/:id', (_ctx, repo, p) => {
      const found = (this.#rulesets.get(repo.fullName) ?? []).find((x) => String(x.id) === p.id);
      if (!found) throw new ApiError(404, 'Not Found');
      return jsonReply(200, found);
    });

    // Blobs
    r('POST', 'git/blobs', (ctx, repo) => this.#createBlob(ctx, repo));
    r('GET', 'git/blobs/:sha', (ctx, repo, p) => {
      const sha = p.sha ?? '';
      const bytes = repo.blobs.get(sha);
      if (!bytes) throw new ApiError(404, 'Not Found');
      if (wantsRaw(ctx)) return { status: 200, headers: { 'content-type': 'application/vnd.github.raw', 'x-github-media-type': 'github.v3; param=raw' }, body: Buffer.from(bytes) };
      return jsonReply(200, { sha, node_id: nodeId('Blob', sha), size: bytes.length, url: `${this.apiUrl}/repos/${repo.fullName}/git/blobs/${sha}`, content: base64Lines(bytes), encoding: 'base64' });
    });

    // Environments
    r('GET', 'environments', (ctx, repo) => {
      const all = [...repo.environments.values()].map((e) => this.#environmentJson(repo, e));
      const { items, headers } = this.#paginate(ctx, all);
      return jsonReply(200, { total_count: all.length, environments: items }, headers);
    });
    r('GET', 'environments/:env', (_ctx, repo, p) => jsonReply(200, this.#environmentJson(repo, this.#environment(repo, p.env ?? ''))));
    r('PUT', 'environments/:env', (ctx, repo, p) => this.#putEnvironment(ctx, repo, p.env ?? ''));
    r('DELETE', 'environments/:env', (_ctx, repo, p) => {
      this.#environment(repo, p.env ?? '');
      repo.environments.delete((p.env ?? '').toLowerCase());
      return emptyReply(204);
    });
    r('GET', 'environments/:env/deployment-branch-policies', (ctx, repo, p) => {
      const env = this.#environment(repo, p.env ?? '');
      const { items, headers } = this.#paginate(ctx, env.branchPolicies);
      return jsonReply(200, { total_count: env.branchPolicies.length, branch_policies: items.map((x) => this.#policyJson(x)) }, headers);
    });
    r('POST', 'environments/:env/deployment-branch-policies', (ctx, repo, p) => this.#createPolicy(ctx, repo, p.env ?? ''));
    r('GET', 'environments/:env/deployment-branch-policies/:id', (_ctx, repo, p) => jsonReply(200, this.#policyJson(this.#policy(repo, p.env ?? '', p.id ?? ''))));
    r('PUT', 'environments/:env/deployment-branch-policies/:id', (ctx, repo, p) => {
      const policy = this.#policy(repo, p.env ?? '', p.id ?? '');
      const body = this.#json(ctx);
      if (typeof body.name !== 'string' || body.name === '') throw new ApiError(422, 'Invalid request.\n\n"name" wasn\'t supplied.');
      policy.name = body.name;
      return jsonReply(200, this.#policyJson(policy));
    });
    r('DELETE', 'environments/:env/deployment-branch-policies/:id', (_ctx, repo, p) => {
      const env = this.#environment(repo, p.env ?? '');
      const policy = this.#policy(repo, p.env ?? '', p.id ?? '');
      env.branchPolicies = env.branchPolicies.filter((x) => x !== policy);
      return emptyReply(204);
    });

    // Secrets (repository and environment)
    const repoScope = (repo: RepoState) => repo;
    const envScope = (repo: RepoState, p: Record<string, string>) => this.#environment(repo, p.env ?? '');
    for (const [prefix, scopeOf] of [
      ['actions/secrets', repoScope],
      ['environments/:env/secrets', envScope],
    ] as Array<[string, (repo: RepoState, p: Record<string, string>) => SecretScope]>) {
      r('GET', `${prefix}/public-key`, (_ctx, repo, p) => {
        const scope = scopeOf(repo, p);
        return jsonReply(200, { key_id: scope.keyId, key: Buffer.from(scope.keyPair.publicKey).toString('base64') });
      });
      r('GET', prefix, (ctx, repo, p) => {
        const scope = scopeOf(repo, p);
        const all = [...scope.secrets.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, s]) => ({ name, created_at: s.created_at, updated_at: s.updated_at }));
        const { items, headers } = this.#paginate(ctx, all);
        return jsonReply(200, { total_count: all.length, secrets: items }, headers);
      });
      r('GET', `${prefix}/:name`, (_ctx, repo, p) => {
        const name = (p.name ?? '').toUpperCase();
        const secret = scopeOf(repo, p).secrets.get(name);
        if (!secret) throw new ApiError(404, 'Not Found');
        return jsonReply(200, { name, created_at: secret.created_at, updated_at: secret.updated_at });
      });
      r('PUT', `${prefix}/:name`, (ctx, repo, p) => this.#putSecret(ctx, scopeOf(repo, p), p.name ?? ''));
      r('DELETE', `${prefix}/:name`, (_ctx, repo, p) => {
        const scope = scopeOf(repo, p);
        if (!scope.secrets.delete((p.name ?? '').toUpperCase())) throw new ApiError(404, 'Not Found');
        return emptyReply(204);
      });
    }

    // Variables
    r('GET', 'actions/variables', (ctx, repo) => {
      const all = [...repo.variables.entries()].map(([name, v]) => ({ name, value: v.value, created_at: v.created_at, updated_at: v.updated_at }));
      const { items, headers } = this.#paginate(ctx, all);
      return jsonReply(200, { total_count: all.length, variables: items }, headers);
    });
    r('POST', 'actions/variables', (ctx, repo) => {
      const body = this.#json(ctx);
      if (typeof body.name !== 'string' || typeof body.value !== 'string') throw new ApiError(422, 'Invalid request.\n\n"name" and "value" are required.');
      const name = body.name.toUpperCase();
      if (repo.variables.has(name)) throw new ApiError(409, 'Already exists - Variable already exists');
      repo.variables.set(name, { value: body.value, created_at: this.#iso(), updated_at: this.#iso() });
      return jsonReply(201, {});
    });
    r('GET', 'actions/variables/:name', (_ctx, repo, p) => {
      const name = (p.name ?? '').toUpperCase();
      const v = repo.variables.get(name);
      if (!v) throw new ApiError(404, 'Not Found');
      return jsonReply(200, { name, value: v.value, created_at: v.created_at, updated_at: v.updated_at });
    });
    r('DELETE', 'actions/variables/:name', (_ctx, repo, p) => {
      if (!repo.variables.delete((p.name ?? '').toUpperCase())) throw new ApiError(404, 'Not Found');
      return emptyReply(204);
    });

    // Workflows
    r('GET', 'actions/workflows', (ctx, repo) => {
      const all = this.#workflows(repo).map((w) => this.#workflowJson(repo, w));
      const { items, headers } = this.#paginate(ctx, all);
      return jsonReply(200, { total_count: all.length, workflows: items }, headers);
    });
    r('GET', 'actions/workflows/:wf', (_ctx, repo, p) => jsonReply(200, this.#workflowJson(repo, this.#workflow(repo, p.wf ?? ''))));
    r('POST', 'actions/workflows/:wf/dispatches', (ctx, repo, p) => this.#dispatch(ctx, repo, this.#workflow(repo, p.wf ?? '')));
    r('GET', 'actions/workflows/:wf/runs', (ctx, repo, p) => this.#listRuns(ctx, repo, this.#workflow(repo, p.wf ?? '').id));

    // Runs and jobs
    r('GET', 'actions/runs', (ctx, repo) => this.#listRuns(ctx, repo, undefined));
    r('GET', 'actions/runs/:run', (_ctx, repo, p) => jsonReply(200, this.#runJson(repo, this.#visibleRun(repo, p.run ?? ''))));
    r('GET', 'actions/runs/:run/jobs', (_ctx, repo, p) => {
      const state = this.#visibleRun(repo, p.run ?? '');
      return jsonReply(200, { total_count: 1, jobs: [this.#jobJson(repo, state)] });
    });
    r('GET', 'actions/runs/:run/attempts/:attempt/jobs', (_ctx, repo, p) => {
      const state = this.#visibleRun(repo, p.run ?? '');
      if (p.attempt !== String(state.run.run_attempt)) throw new ApiError(404, 'Not Found');
      return jsonReply(200, { total_count: 1, jobs: [this.#jobJson(repo, state)] });
    });
    r('POST', 'actions/runs/:run/cancel', (_ctx, repo, p) => this.#cancel(repo, p.run ?? '', false));
    r('POST', 'actions/runs/:run/force-cancel', (_ctx, repo, p) => this.#cancel(repo, p.run ?? '', true));
    r('GET', 'actions/jobs/:job', (_ctx, repo, p) => jsonReply(200, this.#jobJson(repo, this.#runOfJob(repo, p.job ?? ''))));
    r('GET', 'actions/jobs/:job/logs', (_ctx, repo, p) => {
      const state = this.#runOfJob(repo, p.job ?? '');
      return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: Buffer.from(state.log.map((l) => `${state.run.created_at} ${l}\n`).join('')) };
    });

    // Artifacts
    r('GET', 'actions/runs/:run/artifacts', (ctx, repo, p) => {
      const state = this.#visibleRun(repo, p.run ?? '');
      const name = ctx.url.searchParams.get('name');
      const all = [...this.#artifacts.values()].filter((a) => a.runId === state.run.id && (name === null || a.name === name));
      const { items, headers } = this.#paginate(ctx, all);
      return jsonReply(200, { total_count: all.length, artifacts: items.map((a) => this.#artifactJson(repo, a)) }, headers);
    });
    r('GET', 'actions/artifacts', (ctx, repo) => {
      const name = ctx.url.searchParams.get('name');
      const all = [...this.#artifacts.values()].filter((a) => a.repo === repo.fullName && this.#runVisible(a.runId) && (name === null || a.name === name)).sort((a, b) => b.id - a.id);
      const { items, headers } = this.#paginate(ctx, all);
      return jsonReply(200, { total_count: all.length, artifacts: items.map((a) => this.#artifactJson(repo, a)) }, headers);
    });
    r('GET', 'actions/artifacts/:id', (_ctx, repo, p) => jsonReply(200, this.#artifactJson(repo, this.#visibleArtifact(repo, p.id ?? ''))));
    r('DELETE', 'actions/artifacts/:id', (_ctx, repo, p) => {
      this.#artifacts.delete(this.#visibleArtifact(repo, p.id ?? '').id);
      return emptyReply(204);
    });
    r('GET', 'actions/artifacts/:id/:format', (_ctx, repo, p) => {
      if (p.format !== 'zip') throw new ApiError(404, 'Not Found');
      const artifact = this.#visibleArtifact(repo, p.id ?? '');
      if (artifact.expired) throw new ApiError(410, 'Artifact has expired');
      const token = randomBytes(24).toString('hex');
      this.#blobUrls.set(token, { artifactId: artifact.id, expiresAt: this.#nowMs() + BLOB_URL_TTL_MS });
      return emptyReply(302, { location: `https://127.0.0.1:${this.port}/_blob/${token}` });
    });
  }

  #runVisible(runId: number): boolean {
    const state = this.#runs.get(runId);
    return state !== undefined && state.hiddenUntil <= this.#nowMs();
  }

  #visibleArtifact(repo: RepoState, id: string): EmulatedArtifact {
    const artifact = /^\d+$/.test(id) ? this.#artifacts.get(Number(id)) : undefined;
    if (!artifact || artifact.repo !== repo.fullName || !this.#runVisible(artifact.runId)) throw new ApiError(404, 'Not Found');
    return artifact;
  }

  #runOfJob(repo: RepoState, jobId: string): RunState {
    const state = [...this.#runs.values()].find((s) => String(s.job.id) === jobId && s.run.repo === repo.fullName);
    if (!state || state.hiddenUntil > this.#nowMs()) throw new ApiError(404, 'Not Found');
    return state;
  }

  #matchingRefs(repo: RepoState, prefix: string): JsonObject[] {
    return [...repo.refs.entries()]
      .filter(([ref]) => ref.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([ref, sha]) => this.#refJson(repo, ref, sha));
  }

  #getContents(ctx: Ctx, repo: RepoState, filePath: string): Reply {
    const ref = ctx.url.searchParams.get('ref') ?? repo.defaultBranch;
    const commit = this.#resolveCommitish(repo, ref);
    if (!commit) throw new ApiError(404, `No commit found for the ref ${ref}`);
    const clean = filePath.replace(/^\/+|\/+$/g, '');
    const blob = commit.files.get(clean);
    if (blob) {
      if (wantsRaw(ctx)) return { status: 200, headers: { 'content-type': 'application/vnd.github.raw', 'x-github-media-type': 'github.v3; param=raw' }, body: Buffer.from(repo.blobs.get(blob) ?? Buffer.alloc(0)) };
      return jsonReply(200, this.#contentJson(repo, clean, blob, ref, true));
    }
    const prefix = clean === '' ? '' : `${clean}/`;
    const entries = new Map<string, JsonObject>();
    for (const [p, sha] of commit.files) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf('/');
      if (slash < 0) entries.set(rest, this.#contentJson(repo, p, sha, ref, false));
      else {
        const dir = `${prefix}${rest.slice(0, slash)}`;
        entries.set(rest.slice(0, slash), { type: 'dir', name: rest.slice(0, slash), path: dir, sha: sha1Hex(`dir:${commit.sha}:${dir}`), size: 0, url: `${this.apiUrl}/repos/${repo.fullName}/contents/${dir}?ref=${encodeURIComponent(ref)}` });
      }
    }
    if (entries.size === 0) throw new ApiError(404, 'Not Found');
    return jsonReply(200, [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v));
  }

  #branchForWrite(repo: RepoState, body: Record<string, unknown>): { branch: string; head: CommitState } {
    const branch = typeof body.branch === 'string' ? body.branch.replace(/^refs\/heads\//, '') : repo.defaultBranch;
    const sha = repo.refs.get(`refs/heads/${branch}`);
    const head = sha ? repo.commits.get(sha) : undefined;
    if (!head) throw new ApiError(404, `Branch ${branch} not found`);
    return { branch, head };
  }

  #putContents(ctx: Ctx, repo: RepoState, filePath: string): Reply {
    const body = this.#json(ctx);
    if (typeof body.message !== 'string') throw new ApiError(422, 'Invalid request.\n\n"message" wasn\'t supplied.');
    if (typeof body.content !== 'string') throw new ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.');
    if (!/^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/.test(body.content)) throw new ApiError(422, 'content is not valid Base64');
    const clean = filePath.replace(/^\/+|\/+$/g, '');
    if (clean === '' || clean.split('/').some((s) => s === '..' || s === '.')) throw new ApiError(422, 'path is invalid');
    const { branch, head } = this.#branchForWrite(repo, body);
    const current = head.files.get(clean);
    if (current !== undefined && body.sha === undefined) throw new ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
    if (body.sha !== undefined && body.sha !== current) throw new ApiError(409, `${clean} does not match ${String(body.sha)}`);
    const sha = this.#addCommit(repo, head.sha, { [clean]: Buffer.from(body.content, 'base64') }, body.message);
    repo.refs.set(`refs/heads/${branch}`, sha);
    if (branch === repo.defaultBranch) this.#syncWorkflows(repo);
    const commit = repo.commits.get(sha) as CommitState;
    const blob = commit.files.get(clean) as string;
    return jsonReply(current === undefined ? 201 : 200, { content: this.#contentJson(repo, clean, blob, branch, false), commit: this.#gitCommitJson(repo, commit) });
  }

  #deleteContents(ctx: Ctx, repo: RepoState, filePath: string): Reply {
    const body = this.#json(ctx);
    if (typeof body.message !== 'string') throw new ApiError(422, 'Invalid request.\n\n"message" wasn\'t supplied.');
    if (typeof body.sha !== 'string') throw new ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
    const clean = filePath.replace(/^\/+|\/+$/g, '');
    const { branch, head } = this.#branchForWrite(repo, body);
    const current = head.files.get(clean);
    if (current === undefined) throw new ApiError(404, 'Not Found');
    if (body.sha !== current) throw new ApiError(409, `${clean} does not match ${body.sha}`);
    const sha = this.#addCommit(repo, head.sha, { [clean]: null }, body.message);
    repo.refs.set(`refs/heads/${branch}`, sha);
    if (branch === repo.defaultBranch) this.#syncWorkflows(repo);
    return jsonReply(200, { content: null, commit: this.#gitCommitJson(repo, repo.commits.get(sha) as CommitState) });
  }

  #createRef(ctx: Ctx, repo: RepoState): Reply {
    const body = this.#json(ctx);
    if (typeof body.ref !== 'string') throw new ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.');
    if (typeof body.sha !== 'string') throw new ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
    const ref = body.ref;
    if (!/^refs\/[^/]+\/.+/.test(ref) || /(^|\/)\.|\.\.|[\s~^:?*[\\]|\/$|\.lock$/.test(ref.slice(5))) throw new ApiError(422, `${ref} is not a valid ref name.`);
    if (!repo.commits.has(body.sha)) throw new ApiError(422, 'Object does not exist');
    if (repo.refs.has(ref)) throw new ApiError(422, 'Reference already exists');
    repo.refs.set(ref, body.sha);
    if (ref === `refs/heads/${repo.defaultBranch}`) this.#syncWorkflows(repo);
    const json = this.#refJson(repo, ref, body.sha);
    return jsonReply(201, json, { location: String(json.url) });
  }

  #updateRef(ctx: Ctx, repo: RepoState, ref: string): Reply {
    const body = this.#json(ctx);
    if (typeof body.sha !== 'string') throw new ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.');
    const current = repo.refs.get(ref);
    if (current === undefined) throw new ApiError(422, 'Reference does not exist');
    if (!repo.commits.has(body.sha)) throw new ApiError(422, 'Object does not exist');
    if (body.force !== true && !this.#isAncestor(repo, current, body.sha)) throw new ApiError(422, 'Update is not a fast forward');
    repo.refs.set(ref, body.sha);
    if (ref === `refs/heads/${repo.defaultBranch}`) this.#syncWorkflows(repo);
    return jsonReply(200, this.#refJson(repo, ref, body.sha));
  }

  #createBlob(ctx: Ctx, repo: RepoState): Reply {
    const body = this.#json(ctx);
    if (typeof body.content !== 'string') throw new ApiError(422, 'Invalid request.\n\n"content" wasn\'t supplied.');
    const encoding = body.encoding ?? 'utf-8';
    let bytes: Buffer;
    if (encoding === 'base64') {
      if (!/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(body.content)) throw new ApiError(422, 'Invalid request.\n\ncontent is not valid Base64.');
      bytes = Buffer.from(body.content, 'base64');
    } else if (encoding === 'utf-8' || encoding === 'utf8') bytes = Buffer.from(body.content, 'utf8');
    else throw new ApiError(422, `Invalid request.\n\nencoding ${String(encoding)} is not supported.`);
    if (bytes.length > this.#options.maxBlobBytes) throw new ApiError(422, `Invalid request.\n\nThe blob is too large (${bytes.length} bytes; at most ${this.#options.maxBlobBytes}).`);
    const sha = this.#storeBlob(repo, bytes);
    const url = `${this.apiUrl}/repos/${repo.fullName}/git/blobs/${sha}`;
    return jsonReply(201, { sha, url }, { location: url });
  }

  #putEnvironment(ctx: Ctx, repo: RepoState, name: string): Reply {
    const body = this.#json(ctx);
    let policy: BranchPolicy | null | undefined;
    if ('deployment_branch_policy' in body) {
      const raw = body.deployment_branch_policy;
      if (raw === null) policy = null;
      else if (isObject(raw) && typeof raw.protected_branches === 'boolean' && typeof raw.custom_branch_policies === 'boolean') {
        if (raw.protected_branches === raw.custom_branch_policies) throw new ApiError(422, 'Invalid request.\n\nExactly one of protected_branches and custom_branch_policies must be true.');
        policy = { protected_branches: raw.protected_branches, custom_branch_policies: raw.custom_branch_policies };
      } else throw new ApiError(422, 'Invalid request.\n\n"deployment_branch_policy" is not valid.');
    }
    const env = this.#ensureEnvironment(repo, name);
    if (policy !== undefined) {
      env.policy = policy;
      if (policy === null || !policy.custom_branch_policies) env.branchPolicies = [];
    }
    env.updated_at = this.#iso();
    return jsonReply(200, this.#environmentJson(repo, env));
  }

  #policy(repo: RepoState, envName: string, id: string): BranchPolicyEntry {
    const policy = this.#environment(repo, envName).branchPolicies.find((x) => String(x.id) === id);
    if (!policy) throw new ApiError(404, 'Not Found');
    return policy;
  }

  #createPolicy(ctx: Ctx, repo: RepoState, envName: string): Reply {
    const env = this.#environment(repo, envName);
    if (!env.policy?.custom_branch_policies) throw new ApiError(404, 'Not Found');
    const body = this.#json(ctx);
    if (typeof body.name !== 'string' || body.name === '') throw new ApiError(422, 'Invalid request.\n\n"name" wasn\'t supplied.');
    const type = body.type ?? 'branch';
    if (type !== 'branch' && type !== 'tag') throw new ApiError(422, 'Invalid request.\n\n"type" must be "branch" or "tag".');
    const existing = env.branchPolicies.find((x) => x.name === body.name && x.type === type);
    if (existing) return jsonReply(303, this.#policyJson(existing), { location: `${this.apiUrl}/repos/${repo.fullName}/environments/${encodeURIComponent(env.name)}/deployment-branch-policies/${existing.id}` });
    const policy: BranchPolicyEntry = { id: this.#nextPolicyId++, name: body.name, type };
    env.branchPolicies.push(policy);
    return jsonReply(200, this.#policyJson(policy));
  }

  #putSecret(ctx: Ctx, scope: SecretScope, rawName: string): Reply {
    const body = this.#json(ctx);
    const name = rawName.toUpperCase();
    if (!/^[A-Z_][A-Z0-9_]*$/.test(name) || name.startsWith('GITHUB_')) throw new ApiError(422, 'Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_), must not start with a number or GITHUB_.');
    if (typeof body.encrypted_value !== 'string') throw new ApiError(422, 'Invalid request.\n\n"encrypted_value" wasn\'t supplied.');
    if (typeof body.key_id !== 'string') throw new ApiError(422, 'Invalid request.\n\n"key_id" wasn\'t supplied.');
    if (body.key_id !== scope.keyId) throw new ApiError(422, 'Bad request: the key_id does not match the public key.');
    let value: string;
    try {
      value = openSealed(Buffer.from(body.encrypted_value, 'base64'), scope.keyPair).toString('utf8');
    } catch {
      throw new ApiError(422, 'Bad request: the encrypted_value could not be decrypted with the public key.');
    }
    const now = this.#iso();
    const existing = scope.secrets.get(name);
    scope.secrets.set(name, { value, created_at: existing?.created_at ?? now, updated_at: now });
    return existing ? emptyReply(204) : jsonReply(201, {});
  }

  #dispatch(ctx: Ctx, repo: RepoState, workflow: WorkflowInfo): Reply {
    const body = this.#json(ctx);
    for (const key of Object.keys(body)) {
      if (key === 'return_run_details' && !this.#options.returnRunDetails) throw new ApiError(400, 'Invalid request.\n\n"return_run_details" is not a permitted key.');
      if (key !== 'ref' && key !== 'inputs' && key !== 'return_run_details') throw new ApiError(422, `Invalid request.\n\n"${key}" is not a permitted key.`);
    }
    if (typeof body.ref !== 'string' || body.ref === '') throw new ApiError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.');
    if (body.return_run_details !== undefined && typeof body.return_run_details !== 'boolean') throw new ApiError(422, 'Invalid request.\n\nFor \'properties/return_run_details\', it is not a boolean.');
    const rawInputs = body.inputs ?? {};
    if (!isObject(rawInputs)) throw new ApiError(422, "Invalid request.\n\nFor 'properties/inputs', it is not an object.");
    const inputs: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawInputs)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new ApiError(422, `Invalid request.\n\nFor 'properties/${key}', it is not a string.`);
      inputs[key] = String(value);
    }
    if (Object.keys(inputs).length > 25) throw new ApiError(422, `Invalid request.\n\nFor 'properties/inputs', ${Object.keys(inputs).length} properties is more than the maximum of 25.`);
    if (JSON.stringify(rawInputs).length > 65_535) throw new ApiError(422, 'inputs are too large.');
    const resolved = this.#resolveRef(repo, body.ref);
    if (!resolved) throw new ApiError(422, `No ref found for: ${body.ref}`);
    const commit = repo.commits.get(resolved.sha) as CommitState;
    const file = this.#fileAt(repo, commit, workflow.path);
    const parsed = file ? parseWorkflow(file.toString('utf8')) : undefined;
    if (!parsed?.dispatchable) throw new ApiError(422, "Workflow does not have 'workflow_dispatch' trigger");
    const unexpected = Object.keys(inputs).filter((k) => !parsed.inputs.has(k));
    if (unexpected.length > 0) throw new ApiError(422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
    const effective: Record<string, string> = {};
    for (const [key, spec] of parsed.inputs) {
      const value = inputs[key] ?? spec.default;
      if (value === undefined && spec.required) throw new ApiError(422, `Required input '${key}' not provided`);
      if (value !== undefined && spec.type === 'choice' && spec.options && !spec.options.includes(value)) throw new ApiError(422, `Provided value '${value}' for input '${key}' not in the list of allowed values`);
      if (value !== undefined) effective[key] = value;
    }

    const nowMs = this.#nowMs();
    const now = isoSeconds(nowMs);
    const runNumber = (repo.runNumbers.get(workflow.id) ?? 0) + 1;
    repo.runNumbers.set(workflow.id, runNumber);
    const name = parsed.name ?? workflow.path;
    const run: EmulatedRun = {
      id: this.#nextRunId++,
      repo: repo.fullName,
      workflow_id: workflow.id,
      path: workflow.path,
      name,
      display_title: parsed.runName !== undefined ? evaluateRunName(parsed.runName, effective) : name,
      event: 'workflow_dispatch',
      head_branch: resolved.name,
      head_sha: resolved.sha,
      run_number: runNumber,
      run_attempt: 1,
      status: 'queued',
      conclusion: null,
      created_at: now,
      updated_at: now,
      inputs,
    };
    const state: RunState = {
      run,
      refKind: resolved.kind,
      hiddenUntil: this.#hideMs > 0 ? nowMs + this.#hideMs : 0,
      run_started_at: now,
      job: { id: this.#nextJobId++, status: 'queued', conclusion: null, started_at: null, completed_at: null },
      log: [],
    };
    this.#runs.set(run.id, state);
    const runner = this.#runner;
    if (runner) {
      try {
        runner.start({ ...run, inputs: { ...inputs } }, this.host);
      } catch (error) {
        state.log.push(`emulator: the runner refused the run: ${error instanceof Error ? error.message : String(error)}`);
        this.#setStatus(run.id, 'completed', 'failure');
      }
    }
    if (body.return_run_details === true) {
      return jsonReply(200, {
        workflow_run_id: run.id,
        run_url: `${this.apiUrl}/repos/${repo.fullName}/actions/runs/${run.id}`,
        html_url: `${this.serverUrl}/${repo.fullName}/actions/runs/${run.id}`,
      });
    }
    return emptyReply(204);
  }

  #listRuns(ctx: Ctx, repo: RepoState, workflowId: number | undefined): Reply {
    const q = ctx.url.searchParams;
    const event = q.get('event');
    const branch = q.get('branch');
    const headSha = q.get('head_sha');
    const status = q.get('status');
    const created = q.get('created');
    const createdTest = created === null ? undefined : createdFilter(created);
    const nowMs = this.#nowMs();
    const all = [...this.#runs.values()]
      .filter((s) => s.run.repo === repo.fullName && s.hiddenUntil <= nowMs)
      .filter((s) => workflowId === undefined || s.run.workflow_id === workflowId)
      .filter((s) => event === null || s.run.event === event)
      .filter((s) => branch === null || s.run.head_branch === branch)
      .filter((s) => headSha === null || s.run.head_sha === headSha)
      .filter((s) => status === null || (RUN_STATUSES.has(status) ? s.run.status === status : s.run.conclusion === status))
      .filter((s) => createdTest === undefined || createdTest(Date.parse(s.run.created_at)))
      .sort((a, b) => Date.parse(b.run.created_at) - Date.parse(a.run.created_at) || b.run.id - a.run.id);
    const { items, headers } = this.#paginate(ctx, all);
    return jsonReply(200, { total_count: all.length, workflow_runs: items.map((s) => this.#runJson(repo, s)) }, headers);
  }

  #cancel(repo: RepoState, id: string, force: boolean): Reply {
    const state = this.#visibleRun(repo, id);
    if (state.run.status === 'completed') throw new ApiError(409, 'Cannot cancel a workflow run that is completed.');
    const runner = this.#runner;
    if (force || !runner) this.#setStatus(state.run.id, 'completed', 'cancelled');
    if (runner) {
      try {
        runner.cancel(state.run.id);
      } catch (error) {
        state.log.push(`emulator: the runner failed to cancel: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return jsonReply(202, {});
  }
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** `:x` matches one segment, `*x` the rest (one or more segments, joined by `/`). */
function matchSegments(pattern: string[], segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i] as string;
    if (part.startsWith('*')) {
      if (i >= segments.length) return undefined;
      params[part.slice(1)] = segments.slice(i).join('/');
      return params;
    }
    const segment = segments[i];
    if (segment === undefined) return undefined;
    if (part.startsWith(':')) params[part.slice(1)] = segment;
    else if (part !== segment) return undefined;
  }
  return segments.length === pattern.length ? params : undefined;
}

/** GitHub's `created` qualifier: `>=T`, `>T`, `<=T`, `<T`, `A..B` (either side may be `*`), or a date. */
function createdFilter(spec: string): (ms: number) => boolean {
  const parse = (text: string, end: boolean): number => {
    if (text === '*') return end ? Infinity : -Infinity;
    const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
    const ms = Date.parse(dateOnly ? `${text}T00:00:00Z` : text);
    if (Number.isNaN(ms)) throw new ApiError(422, `Invalid request.\n\n"created" is not a valid date: ${text}`);
    return dateOnly && end ? ms + DAY_MS - 1 : ms;
  };
  const range = /^(.+)\.\.(.+)$/.exec(spec);
  if (range) {
    const from = parse(range[1] as string, false);
    const to = parse(range[2] as string, true);
    return (ms) => ms >= from && ms <= to;
  }
  const op = /^(>=|<=|>|<)(.+)$/.exec(spec);
  if (op) {
    const operator = op[1];
    const value = op[2] as string;
    if (operator === '>=') {
      const t = parse(value, false);
      return (ms) => ms >= t;
    }
    if (operator === '>') {
      const t = parse(value, true);
      return (ms) => ms > t;
    }
    if (operator === '<=') {
      const t = parse(value, true);
      return (ms) => ms <= t;
    }
    const t = parse(value, false);
    return (ms) => ms < t;
  }
  const from = parse(spec, false);
  const to = parse(spec, true);
  return (ms) => ms >= from && ms <= to;
}

// ------------------------------------------------------------------------------------------------
// A very small GraphQL reader: operations, fields with aliases and arguments, inline fragments and
// named fragment spreads. Enough to answer gh's own queries with exactly the fields it asked for.

interface GqlField {
  alias: string;
  name: string;
  args: Record<string, unknown>;
  selections: GqlField[];
}

type RawSelection =
  | { kind: 'field'; alias: string; name: string; args: Record<string, unknown>; selections: RawSelection[] }
  | { kind: 'spread'; name: string }
  | { kind: 'inline'; selections: RawSelection[] };

function tokenizeGraphql(text: string): string[] {
  const tokens: string[] = [];
  const re = /\s+|,|#[^\n]*|("(?:[^"\\]|\\.)*")|(\.\.\.)|([_A-Za-z][_0-9A-Za-z]*)|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|([{}()[\]:$!=@])/y;
  while (re.lastIndex < text.length) {
    const match = re.exec(text);
    if (match === null) throw new Error(`unexpected character at ${re.lastIndex}`);
    const token = match[1] ?? match[2] ?? match[3] ?? match[4] ?? match[5];
    if (token !== undefined) tokens.push(token);
  }
  return tokens;
}

/** The root fields of the query operation, fragments inlined, `$variables` substituted into arguments. */
function parseGraphqlQuery(text: string, variables: Record<string, unknown>): GqlField[] {
  const tokens = tokenizeGraphql(text);
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const token = tokens[pos++];
    if (token === undefined) throw new Error('unexpected end of query');
    return token;
  };
  const expect = (token: string): void => {
    if (next() !== token) throw new Error(`expected ${token}`);
  };
  const skipBalanced = (open: string, close: string): void => {
    let depth = 0;
    do {
      const token = next();
      if (token === open) depth++;
      else if (token === close) depth--;
    } while (depth > 0);
  };
  const skipDirectives = (): void => {
    while (peek() === '@') {
      next();
      next();
      if (peek() === '(') skipBalanced('(', ')');
    }
  };
  const value = (): unknown => {
    const token = next();
    if (token === '$') return variables[next()];
    if (token.startsWith('"')) return JSON.parse(token) as unknown;
    if (/^-?\d/.test(token)) return Number(token);
    if (token === 'true' || token === 'false') return token === 'true';
    if (token === 'null') return null;
    if (token === '[' || token === '{') {
      pos--;
      skipBalanced(token, token === '[' ? ']' : '}');
      return undefined;
    }
    return token; // an enum value
  };
  const selectionSet = (): RawSelection[] => {
    expect('{');
    const out: RawSelection[] = [];
    while (peek() !== '}') {
      if (peek() === '...') {
        next();
        if (peek() === 'on') {
          next();
          next();
        }
        if (peek() === '{' || peek() === '@') {
          skipDirectives();
          out.push({ kind: 'inline', selections: selectionSet() });
        } else {
          out.push({ kind: 'spread', name: next() });
          skipDirectives();
        }
        continue;
      }
      const alias = next();
      let name = alias;
      if (peek() === ':') {
        next();
        name = next();
      }
      const args: Record<string, unknown> = {};
      if (peek() === '(') {
        next();
        while (peek() !== ')') {
          const key = next();
          expect(':');
          args[key] = value();
        }
        next();
      }
      skipDirectives();
      out.push({ kind: 'field', alias, name, args, selections: peek() === '{' ? selectionSet() : [] });
    }
    next();
    return out;
  };

  let operation: RawSelection[] | undefined;
  const fragments = new Map<string, RawSelection[]>();
  while (pos < tokens.length) {
    const token = peek();
    if (token === 'fragment') {
      next();
      const name = next();
      expect('on');
      next();
      skipDirectives();
      fragments.set(name, selectionSet());
    } else if (token === '{') {
      operation ??= selectionSet();
    } else {
      next(); // query / mutation / subscription
      if (peek() !== '{' && peek() !== '(' && peek() !== '@') next(); // the operation's name
      if (peek() === '(') skipBalanced('(', ')'); // variable definitions
      skipDirectives();
      const body = selectionSet();
      if (token === 'query') operation ??= body;
    }
  }
  const flatten = (raw: RawSelection[], depth: number): GqlField[] => {
    if (depth > 32) throw new Error('fragments nest too deeply');
    const out: GqlField[] = [];
    for (const item of raw) {
      if (item.kind === 'spread') {
        const body = fragments.get(item.name);
        if (!body) throw new Error(`unknown fragment ${item.name}`);
        out.push(...flatten(body, depth + 1));
      } else if (item.kind === 'inline') out.push(...flatten(item.selections, depth + 1));
      else out.push({ alias: item.alias, name: item.name, args: item.args, selections: flatten(item.selections, depth + 1) });
    }
    return out;
  };
  if (!operation) throw new Error('no query operation');
  return flatten(operation, 0);
}

/** Keeps only the selected fields of `value` (by alias); fields the emulator does not know are null. */
function projectGraphql(value: Json, selections: GqlField[]): Json {
  if (selections.length === 0 || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => projectGraphql(v, selections));
  if (typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const field of selections) {
    const child = value[field.name];
    out[field.alias] = child === undefined ? null : projectGraphql(child, field.selections);
  }
  return out;
}
