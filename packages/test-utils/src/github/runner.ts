/**
 * A loopback GitHub Actions runner: executes the workflow file of an emulated run (and the
 * composite actions it uses) on this machine, as GitHub's hosted runner would, and reports back
 * only through RunnerHost.
 *
 * - The workflow and every action.yml are parsed and schema-checked with GitHub's own parser
 *   (`@actions/workflow-parser`); `${{ }}` is evaluated with GitHub's own expression engine
 *   (`@actions/expressions`). Any `${{` inside a `run:` refuses the run (our hard rule).
 * - `run:` steps run in bash, each in its own process group, with a runner-like environment,
 *   file commands (GITHUB_OUTPUT/ENV/PATH/STATE/STEP_SUMMARY), workflow commands on stdout/stderr
 *   (`::add-mask::`, `::error::`, `::group::` …), secret masking of every log line, step and job
 *   timeouts, and cancellation (SIGTERM to the group, SIGKILL after a grace period, then only
 *   steps whose condition holds when cancelled — `always()` / `cancelled()` — run).
 * - `uses:` resolves `./` and the directories named in `options.actions` (composite actions, run
 *   step by step), plus shims for pinned actions/checkout, actions/setup-node and
 *   actions/upload-artifact. Anything else — an unpinned ref, an unknown action, a JavaScript or
 *   Docker action — fails the step with a clear log line.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { EmulatedRun, RunConclusion, Runner, RunnerHost, RunStatus } from './types.js';
import { loadWorkflowParser, type ParserModule } from './workflow-parser.js';
import { writeZip, type ZipEntryInput } from './zip-write.js';

// ------------------------------------------------------------------------------------------------
// Public API
// ------------------------------------------------------------------------------------------------

export interface LoopbackRunnerOptions {
  /**
   * Actions available to `uses:`: `owner/repo@<40 hex>` or `owner/repo` → a local directory holding
   * action.yml (e.g. the swarm checkout). `./` maps the workflow's own repository (what `uses: ./`
   * and the checkout shim see). A ref is always required to be a full commit sha.
   */
  actions: Record<string, string>;
  /** Where per-run directories are made (default: a fresh directory under the OS temp dir). */
  workDir?: string;
  /** Extra environment for every step (e.g. PATH); applied over the runner's base environment. */
  env?: Record<string, string>;
  /** Default timeout of a step that sets no `timeout-minutes`, in ms (default: none; the job's applies). */
  stepTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when a step is cancelled or times out (default 5000 ms). */
  killGraceMs?: number;
  /** Bound on the steps that run after a cancel or job timeout (default 300000 ms). */
  cancelTimeoutMs?: number;
  /** The checkout shim copies options.actions['./'] into the workspace ('copy', default) or does nothing ('none'). */
  checkout?: 'copy' | 'none';
  /** Keep each run's directories after it completes (default false: removed). */
  keepWorkDirs?: boolean;
  /** The `vars` context. */
  vars?: Record<string, string>;
}

export type StepOutcome = 'success' | 'failure' | 'cancelled' | 'skipped';

/** One evaluated step, as the loopback runner ran it. Values are masked like the log. */
export interface LoopbackStepRecord {
  /** Step ids joined by `/` (a composite action's steps under the step that used it). */
  path: string;
  id: string;
  name: string;
  kind: 'run' | 'uses';
  uses?: string;
  /** The condition evaluated (after GitHub's `success() && (…)` wrapping). */
  condition: string;
  outcome: StepOutcome;
  conclusion: StepOutcome;
  exitCode?: number | null;
  signal?: string | null;
  /** The pid (and process group id) of the step's process, for `run:` steps. */
  pid?: number;
  timedOut?: boolean;
  env: Record<string, string>;
  with: Record<string, string>;
  outputs: Record<string, string>;
}

export interface LoopbackJobRecord {
  id: string;
  name: string;
  environment?: string;
  /** `permissions:` as written (recorded only). */
  permissions?: unknown;
  runsOn?: unknown;
  timeoutMinutes: number;
  conclusion: RunConclusion;
  outputs: Record<string, string>;
  steps: LoopbackStepRecord[];
}

export interface LoopbackRunRecord {
  runId: number;
  run: EmulatedRun;
  /** `run-name:` evaluated with the inputs. */
  runName?: string;
  status: RunStatus;
  conclusion: RunConclusion;
  jobs: LoopbackJobRecord[];
  /** Every step of every job, in execution order. */
  steps: LoopbackStepRecord[];
  /** Every line sent to host.appendLog (masked). */
  log: string[];
  /** Parse, lint and runner errors that failed the run. */
  errors: string[];
  artifacts: { name: string; id: number; digest: string; size: number }[];
  dirs: { root: string; workspace: string; temp: string; home: string };
  /** Resolves when the run has completed. */
  done: Promise<void>;
}

export interface LoopbackRunner extends Runner {
  /** Per run id: what the runner evaluated and did. */
  jobs: Map<number, LoopbackRunRecord>;
}

// ------------------------------------------------------------------------------------------------
// Small helpers
// ------------------------------------------------------------------------------------------------

const HEX40 = /^[0-9a-f]{40}$/;
const CONTEXT_NAMES = ['github', 'inputs', 'env', 'secrets', 'runner', 'steps', 'job', 'jobs', 'strategy', 'matrix', 'needs', 'vars'];
const STATUS_FUNCTIONS = ['success', 'always', 'failure', 'cancelled'];
const FUNCTION_INFOS = [
  ...STATUS_FUNCTIONS.map((name) => ({ name, minArgs: 0, maxArgs: 0 })),
  { name: 'hashFiles', minArgs: 1, maxArgs: 255 },
];

type Tok = import('@actions/workflow-parser/templates/tokens/index').TemplateToken;
type MappingTok = import('@actions/workflow-parser/templates/tokens/index').MappingToken;
type SequenceTok = import('@actions/workflow-parser/templates/tokens/index').SequenceToken;
type ExprData = import('@actions/expressions').data.ExpressionData;

// Token types of @actions/workflow-parser (templates/tokens/types).
const T_STRING = 0;
const T_SEQUENCE = 1;
const T_MAPPING = 2;
const T_EXPRESSION = 3;
const T_BOOLEAN = 5;
const T_NUMBER = 6;
const T_NULL = 7;

function tokType(t: Tok): number {
  return t.templateTokenType;
}

function mapEntries(t: Tok | undefined): [string, Tok][] {
  if (!t || tokType(t) !== T_MAPPING) return [];
  const out: [string, Tok][] = [];
  for (const pair of t as MappingTok) out.push([String((pair.key as unknown as { value?: unknown }).value ?? pair.key.toString()), pair.value]);
  return out;
}

function mapGet(t: Tok | undefined, key: string): Tok | undefined {
  for (const [k, v] of mapEntries(t)) if (k === key) return v;
  return undefined;
}

function seqItems(t: Tok | undefined): Tok[] {
  if (!t || tokType(t) !== T_SEQUENCE) return [];
  return [...(t as SequenceTok)];
}

/** A literal token's plain value (string/number/boolean/null), or undefined for an expression or a collection. */
function literal(t: Tok | undefined): string | number | boolean | null | undefined {
  if (!t) return undefined;
  switch (tokType(t)) {
    case T_STRING:
    case T_BOOLEAN:
    case T_NUMBER:
      return (t as unknown as { value: string | number | boolean }).value;
    case T_NULL:
      return null;
    default:
      return undefined;
  }
}

function isExpressionTok(t: Tok | undefined): boolean {
  return !!t && t.isExpression;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** Removes the percent-escapes of workflow command data (`%25`, `%0D`, `%0A`). */
function unescapeData(s: string): string {
  return s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%');
}

function unescapeProperty(s: string): string {
  return s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%25/g, '%');
}

/** Parses a GITHUB_OUTPUT/GITHUB_ENV style file: `k=v` lines and `k<<DELIM` … `DELIM` heredocs. */
export function parseFileCommand(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const eq = line.indexOf('=');
    const heredoc = line.indexOf('<<');
    let key: string;
    let value: string;
    if (eq >= 0 && (heredoc < 0 || eq < heredoc)) {
      key = line.slice(0, eq);
      value = line.slice(eq + 1);
    } else if (heredoc >= 0) {
      key = line.slice(0, heredoc);
      const delimiter = line.slice(heredoc + 2);
      if (!delimiter) throw new Error(`Invalid format '${key}<<': a delimiter is required`);
      const body: string[] = [];
      let found = false;
      for (i++; i < lines.length; i++) {
        if (lines[i] === delimiter) {
          found = true;
          break;
        }
        body.push(lines[i]!);
      }
      if (!found) throw new Error(`Matching delimiter not found '${delimiter}'`);
      value = body.join('\n');
    } else {
      throw new Error(`Invalid format '${line}'`);
    }
    if (!key) throw new Error('Invalid format: an empty name');
    out[key] = value;
  }
  return out;
}

/** Masks every registered value (and each line of a multi-line value) as `***`. */
class Masker {
  private readonly values = new Set<string>();
  private sorted: string[] = [];

  add(value: string | undefined): void {
    if (!value) return;
    const candidates = [value];
    if (/[\r\n]/.test(value)) {
      for (const line of value.split(/\r?\n/)) {
        const trimmed = line.trim();
        // Lines of a multi-line secret are masked one by one, as GitHub does; one- to three-character
        // lines (`{`, `-----`) would mask every such run of text and are left alone.
        if (trimmed.length >= 4) candidates.push(line, trimmed);
      }
    }
    let changed = false;
    for (const c of candidates) {
      if (c.trim() === '' || this.values.has(c)) continue;
      this.values.add(c);
      changed = true;
    }
    if (changed) this.sorted = [...this.values].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const v of this.sorted) if (out.includes(v)) out = out.split(v).join('***');
    return out;
  }

  maskRecord(r: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) out[k] = this.mask(v);
    return out;
  }
}

// ------------------------------------------------------------------------------------------------
// Expressions
// ------------------------------------------------------------------------------------------------

interface StatusState {
  success(): boolean;
  failure(): boolean;
  cancelled(): boolean;
}

class Expressions {
  constructor(private readonly P: ParserModule) {}

  evaluate(expression: string, contexts: Record<string, unknown>, status: StatusState, workspace: string): ExprData {
    const E = this.P.expressions;
    const { tokens } = new E.Lexer(expression).lex();
    const tree = new E.Parser(tokens, CONTEXT_NAMES, FUNCTION_INFOS).parse();
    const dict = JSON.parse(JSON.stringify(contexts), E.data.reviver) as import('@actions/expressions').data.Dictionary;
    const bool = (v: boolean) => new E.data.BooleanData(v);
    const functions = new Map<string, import('@actions/expressions/funcs/info').FunctionDefinition>([
      ['success', { name: 'success', minArgs: 0, maxArgs: 0, call: () => bool(status.success()) }],
      ['failure', { name: 'failure', minArgs: 0, maxArgs: 0, call: () => bool(status.failure()) }],
      ['cancelled', { name: 'cancelled', minArgs: 0, maxArgs: 0, call: () => bool(status.cancelled()) }],
      ['always', { name: 'always', minArgs: 0, maxArgs: 0, call: () => bool(true) }],
      [
        'hashfiles',
        {
          name: 'hashFiles',
          minArgs: 1,
          maxArgs: 255,
          call: (...args: ExprData[]) => new E.data.StringData(hashFiles(workspace, args.map((a) => a.coerceString()))),
        },
      ],
    ]);
    return new E.Evaluator(tree, dict, functions).evaluate();
  }

  truthy(d: ExprData): boolean {
    return this.P.result.truthy(d);
  }

  /** A value as GitHub writes it into env/with/name: strings as is, objects as JSON. */
  toText(d: ExprData | undefined): string {
    if (!d) return '';
    const K = this.P.expressions.data.Kind;
    switch (d.kind as number) {
      case K.Null:
        return '';
      case K.Boolean:
        return (d as unknown as { value: boolean }).value ? 'true' : 'false';
      case K.Array:
      case K.Dictionary:
      case K.CaseSensitiveDictionary:
        return JSON.stringify(d, this.P.expressions.data.replacer, 2);
      default:
        return d.coerceString();
    }
  }

  toJs(d: ExprData | undefined): unknown {
    if (!d) return null;
    return JSON.parse(JSON.stringify(d, this.P.expressions.data.replacer) ?? 'null');
  }
}

/** hashFiles(): sha256 over the sha256 of every matching regular file under the workspace, or ''. */
function hashFiles(workspace: string, patterns: string[]): string {
  const include: RegExp[] = [];
  const exclude: RegExp[] = [];
  for (const raw of patterns.flatMap((p) => p.split('\n')).map((p) => p.trim()).filter(Boolean)) {
    const negate = raw.startsWith('!');
    const pat = toPosix(path.relative(workspace, path.resolve(workspace, negate ? raw.slice(1) : raw)));
    (negate ? exclude : include).push(globToRegExp(pat));
  }
  const files: string[] = [];
  const walk = (dir: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of names) {
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) walk(abs);
      else if (d.isFile()) files.push(abs);
    }
  };
  walk(workspace);
  const hash = createHash('sha256');
  let any = false;
  for (const file of files.sort()) {
    const rel = toPosix(path.relative(workspace, file));
    if (!include.some((r) => r.test(rel)) || exclude.some((r) => r.test(rel))) continue;
    hash.update(createHash('sha256').update(fs.readFileSync(file)).digest());
    any = true;
  }
  return any ? hash.digest('hex') : '';
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

// ------------------------------------------------------------------------------------------------
// Lint
// ------------------------------------------------------------------------------------------------

interface Findings {
  /** Parser errors (YAML, schema, expressions). */
  parse: string[];
  /** `${{` inside `run:` — refused by the runner. */
  runExpressions: string[];
  /** `uses:` not pinned to a full commit sha — refused at the step by the runner. */
  unpinned: string[];
}

function runExpressionFindings(steps: Tok | undefined, where: string): string[] {
  const out: string[] = [];
  seqItems(steps).forEach((step, i) => {
    const run = mapGet(step, 'run');
    if (!run) return;
    const text = literal(run);
    if (isExpressionTok(run) || (typeof text === 'string' && text.includes('${{'))) {
      const id = literal(mapGet(step, 'id')) ?? literal(mapGet(step, 'name')) ?? `#${i + 1}`;
      out.push(`${where}.steps[${i}] (${String(id)}): \${{ }} inside run: is refused; pass the value through env: and use "$VAR"`);
    }
  });
  return out;
}

function unpinnedFindings(steps: Tok | undefined, where: string): string[] {
  const out: string[] = [];
  seqItems(steps).forEach((step, i) => {
    const uses = literal(mapGet(step, 'uses'));
    if (typeof uses !== 'string') return;
    if (uses.startsWith('./') || uses === '.') return;
    const at = uses.lastIndexOf('@');
    if (uses.startsWith('docker://') || at < 0 || !HEX40.test(uses.slice(at + 1))) {
      out.push(`${where}.steps[${i}]: uses: ${uses} is not pinned to a full commit sha`);
    }
  });
  return out;
}

function parseErrors(context: { errors: { getErrors(): { message: string }[] } }): string[] {
  return context.errors.getErrors().map((e) => e.message);
}

async function workflowFindings(P: ParserModule, yamlText: string, fileName: string): Promise<{ findings: Findings; root?: Tok }> {
  const parsed = P.parseWorkflow({ name: fileName, content: yamlText }, new P.NoOperationTraceWriter());
  const findings: Findings = { parse: parseErrors(parsed.context), runExpressions: [], unpinned: [] };
  if (!parsed.value || findings.parse.length) return { findings };
  const template = await P.convertWorkflowTemplate(parsed.context, parsed.value);
  for (const e of template.errors ?? []) if (!findings.parse.includes(e.Message)) findings.parse.push(e.Message);
  for (const [jobId, job] of mapEntries(mapGet(parsed.value, 'jobs'))) {
    findings.runExpressions.push(...runExpressionFindings(mapGet(job, 'steps'), `jobs.${jobId}`));
    findings.unpinned.push(...unpinnedFindings(mapGet(job, 'steps'), `jobs.${jobId}`));
  }
  return { findings, root: parsed.value };
}

function actionFindings(P: ParserModule, yamlText: string, fileName: string): { findings: Findings; root?: Tok } {
  const parsed = P.parseAction({ name: fileName, content: yamlText }, new P.NoOperationTraceWriter());
  const findings: Findings = { parse: parseErrors(parsed.context), runExpressions: [], unpinned: [] };
  if (!parsed.value || findings.parse.length) return { findings };
  P.convertActionTemplate(parsed.context, parsed.value);
  for (const m of parseErrors(parsed.context)) if (!findings.parse.includes(m)) findings.parse.push(m);
  const runs = mapGet(parsed.value, 'runs');
  const steps = mapGet(runs, 'steps');
  findings.runExpressions.push(...runExpressionFindings(steps, 'runs'));
  findings.unpinned.push(...unpinnedFindings(steps, 'runs'));
  seqItems(steps).forEach((step, i) => {
    if (mapGet(step, 'run') && !mapGet(step, 'shell')) findings.parse.push(`runs.steps[${i}]: a composite run step requires shell:`);
  });
  return { findings, root: parsed.value };
}

/**
 * Lints a workflow file with GitHub's parser plus our rules: no `${{` inside `run:`, every
 * `uses:` other than `./…` pinned to a full commit sha. Returns the findings (empty = clean).
 */
export async function lintWorkflow(yamlText: string, fileName = 'workflow.yml'): Promise<string[]> {
  const P = await loadWorkflowParser();
  const { findings } = await workflowFindings(P, yamlText, fileName);
  return [...findings.parse, ...findings.runExpressions, ...findings.unpinned];
}

/** Lints an action.yml the same way (and requires `shell:` on composite `run:` steps). */
export async function lintAction(yamlText: string, fileName = 'action.yml'): Promise<string[]> {
  const P = await loadWorkflowParser();
  const { findings } = actionFindings(P, yamlText, fileName);
  return [...findings.parse, ...findings.runExpressions, ...findings.unpinned];
}

// ------------------------------------------------------------------------------------------------
// The runner
// ------------------------------------------------------------------------------------------------

interface ProcessHandle {
  child: ChildProcess;
  pgid: number;
  reason?: 'cancel' | 'timeout';
  terminate(reason: 'cancel' | 'timeout'): void;
}

interface RunState {
  /** The OIDC request variables, for a job with `id-token: write`. */
  idToken?: { url: string; token: string };
  record: LoopbackRunRecord;
  run: EmulatedRun;
  host: RunnerHost;
  P: ParserModule;
  X: Expressions;
  masker: Masker;
  cancelRequested: boolean;
  /** Set when the job is cancelled (by request or job timeout): status functions see cancelled(). */
  cancelled: boolean;
  timedOut: boolean;
  current?: ProcessHandle;
  pgids: Set<number>;
  dirs: { root: string; workspace: string; temp: string; home: string; toolCache: string; fileCommands: string; runnerWorkspace: string };
  github: Record<string, unknown>;
  inputs: Record<string, unknown>;
  secrets: Record<string, string>;
  workflowEnv: Record<string, string>;
  /** Variables added through GITHUB_ENV (job-wide). */
  githubEnv: Record<string, string>;
  /** Directories added through GITHUB_PATH (first = highest priority). */
  githubPath: string[];
  needs: Record<string, { result: string; outputs: Record<string, string> }>;
  artifactNames: Set<string>;
  actionCache: Map<string, Tok>;
  job?: JobState;
  defaults: { shell?: string; workingDirectory?: string };
  stopCommandsToken?: string;
  /** Whether the job was already cancelled when the current step's condition was evaluated. */
  stepStartedCancelled: boolean;
}

interface JobState {
  id: string;
  record: LoopbackJobRecord;
  env: Record<string, string>;
  deadline: number;
  defaults: { shell?: string; workingDirectory?: string };
  /** Once cancelled, steps that still run get at most this long in total. */
  cancelDeadline?: number;
}

interface Scope {
  kind: 'job' | 'composite';
  path: string;
  status: 'success' | 'failure';
  steps: Record<string, { outputs: Record<string, string>; outcome: StepOutcome; conclusion: StepOutcome }>;
  inputs: Record<string, unknown>;
  /** env inherited by the scope's steps (workflow + job env, or the composite step's env). */
  env: Record<string, string>;
  actionPath?: string;
  actionRepository?: string;
  depth: number;
  /** Absolute time (ms) by which the scope's steps must finish (a composite step's timeout-minutes). */
  deadline?: number;
  /** Set when a step was stopped by the scope's deadline. */
  timedOut?: boolean;
}

interface StepResult {
  outcome: 'success' | 'failure' | 'cancelled';
  outputs: Record<string, string>;
}

export function createLoopbackRunner(options: LoopbackRunnerOptions): LoopbackRunner {
  return new LoopbackRunnerImpl(options);
}

class LoopbackRunnerImpl implements LoopbackRunner {
  readonly jobs = new Map<number, LoopbackRunRecord>();
  private readonly states = new Map<number, RunState>();
  private readonly active = new Set<Promise<void>>();
  private workRoot?: string;

  constructor(private readonly options: LoopbackRunnerOptions) {}

  start(run: EmulatedRun, host: RunnerHost): void {
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    const record: LoopbackRunRecord = {
      runId: run.id,
      run,
      status: 'queued',
      conclusion: null,
      jobs: [],
      steps: [],
      log: [],
      errors: [],
      artifacts: [],
      dirs: { root: '', workspace: '', temp: '', home: '' },
      done,
    };
    this.jobs.set(run.id, record);
    const promise = this.execute(record, run, host)
      .catch(() => undefined)
      .finally(() => {
        this.active.delete(promise);
        finish();
      });
    this.active.add(promise);
  }

  cancel(runId: number): void {
    const state = this.states.get(runId);
    if (!state) {
      const record = this.jobs.get(runId);
      if (record && record.status !== 'completed') this.pendingCancels.add(runId);
      return;
    }
    if (state.record.status === 'completed') return;
    const second = state.cancelRequested;
    state.cancelRequested = true;
    state.cancelled = true;
    if (state.job && state.job.cancelDeadline === undefined) state.job.cancelDeadline = Date.now() + (this.options.cancelTimeoutMs ?? 300_000);
    const current = state.current;
    if (current) {
      if (second && current.reason) killGroup(current.pgid, 'SIGKILL');
      else current.terminate('cancel');
    }
  }

  private readonly pendingCancels = new Set<number>();

  async idle(): Promise<void> {
    while (this.active.size) await Promise.allSettled([...this.active]);
  }

  // ---------------------------------------------------------------------------------------------

  private log(state: RunState | undefined, record: LoopbackRunRecord, host: RunnerHost, line: string): void {
    const masked = state ? state.masker.mask(line) : line;
    for (const l of masked.split(/\r?\n/)) {
      record.log.push(l);
      try {
        host.appendLog(record.runId, l);
      } catch {
        // The host's log is best effort; the record keeps every line.
      }
    }
  }

  private setStatus(record: LoopbackRunRecord, host: RunnerHost, status: RunStatus, conclusion?: RunConclusion): void {
    record.status = status;
    if (conclusion !== undefined) record.conclusion = conclusion;
    host.setStatus(record.runId, status, conclusion);
  }

  private baseDir(): string {
    if (this.options.workDir) {
      fs.mkdirSync(this.options.workDir, { recursive: true });
      return this.options.workDir;
    }
    this.workRoot ??= fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-loopback-runner-'));
    return this.workRoot;
  }

  private async execute(record: LoopbackRunRecord, run: EmulatedRun, host: RunnerHost): Promise<void> {
    let state: RunState | undefined;
    let conclusion: RunConclusion = 'failure';
    const fail = (message: string) => {
      record.errors.push(message);
      this.log(state, record, host, `##[error]${message}`);
    };
    try {
      const P = await loadWorkflowParser();
      const content = host.readFile(run.repo, run.head_sha, run.path);
      if (!content) {
        fail(`Unable to find the workflow file ${run.path} in ${run.repo} at ${run.head_sha}`);
        return;
      }
      const { findings, root } = await workflowFindings(P, content.toString('utf8'), run.path);
      if (findings.parse.length || !root) {
        for (const m of findings.parse) fail(`Invalid workflow file: ${m}`);
        if (!findings.parse.length) fail('Invalid workflow file: empty');
        return;
      }
      // Our hard rule, over the workflow and every composite action it reaches through options.actions.
      const refused = [...findings.runExpressions];
      for (const [jobId, job] of mapEntries(mapGet(root, 'jobs'))) {
        seqItems(mapGet(job, 'steps')).forEach((step, i) => {
          const uses = literal(mapGet(step, 'uses'));
          if (typeof uses !== 'string') return;
          const dir = this.resolveMappedAction(uses);
          if (!dir) return;
          const file = actionFile(dir);
          if (!file) return;
          const af = actionFindings(P, fs.readFileSync(file, 'utf8'), file);
          refused.push(...af.findings.runExpressions.map((m) => `jobs.${jobId}.steps[${i}] uses ${uses}: ${m}`));
        });
      }
      if (refused.length) {
        for (const m of refused) fail(m);
        return;
      }

      const root0 = fs.mkdtempSync(path.join(this.baseDir(), `run-${run.id}-`));
      const repoName = run.repo.split('/')[1] ?? 'repo';
      const dirs = {
        root: root0,
        runnerWorkspace: path.join(root0, 'work', repoName),
        workspace: path.join(root0, 'work', repoName, repoName),
        temp: path.join(root0, 'temp'),
        home: path.join(root0, 'home'),
        toolCache: path.join(root0, 'tool-cache'),
        fileCommands: path.join(root0, 'temp', '_runner_file_commands'),
      };
      for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
      record.dirs = { root: dirs.root, workspace: dirs.workspace, temp: dirs.temp, home: dirs.home };

      state = {
        record,
        run,
        host,
        P,
        X: new Expressions(P),
        masker: new Masker(),
        cancelRequested: this.pendingCancels.has(run.id),
        cancelled: this.pendingCancels.has(run.id),
        timedOut: false,
        pgids: new Set(),
        dirs,
        github: {},
        inputs: {},
        secrets: {},
        workflowEnv: {},
        githubEnv: {},
        githubPath: [],
        needs: {},
        artifactNames: new Set(),
        actionCache: new Map(),
        defaults: readDefaults(root),
        stepStartedCancelled: false,
      };
      this.pendingCancels.delete(run.id);
      this.states.set(run.id, state);
      conclusion = await this.runWorkflow(state, root);
    } catch (err) {
      fail(`Runner error: ${errorMessage(err)}`);
      conclusion = state?.cancelled ? (state.timedOut ? 'timed_out' : 'cancelled') : 'failure';
    } finally {
      if (state) {
        this.killOrphans(state);
        if (!this.options.keepWorkDirs && state.dirs.root) fs.rmSync(state.dirs.root, { recursive: true, force: true });
      }
      this.states.delete(run.id);
      this.pendingCancels.delete(run.id);
      try {
        this.setStatus(record, host, 'completed', conclusion);
      } catch (err) {
        record.errors.push(`setStatus failed: ${errorMessage(err)}`);
        record.status = 'completed';
        record.conclusion = conclusion;
      }
    }
  }

  private killOrphans(state: RunState): void {
    const alive = [...state.pgids].filter((pgid) => groupAlive(pgid));
    if (alive.length) {
      this.log(state, state.record, state.host, 'Cleaning up orphan processes');
      for (const pgid of alive) killGroup(pgid, 'SIGKILL');
    }
  }

  private async runWorkflow(state: RunState, root: Tok): Promise<RunConclusion> {
    const { run, record, host } = state;
    // inputs: declared defaults (typed), then the dispatch's values.
    const declared = mapEntries(mapGet(mapGet(mapGet(root, 'on'), 'workflow_dispatch'), 'inputs'));
    const inputs: Record<string, unknown> = {};
    for (const [name, def] of declared) {
      const type = literal(mapGet(def, 'type')) ?? 'string';
      const dflt = literal(mapGet(def, 'default'));
      const given = Object.prototype.hasOwnProperty.call(run.inputs, name) ? run.inputs[name] : undefined;
      const value = given ?? (dflt === null || dflt === undefined ? (type === 'boolean' ? false : '') : dflt);
      inputs[name] = type === 'boolean' ? value === true || value === 'true' : type === 'number' ? Number(value) : String(value);
    }
    for (const [k, v] of Object.entries(run.inputs)) if (!(k in inputs)) inputs[k] = v;
    state.inputs = inputs;

    const isTag = run.head_branch.startsWith('swarm-pin-');
    const ref = `refs/${isTag ? 'tags' : 'heads'}/${run.head_branch}`;
    const owner = run.repo.split('/')[0] ?? '';
    const workflowName = String(literal(mapGet(root, 'name')) ?? run.path);
    const event = {
      inputs,
      ref,
      repository: { full_name: run.repo, name: run.repo.split('/')[1], owner: { login: owner } },
      sender: { login: owner },
      workflow: run.path,
    };
    const eventPath = path.join(state.dirs.temp, '_github_workflow', 'event.json');
    fs.mkdirSync(path.dirname(eventPath), { recursive: true });
    fs.writeFileSync(eventPath, JSON.stringify(event, null, 2));
    state.github = {
      action: '',
      action_path: '',
      action_repository: '',
      actor: owner,
      api_url: host.apiUrl,
      event,
      event_name: 'workflow_dispatch',
      event_path: eventPath,
      graphql_url: `${host.serverUrl}/api/graphql`,
      job: '',
      ref,
      ref_name: run.head_branch,
      ref_protected: false,
      ref_type: isTag ? 'tag' : 'branch',
      repository: run.repo,
      repository_owner: owner,
      retention_days: '90',
      run_attempt: String(run.run_attempt),
      run_id: String(run.id),
      run_number: String(run.run_number),
      secret_source: 'Actions',
      server_url: host.serverUrl,
      sha: run.head_sha,
      token: '',
      triggering_actor: owner,
      workflow: workflowName,
      workflow_ref: `${run.repo}/${run.path}@${ref}`,
      workflow_sha: run.head_sha,
      workspace: state.dirs.workspace,
    };

    // run-name (recorded; the emulator computes display_title itself).
    const runNameTok = mapGet(root, 'run-name');
    if (runNameTok) {
      try {
        record.runName = this.evalText(state, runNameTok, this.contexts(state, undefined), alwaysStatus(state));
      } catch (err) {
        this.log(state, record, host, `##[warning]run-name: ${errorMessage(err)}`);
      }
    }

    if (state.cancelled) {
      this.setStatus(record, host, 'in_progress');
      this.log(state, record, host, 'The run was cancelled before it started.');
      return 'cancelled';
    }
    this.setStatus(record, host, 'in_progress');

    const jobs = mapEntries(mapGet(root, 'jobs'));
    const results = new Map<string, RunConclusion>();
    const pending = [...jobs];
    while (pending.length) {
      const idx = pending.findIndex(([, job]) => jobNeeds(job).every((n) => results.has(n)));
      if (idx < 0) {
        this.log(state, record, host, '##[error]The jobs have a dependency cycle or depend on unknown jobs.');
        return 'failure';
      }
      const [jobId, job] = pending.splice(idx, 1)[0]!;
      const conclusion = await this.runJob(state, root, jobId, job);
      results.set(jobId, conclusion);
    }
    const all = [...results.values()];
    if (all.includes('cancelled') || state.cancelRequested) return 'cancelled';
    if (all.includes('timed_out')) return 'timed_out';
    if (all.includes('failure')) return 'failure';
    if (all.length && all.every((c) => c === 'skipped')) return 'skipped';
    return 'success';
  }

  private async runJob(state: RunState, root: Tok, jobId: string, jobTok: Tok): Promise<RunConclusion> {
    const { record, host, run } = state;
    const jobRecord: LoopbackJobRecord = { id: jobId, name: jobId, timeoutMinutes: 360, conclusion: null, outputs: {}, steps: [] };
    record.jobs.push(jobRecord);
    const log = (line: string) => this.log(state, record, host, line);
    state.github.job = jobId;

    const needs = jobNeeds(jobTok);
    const jobStatus: StatusState = {
      success: () => !state.cancelled && needs.every((n) => state.needs[n]?.result === 'success'),
      failure: () => !state.cancelled && needs.some((n) => state.needs[n]?.result === 'failure'),
      cancelled: () => state.cancelled,
    };
    const finishJob = (conclusion: RunConclusion): RunConclusion => {
      jobRecord.conclusion = conclusion;
      state.needs[jobId] = { result: conclusion ?? 'failure', outputs: jobRecord.outputs };
      return conclusion;
    };

    for (const unsupported of ['uses', 'container', 'services', 'strategy']) {
      if (mapGet(jobTok, unsupported)) {
        log(`##[error]jobs.${jobId}.${unsupported} is not supported by the loopback runner`);
        return finishJob('failure');
      }
    }

    // The workflow env, then the job's; both may use secrets, so secrets come first.
    const envTok = mapGet(jobTok, 'environment');
    let environment: string | undefined;
    const baseCtx = () => this.contexts(state, undefined);
    try {
      if (envTok) {
        const nameTok = tokType(envTok) === T_MAPPING ? mapGet(envTok, 'name') : envTok;
        environment = nameTok ? this.evalText(state, nameTok, baseCtx(), jobStatus) || undefined : undefined;
      }
    } catch (err) {
      log(`##[error]jobs.${jobId}.environment: ${errorMessage(err)}`);
      return finishJob('failure');
    }
    jobRecord.environment = environment;
    jobRecord.permissions = tokenToJs(mapGet(jobTok, 'permissions') ?? mapGet(root, 'permissions'));
    jobRecord.runsOn = tokenToJs(mapGet(jobTok, 'runs-on'));
    const nameTok = mapGet(jobTok, 'name');

    // Job condition (default success()).
    const ifTok = mapGet(jobTok, 'if');
    const condition = this.condition(state, ifTok);
    let runIt: boolean;
    try {
      runIt = state.X.truthy(state.X.evaluate(condition, baseCtx(), jobStatus, state.dirs.workspace));
    } catch (err) {
      log(`##[error]jobs.${jobId}.if: ${errorMessage(err)}`);
      return finishJob('failure');
    }
    if (!runIt) {
      log(`Job ${jobId} was skipped (if: ${condition})`);
      return finishJob(state.cancelled ? 'cancelled' : 'skipped');
    }

    const token = host.jobToken(run);
    state.github.token = token;
    // GitHub hands a job the OIDC request variables only with `id-token: write`.
    const granted = jobRecord.permissions;
    if (host.idTokenRequest && granted && typeof granted === 'object' && (granted as Record<string, unknown>)['id-token'] === 'write') {
      state.idToken = host.idTokenRequest(run, jobId);
      state.masker.add(state.idToken.token);
    }
    const released = host.secretsFor(run, environment);
    state.secrets = { ...released, GITHUB_TOKEN: token };
    state.masker.add(token);
    for (const v of Object.values(released)) state.masker.add(v);

    try {
      if (nameTok) jobRecord.name = this.evalText(state, nameTok, baseCtx(), jobStatus);
      state.workflowEnv = this.evalMapping(state, mapGet(root, 'env'), baseCtx(), jobStatus);
      const jobEnv = this.evalMapping(state, mapGet(jobTok, 'env'), { ...baseCtx(), env: state.workflowEnv }, jobStatus);
      const tm = mapGet(jobTok, 'timeout-minutes');
      if (tm) jobRecord.timeoutMinutes = Number(this.evalText(state, tm, { ...baseCtx(), env: { ...state.workflowEnv, ...jobEnv } }, jobStatus));
      if (!(jobRecord.timeoutMinutes > 0)) throw new Error(`timeout-minutes must be a positive number, not ${jobRecord.timeoutMinutes}`);
      state.job = {
        id: jobId,
        record: jobRecord,
        env: { ...state.workflowEnv, ...jobEnv },
        deadline: Date.now() + jobRecord.timeoutMinutes * 60_000,
        defaults: { ...state.defaults, ...readDefaults(jobTok) },
      };
    } catch (err) {
      log(`##[error]jobs.${jobId}: ${errorMessage(err)}`);
      return finishJob('failure');
    }
    const job = state.job;
    if (state.cancelled && job.cancelDeadline === undefined) job.cancelDeadline = Date.now() + (this.options.cancelTimeoutMs ?? 300_000);

    log(`Current runner version: 'loopback'`);
    log('##[group]Operating System');
    log(`Linux ${os.release()} ${os.arch()}`);
    log('##[endgroup]');
    log('##[group]GITHUB_TOKEN Permissions');
    const perms = jobRecord.permissions;
    if (perms && typeof perms === 'object') for (const [k, v] of Object.entries(perms)) log(`${capitalize(k)}: ${capitalize(String(v))}`);
    else if (perms) log(`${String(perms)}`);
    log('##[endgroup]');
    log('Secret source: Actions');
    log(`Prepare workflow directory`);
    log(`Prepare all required actions`);

    const jobTimer = setTimeout(() => {
      if (state.cancelled) return;
      state.timedOut = true;
      state.cancelled = true;
      job.cancelDeadline = Date.now() + (this.options.cancelTimeoutMs ?? 300_000);
      log(`##[error]The job running on runner loopback has exceeded the maximum execution time of ${jobRecord.timeoutMinutes} minutes.`);
      state.current?.terminate('timeout');
    }, Math.max(0, job.deadline - Date.now()));

    const scope: Scope = { kind: 'job', path: '', status: 'success', steps: {}, inputs: state.inputs, env: job.env, depth: 0 };
    try {
      await this.runSteps(state, scope, seqItems(mapGet(jobTok, 'steps')));
    } finally {
      clearTimeout(jobTimer);
    }

    // Job outputs.
    try {
      jobRecord.outputs = this.evalMapping(state, mapGet(jobTok, 'outputs'), this.contexts(state, scope), alwaysStatus(state));
    } catch (err) {
      log(`##[warning]jobs.${jobId}.outputs: ${errorMessage(err)}`);
    }
    log('Evaluate and set job outputs');
    const conclusion: RunConclusion = state.timedOut ? 'timed_out' : state.cancelled ? 'cancelled' : scope.status === 'failure' ? 'failure' : 'success';
    return finishJob(conclusion);
  }

  // ---------------------------------------------------------------------------------------------
  // Contexts and evaluation
  // ---------------------------------------------------------------------------------------------

  private contexts(state: RunState, scope: Scope | undefined, extraEnv?: Record<string, string>): Record<string, unknown> {
    const job = state.job;
    const status = state.cancelled ? 'cancelled' : scope?.status === 'failure' ? 'failure' : 'success';
    return {
      github: { ...state.github, action_path: scope?.actionPath ?? '', action_repository: scope?.actionRepository ?? '' },
      inputs: scope ? scope.inputs : state.inputs,
      env: { ...(scope ? scope.env : (job?.env ?? state.workflowEnv)), ...state.githubEnv, ...(extraEnv ?? {}) },
      secrets: scope?.kind === 'composite' ? {} : state.secrets,
      runner: {
        name: 'loopback',
        os: 'Linux',
        arch: 'X64',
        temp: state.dirs.temp,
        tool_cache: state.dirs.toolCache,
        workspace: state.dirs.runnerWorkspace,
        environment: 'github-hosted',
        debug: '',
      },
      steps: scope ? scope.steps : {},
      job: { status, container: {}, services: {} },
      jobs: {},
      strategy: { 'fail-fast': true, 'job-index': 0, 'job-total': 1, 'max-parallel': 1 },
      matrix: {},
      needs: state.needs,
      vars: this.options.vars ?? {},
    };
  }

  private evalData(state: RunState, t: Tok, ctx: Record<string, unknown>, status: StatusState): ExprData | undefined {
    if (tokType(t) === T_EXPRESSION) {
      const expr = (t as unknown as { expression: string }).expression;
      return state.X.evaluate(expr, ctx, status, state.dirs.workspace);
    }
    return undefined;
  }

  /** A scalar token as text (expressions evaluated). */
  private evalText(state: RunState, t: Tok, ctx: Record<string, unknown>, status: StatusState): string {
    if (tokType(t) === T_EXPRESSION) return state.X.toText(this.evalData(state, t, ctx, status));
    const v = literal(t);
    if (v === undefined) return JSON.stringify(tokenToJs(t));
    if (v === null) return '';
    return String(v);
  }

  private evalBool(state: RunState, t: Tok | undefined, ctx: Record<string, unknown>, status: StatusState): boolean {
    if (!t) return false;
    if (tokType(t) === T_EXPRESSION) return state.X.truthy(this.evalData(state, t, ctx, status)!);
    const v = literal(t);
    return v === true || v === 'true';
  }

  /** A mapping (env:, with:, outputs:) evaluated to strings; the mapping itself may be an expression. */
  private evalMapping(state: RunState, t: Tok | undefined, ctx: Record<string, unknown>, status: StatusState): Record<string, string> {
    const out: Record<string, string> = {};
    if (!t) return out;
    if (tokType(t) === T_EXPRESSION) {
      const v = state.X.toJs(this.evalData(state, t, ctx, status));
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k] = typeof val === 'string' ? val : val === null ? '' : JSON.stringify(val);
      }
      return out;
    }
    for (const [k, v] of mapEntries(t)) {
      // outputs: mappings of composite actions use { value: … }.
      const valueTok = tokType(v) === T_MAPPING ? mapGet(v, 'value') : v;
      out[k] = valueTok ? this.evalText(state, valueTok, ctx, status) : '';
    }
    return out;
  }

  /** A step's or job's condition, with GitHub's `success() && (…)` wrapping. */
  private condition(state: RunState, ifTok: Tok | undefined): string {
    if (!ifTok) return 'success()';
    let cond: string;
    if (tokType(ifTok) === T_EXPRESSION) cond = (ifTok as unknown as { expression: string }).expression;
    else cond = String(literal(ifTok) ?? '').trim();
    if (!cond) return 'success()';
    return state.P.ensureStatusFunction(cond, ifTok.definitionInfo);
  }

  // ---------------------------------------------------------------------------------------------
  // Steps
  // ---------------------------------------------------------------------------------------------

  private async runSteps(state: RunState, scope: Scope, steps: Tok[]): Promise<void> {
    const { record, host } = state;
    const log = (line: string) => this.log(state, record, host, line);
    const jobRecord = state.job!.record;
    let n = 0;
    for (const stepTok of steps) {
      n++;
      const userId = literal(mapGet(stepTok, 'id'));
      const runTok = mapGet(stepTok, 'run');
      const usesTok = mapGet(stepTok, 'uses');
      const uses = usesTok ? String(literal(usesTok) ?? '') : undefined;
      const id = typeof userId === 'string' && userId ? userId : `__${uses ? uses.replace(/[^A-Za-z0-9]+/g, '_') : 'run'}_${n}`;
      const stepStatus: StatusState = {
        success: () => !state.cancelled && scope.status === 'success',
        failure: () => !state.cancelled && scope.status === 'failure',
        cancelled: () => state.cancelled,
      };
      const script = runTok ? String(literal(runTok) ?? '') : '';
      const rec: LoopbackStepRecord = {
        path: scope.path ? `${scope.path}/${id}` : id,
        id,
        name: uses ? `Run ${uses}` : `Run ${script.split('\n')[0] ?? ''}`.trimEnd(),
        kind: uses ? 'uses' : 'run',
        uses,
        condition: this.condition(state, mapGet(stepTok, 'if')),
        outcome: 'skipped',
        conclusion: 'skipped',
        env: {},
        with: {},
        outputs: {},
      };
      jobRecord.steps.push(rec);
      record.steps.push(rec);
      const settle = (outcome: StepOutcome, outputs: Record<string, string>, continueOnError: boolean) => {
        rec.outcome = outcome;
        rec.conclusion = outcome === 'failure' && continueOnError ? 'success' : outcome;
        rec.outputs = state.masker.maskRecord(outputs);
        scope.steps[id] = { outputs, outcome, conclusion: rec.conclusion };
        if (rec.conclusion === 'failure') scope.status = 'failure';
      };

      // Condition.
      let ctx = this.contexts(state, scope);
      let runIt: boolean;
      try {
        runIt = state.X.truthy(state.X.evaluate(rec.condition, ctx, stepStatus, state.dirs.workspace));
      } catch (err) {
        log(`##[error]The step's condition '${rec.condition}' could not be evaluated: ${errorMessage(err)}`);
        settle('failure', {}, false);
        continue;
      }
      if (!runIt) {
        settle('skipped', {}, false);
        continue;
      }
      const job = state.job!;
      if (state.cancelled && job.cancelDeadline !== undefined && Date.now() >= job.cancelDeadline) {
        settle('skipped', {}, false);
        continue;
      }
      if (scope.deadline !== undefined && Date.now() >= scope.deadline) {
        scope.timedOut = true;
        settle('skipped', {}, false);
        continue;
      }
      state.stepStartedCancelled = state.cancelled;

      // name, env, with, timeout-minutes, continue-on-error, shell, working-directory.
      let stepEnv: Record<string, string>;
      let withVals: Record<string, string> = {};
      let timeoutMs: number | undefined = this.options.stepTimeoutMs;
      let continueOnError = false;
      let shell: string | undefined;
      let workingDirectory: string | undefined;
      try {
        const nameTok = mapGet(stepTok, 'name');
        if (nameTok) rec.name = this.evalText(state, nameTok, ctx, stepStatus);
        stepEnv = this.evalMapping(state, mapGet(stepTok, 'env'), ctx, stepStatus);
        ctx = this.contexts(state, scope, stepEnv);
        withVals = this.evalMapping(state, mapGet(stepTok, 'with'), ctx, stepStatus);
        const tm = mapGet(stepTok, 'timeout-minutes');
        if (tm) {
          const minutes = Number(this.evalText(state, tm, ctx, stepStatus));
          if (!(minutes > 0)) throw new Error(`timeout-minutes must be a positive number, not ${minutes}`);
          timeoutMs = minutes * 60_000;
        }
        continueOnError = this.evalBool(state, mapGet(stepTok, 'continue-on-error'), ctx, stepStatus);
        const shellTok = mapGet(stepTok, 'shell');
        shell = shellTok ? this.evalText(state, shellTok, ctx, stepStatus) : scope.kind === 'job' ? job.defaults.shell : undefined;
        const wdTok = mapGet(stepTok, 'working-directory');
        workingDirectory = wdTok ? this.evalText(state, wdTok, ctx, stepStatus) : scope.kind === 'job' ? job.defaults.workingDirectory : undefined;
      } catch (err) {
        log(`##[error]${rec.name}: ${errorMessage(err)}`);
        settle('failure', {}, continueOnError);
        continue;
      }
      const env = { ...scope.env, ...state.githubEnv, ...stepEnv };
      rec.env = state.masker.maskRecord(env);
      rec.with = state.masker.maskRecord(withVals);

      // Bound the step by the job's remaining time (or the cancel budget once cancelled).
      const limit = state.cancelled ? (job.cancelDeadline ?? Infinity) : Infinity;
      if (limit !== Infinity) timeoutMs = Math.min(timeoutMs ?? Infinity, Math.max(1, limit - Date.now()));
      let boundByScope = false;
      if (scope.deadline !== undefined && scope.deadline - Date.now() < (timeoutMs ?? Infinity)) {
        timeoutMs = Math.max(1, scope.deadline - Date.now());
        boundByScope = true;
      }

      let result: StepResult;
      try {
        if (uses !== undefined) {
          log(`##[group]Run ${uses}`);
          if (Object.keys(withVals).length) {
            log('with:');
            for (const [k, v] of Object.entries(withVals)) log(`  ${k}: ${v}`);
          }
          this.logEnv(state, env);
          log('##[endgroup]');
          result = await this.runUses(state, scope, rec, uses, withVals, env, timeoutMs);
        } else {
          result = await this.runScript(state, scope, rec, script, shell, workingDirectory, env, timeoutMs);
        }
      } catch (err) {
        log(`##[error]${errorMessage(err)}`);
        result = { outcome: 'failure', outputs: {} };
      }
      if (boundByScope && rec.timedOut) scope.timedOut = true;
      settle(result.outcome, result.outputs, continueOnError);
      if (result.outcome === 'failure' && continueOnError) log(`##[warning]The step failed and continue-on-error is set.`);
    }
  }

  private logEnv(state: RunState, env: Record<string, string>): void {
    const entries = Object.entries(env);
    if (!entries.length) return;
    this.log(state, state.record, state.host, 'env:');
    for (const [k, v] of entries) this.log(state, state.record, state.host, `  ${k}: ${v}`);
  }

  /** The process environment of a step: a runner-like base, options.env, the YAML env, then GITHUB_* / RUNNER_*. */
  private processEnv(state: RunState, scope: Scope, rec: LoopbackStepRecord, env: Record<string, string>, files: Record<string, string>): NodeJS.ProcessEnv {
    const { run, host, dirs } = state;
    const g = state.github;
    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: dirs.home,
      LANG: 'C.UTF-8',
      CI: 'true',
      ...(this.options.env ?? {}),
      ...env,
    };
    if (state.githubPath.length) base.PATH = [...state.githubPath, base.PATH].join(':');
    return {
      ...base,
      GITHUB_ACTIONS: 'true',
      GITHUB_ACTION: rec.id,
      GITHUB_ACTION_PATH: scope.actionPath ?? '',
      GITHUB_ACTION_REPOSITORY: scope.actionRepository ?? '',
      GITHUB_ACTOR: String(g.actor),
      GITHUB_API_URL: host.apiUrl,
      GITHUB_BASE_REF: '',
      GITHUB_ENV: files.env!,
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      GITHUB_EVENT_PATH: String(g.event_path),
      GITHUB_GRAPHQL_URL: String(g.graphql_url),
      GITHUB_HEAD_REF: '',
      GITHUB_JOB: state.job?.id ?? '',
      GITHUB_OUTPUT: files.output!,
      GITHUB_PATH: files.path!,
      GITHUB_REF: String(g.ref),
      GITHUB_REF_NAME: run.head_branch,
      GITHUB_REF_PROTECTED: 'false',
      GITHUB_REF_TYPE: String(g.ref_type),
      GITHUB_REPOSITORY: run.repo,
      GITHUB_REPOSITORY_OWNER: String(g.repository_owner),
      GITHUB_RETENTION_DAYS: '90',
      GITHUB_RUN_ATTEMPT: String(run.run_attempt),
      GITHUB_RUN_ID: String(run.id),
      GITHUB_RUN_NUMBER: String(run.run_number),
      GITHUB_SERVER_URL: host.serverUrl,
      GITHUB_SHA: run.head_sha,
      GITHUB_STATE: files.state!,
      GITHUB_STEP_SUMMARY: files.summary!,
      GITHUB_TRIGGERING_ACTOR: String(g.triggering_actor),
      GITHUB_WORKFLOW: String(g.workflow),
      GITHUB_WORKFLOW_REF: String(g.workflow_ref),
      GITHUB_WORKFLOW_SHA: run.head_sha,
      GITHUB_WORKSPACE: dirs.workspace,
      RUNNER_ARCH: 'X64',
      RUNNER_ENVIRONMENT: 'github-hosted',
      RUNNER_NAME: 'loopback',
      RUNNER_OS: 'Linux',
      RUNNER_TEMP: dirs.temp,
      RUNNER_TOOL_CACHE: dirs.toolCache,
      RUNNER_WORKSPACE: dirs.runnerWorkspace,
      NODE_EXTRA_CA_CERTS: host.caFile,
      SSL_CERT_FILE: host.caFile,
      ...(state.idToken ? { ACTIONS_ID_TOKEN_REQUEST_URL: state.idToken.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: state.idToken.token } : {}),
    };
  }

  private fileCommandFiles(state: RunState): Record<string, string> {
    const id = randomUUID();
    const files: Record<string, string> = {
      output: path.join(state.dirs.fileCommands, `set_output_${id}`),
      env: path.join(state.dirs.fileCommands, `set_env_${id}`),
      path: path.join(state.dirs.fileCommands, `add_path_${id}`),
      state: path.join(state.dirs.fileCommands, `save_state_${id}`),
      summary: path.join(state.dirs.fileCommands, `step_summary_${id}`),
    };
    for (const f of Object.values(files)) fs.writeFileSync(f, '');
    return files;
  }

  /** Reads the file commands a step wrote; throws (failing the step) on a malformed file. */
  private readFileCommands(state: RunState, files: Record<string, string>): Record<string, string> {
    const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
    const outputs = parseFileCommand(read(files.output!));
    const env = parseFileCommand(read(files.env!));
    for (const [k, v] of Object.entries(env)) {
      if (k.toUpperCase() === 'NODE_OPTIONS') {
        this.log(state, state.record, state.host, `##[warning]Can't store NODE_OPTIONS using GITHUB_ENV`);
        continue;
      }
      state.githubEnv[k] = v;
    }
    const added = read(files.path!)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    for (const p of added.reverse()) state.githubPath.unshift(p);
    return outputs;
  }

  private async runScript(
    state: RunState,
    scope: Scope,
    rec: LoopbackStepRecord,
    script: string,
    shell: string | undefined,
    workingDirectory: string | undefined,
    env: Record<string, string>,
    timeoutMs: number | undefined,
  ): Promise<StepResult> {
    const log = (line: string) => this.log(state, state.record, state.host, line);
    const ext = shell === 'python' ? '.py' : '.sh';
    const scriptFile = path.join(state.dirs.temp, `${randomUUID()}${ext}`);
    const { argv, display } = shellCommand(shell, scriptFile);

    log(`##[group]Run ${script.split('\n')[0] ?? ''}`.trimEnd());
    for (const line of script.replace(/\n$/, '').split('\n')) log(line);
    log(`shell: ${display}`);
    this.logEnv(state, env);
    log('##[endgroup]');

    if (!argv) {
      log(`##[error]The shell '${shell}' is not supported by the loopback runner`);
      return { outcome: 'failure', outputs: {} };
    }
    fs.writeFileSync(scriptFile, script);
    const cwd = workingDirectory ? path.resolve(state.dirs.workspace, workingDirectory) : state.dirs.workspace;
    if (!fs.existsSync(cwd)) {
      log(`##[error]An error occurred trying to start process '${argv[0]}' with working directory '${cwd}'. No such file or directory`);
      return { outcome: 'failure', outputs: {} };
    }
    const files = this.fileCommandFiles(state);
    const procEnv = this.processEnv(state, scope, rec, env, files);
    const result = await this.runProcess(state, rec, argv, cwd, procEnv, timeoutMs);
    fs.rmSync(scriptFile, { force: true });
    let outputs: Record<string, string> = {};
    try {
      outputs = this.readFileCommands(state, files);
    } catch (err) {
      log(`##[error]Unable to process file command successfully: ${errorMessage(err)}`);
      return { outcome: result.reason === 'cancel' ? 'cancelled' : 'failure', outputs: {} };
    } finally {
      for (const f of Object.values(files)) fs.rmSync(f, { force: true });
    }
    if (result.reason === 'cancel') {
      log('##[error]The operation was canceled.');
      return { outcome: 'cancelled', outputs };
    }
    if (result.reason === 'timeout') {
      if (state.timedOut) {
        log('##[error]The operation was canceled.');
        return { outcome: 'cancelled', outputs };
      }
      rec.timedOut = true;
      log(`##[error]The action '${rec.name}' has timed out after ${(timeoutMs ?? 0) / 60_000} minutes.`);
      return { outcome: 'failure', outputs };
    }
    if (result.error) {
      log(`##[error]${result.error}`);
      return { outcome: 'failure', outputs };
    }
    if (result.exitCode !== 0) {
      log(`##[error]Process completed with exit code ${result.exitCode ?? `null (signal ${result.signal})`}.`);
      return { outcome: 'failure', outputs };
    }
    return { outcome: 'success', outputs };
  }

  private runProcess(
    state: RunState,
    rec: LoopbackStepRecord,
    argv: string[],
    cwd: string,
    env: NodeJS.ProcessEnv,
    timeoutMs: number | undefined,
  ): Promise<{ exitCode: number | null; signal: string | null; reason?: 'cancel' | 'timeout'; error?: string }> {
    const grace = this.options.killGraceMs ?? 5000;
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(argv[0]!, argv.slice(1), { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        resolve({ exitCode: null, signal: null, error: errorMessage(err) });
        return;
      }
      let settled = false;
      let exited = false;
      let killTimer: NodeJS.Timeout | undefined;
      let timeoutTimer: NodeJS.Timeout | undefined;
      let closeTimer: NodeJS.Timeout | undefined;
      let exitCode: number | null = null;
      let signal: string | null = null;
      const pgid = child.pid;
      const handle: ProcessHandle = {
        child,
        pgid: pgid ?? -1,
        terminate(reason) {
          if (handle.reason || pgid === undefined) return;
          handle.reason = reason;
          killGroup(pgid, 'SIGTERM');
          killTimer = setTimeout(() => killGroup(pgid, 'SIGKILL'), grace);
        },
      };
      if (pgid !== undefined) {
        rec.pid = pgid;
        state.pgids.add(pgid);
        state.current = handle;
        // A cancel that arrived after this step's condition was evaluated (while it was being prepared).
        if (state.cancelled && !state.stepStartedCancelled) handle.terminate('cancel');
      }
      const lines = new LineSplitter((line) => this.onOutputLine(state, line));
      const errLines = new LineSplitter((line) => this.onOutputLine(state, line));
      child.stdout!.on('data', (b: Buffer) => lines.push(b));
      child.stderr!.on('data', (b: Buffer) => errLines.push(b));
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) timeoutTimer = setTimeout(() => handle.terminate('timeout'), timeoutMs);
      const finish = (error?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeoutTimer);
        clearTimeout(closeTimer);
        lines.end();
        errLines.end();
        if (handle.reason && pgid !== undefined) {
          // The step was stopped: nothing of its process group survives it.
          killGroup(pgid, 'SIGKILL');
          clearTimeout(killTimer);
        }
        if (state.current === handle) state.current = undefined;
        rec.exitCode = exitCode;
        rec.signal = signal;
        resolve({ exitCode, signal, reason: handle.reason, error });
      };
      child.on('error', (err) => {
        if (!exited) finish(`An error occurred trying to start process '${argv[0]}': ${err.message}`);
      });
      child.on('exit', (code, sig) => {
        exited = true;
        exitCode = code;
        signal = sig;
        if (handle.reason && pgid !== undefined) {
          killGroup(pgid, 'SIGKILL');
          clearTimeout(killTimer);
        }
        // Background processes may hold the pipes open; do not wait for them for long.
        closeTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish();
        }, 1000);
      });
      child.on('close', () => {
        if (exited) finish();
      });
    });
  }

  /** One line of a step's output: a workflow command, or a log line. */
  private onOutputLine(state: RunState, raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const log = (l: string) => this.log(state, state.record, state.host, l);
    const cmd = parseWorkflowCommand(line);
    if (!cmd) {
      log(line);
      return;
    }
    if (state.stopCommandsToken) {
      if (cmd.name === state.stopCommandsToken) state.stopCommandsToken = undefined;
      else log(line);
      return;
    }
    const message = unescapeData(cmd.data);
    switch (cmd.name) {
      case 'add-mask':
        state.masker.add(message.trim() ? message : undefined);
        return;
      case 'error':
      case 'warning':
      case 'notice':
        log(`##[${cmd.name}]${message}`);
        return;
      case 'group':
        log(`##[group]${message}`);
        return;
      case 'endgroup':
        log('##[endgroup]');
        return;
      case 'debug':
        return;
      case 'stop-commands':
        state.stopCommandsToken = message;
        return;
      case 'set-output':
      case 'save-state':
      case 'set-env':
      case 'add-path':
        log(`##[error]The \`${cmd.name}\` command is disabled. Please upgrade to using Environment Files.`);
        return;
      case 'echo':
        return;
      default:
        log(line);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // uses:
  // ---------------------------------------------------------------------------------------------

  /** A directory from options.actions (or the `./` mapping) for a `uses:` value, without shims. */
  private resolveMappedAction(uses: string): string | undefined {
    const actions = this.options.actions;
    if (uses === '.' || uses.startsWith('./')) {
      const base = actions['./'];
      return base ? path.join(base, uses.slice(2)) : undefined;
    }
    const m = /^([^/@]+)\/([^/@]+)((?:\/[^@]*)?)@(.+)$/.exec(uses);
    if (!m) return undefined;
    const [, owner, repo, sub, ref] = m;
    if (!HEX40.test(ref!)) return undefined;
    const subPath = (sub ?? '').replace(/^\//, '');
    const exact = actions[uses] ?? actions[`${owner}/${repo}@${ref}`];
    if (exact) return actions[uses] ? exact : path.join(exact, subPath);
    const any = actions[`${owner}/${repo}`];
    return any ? path.join(any, subPath) : undefined;
  }

  private async runUses(
    state: RunState,
    scope: Scope,
    rec: LoopbackStepRecord,
    uses: string,
    withVals: Record<string, string>,
    env: Record<string, string>,
    timeoutMs: number | undefined,
  ): Promise<StepResult> {
    const log = (line: string) => this.log(state, state.record, state.host, line);
    if (uses.startsWith('docker://')) {
      log(`##[error]${uses}: container actions are not supported by the loopback runner`);
      return { outcome: 'failure', outputs: {} };
    }
    const local = uses === '.' || uses.startsWith('./');
    let dir = this.resolveMappedAction(uses);
    if (local && !dir) dir = path.join(state.dirs.workspace, uses.slice(2));
    if (!local) {
      const m = /^([^/@]+)\/([^/@]+)((?:\/[^@]*)?)@(.+)$/.exec(uses);
      if (!m) {
        log(`##[error]Invalid uses: '${uses}' (expected owner/repo[/path]@<40-hex sha>)`);
        return { outcome: 'failure', outputs: {} };
      }
      const [, owner, repo, , ref] = m;
      if (!HEX40.test(ref!)) {
        log(`##[error]Refusing unpinned action '${uses}': the loopback runner (like swarm's policy) requires a full 40-hex commit sha`);
        return { outcome: 'failure', outputs: {} };
      }
      if (!dir) {
        const name = `${owner}/${repo}`;
        log(`Download action repository '${uses.split('@')[0]}@${ref}' (SHA:${ref}) [loopback]`);
        if (name === 'actions/checkout') return this.shimCheckout(state, withVals);
        if (name === 'actions/setup-node') return this.shimSetupNode(state, withVals);
        if (name === 'actions/upload-artifact') return this.shimUploadArtifact(state, withVals);
        log(`##[error]Unknown action '${uses}': it is neither in the loopback runner's actions map nor one of its shims`);
        return { outcome: 'failure', outputs: {} };
      }
    }
    const file = actionFile(dir!);
    if (!file) {
      log(`##[error]Can't find 'action.yml' or 'action.yaml' under '${dir}'.${local ? ' Did you forget to run actions/checkout before running your local action?' : ''}`);
      return { outcome: 'failure', outputs: {} };
    }
    let root = state.actionCache.get(file);
    if (!root) {
      const { findings, root: parsed } = actionFindings(state.P, fs.readFileSync(file, 'utf8'), file);
      const errors = [...findings.parse, ...findings.runExpressions];
      if (errors.length || !parsed) {
        for (const e of errors) log(`##[error]${uses}: ${e}`);
        return { outcome: 'failure', outputs: {} };
      }
      root = parsed;
      state.actionCache.set(file, root);
    }
    const runs = mapGet(root, 'runs');
    const using = String(literal(mapGet(runs, 'using')) ?? '');
    if (using !== 'composite') {
      log(`##[error]${uses}: 'runs.using: ${using}' actions are not supported by the loopback runner (composite only)`);
      return { outcome: 'failure', outputs: {} };
    }
    if (scope.depth >= 9) {
      log(`##[error]${uses}: composite actions nest too deeply`);
      return { outcome: 'failure', outputs: {} };
    }
    return this.runComposite(state, scope, rec, uses, dir!, root, withVals, env, timeoutMs);
  }

  private async runComposite(
    state: RunState,
    parent: Scope,
    rec: LoopbackStepRecord,
    uses: string,
    dir: string,
    root: Tok,
    withVals: Record<string, string>,
    env: Record<string, string>,
    timeoutMs: number | undefined,
  ): Promise<StepResult> {
    const log = (line: string) => this.log(state, state.record, state.host, line);
    const declared = mapEntries(mapGet(root, 'inputs'));
    const inputs: Record<string, string> = {};
    const parentCtx = this.contexts(state, parent, env);
    const status = alwaysStatus(state);
    for (const [name, def] of declared) {
      const given = Object.keys(withVals).find((k) => k.toLowerCase() === name.toLowerCase());
      if (given !== undefined) {
        inputs[name] = withVals[given]!;
        continue;
      }
      const dflt = mapGet(def, 'default');
      const required = literal(mapGet(def, 'required'));
      if (dflt) inputs[name] = this.evalText(state, dflt, parentCtx, status);
      else if (required === true || required === 'true') {
        log(`##[error]${uses}: input required and not supplied: ${name}`);
        return { outcome: 'failure', outputs: {} };
      } else inputs[name] = '';
    }
    const unexpected = Object.keys(withVals).filter((k) => !declared.some(([n]) => n.toLowerCase() === k.toLowerCase()));
    if (unexpected.length) log(`##[warning]Unexpected input(s) '${unexpected.join("', '")}', valid inputs are ['${declared.map(([n]) => n).join("', '")}']`);

    const scope: Scope = {
      kind: 'composite',
      path: rec.path,
      status: 'success',
      steps: {},
      inputs,
      env,
      actionPath: dir,
      actionRepository: uses.startsWith('./') || uses === '.' ? '' : uses.split('@')[0]!.split('/').slice(0, 2).join('/'),
      depth: parent.depth + 1,
      deadline: timeoutMs !== undefined && Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : parent.deadline,
    };
    await this.runSteps(state, scope, seqItems(mapGet(mapGet(root, 'runs'), 'steps')));
    let outputs: Record<string, string> = {};
    try {
      outputs = this.evalMapping(state, mapGet(root, 'outputs'), this.contexts(state, scope), status);
    } catch (err) {
      log(`##[error]${uses}: outputs: ${errorMessage(err)}`);
      return { outcome: 'failure', outputs: {} };
    }
    if (scope.timedOut) {
      rec.timedOut = true;
      log(`##[error]The action '${rec.name}' has timed out after ${(timeoutMs ?? 0) / 60_000} minutes.`);
      return { outcome: 'failure', outputs };
    }
    const innerCancelled = Object.values(scope.steps).some((s) => s.outcome === 'cancelled');
    if (scope.status === 'failure') return { outcome: 'failure', outputs };
    if (innerCancelled) return { outcome: 'cancelled', outputs };
    return { outcome: 'success', outputs };
  }

  // ---------------------------------------------------------------------------------------------
  // Shims
  // ---------------------------------------------------------------------------------------------

  private shimCheckout(state: RunState, withVals: Record<string, string>): StepResult {
    const log = (line: string) => this.log(state, state.record, state.host, line);
    const src = this.options.actions['./'];
    const dest = withVals.path ? path.resolve(state.dirs.workspace, withVals.path) : state.dirs.workspace;
    if (!src || this.options.checkout === 'none') {
      log(`Syncing repository: ${state.run.repo} [loopback: nothing mapped for ./, workspace left as is]`);
      return { outcome: 'success', outputs: { ref: state.github.ref as string, commit: state.run.head_sha } };
    }
    log(`Syncing repository: ${state.run.repo} [loopback: copy of ${src}]`);
    fs.mkdirSync(dest, { recursive: true });
    for (const rel of listCheckoutFiles(src)) {
      const from = path.join(src, rel);
      const to = path.join(dest, rel);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(from);
      } catch {
        continue;
      }
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(from), to);
      else if (st.isFile()) {
        fs.copyFileSync(from, to);
        fs.chmodSync(to, st.mode & 0o777);
      }
    }
    return { outcome: 'success', outputs: { ref: state.github.ref as string, commit: state.run.head_sha } };
  }

  private shimSetupNode(state: RunState, withVals: Record<string, string>): StepResult {
    const requested = withVals['node-version'] ?? '';
    this.log(state, state.record, state.host, `Using the runner's node ${process.version}${requested ? ` for node-version ${requested}` : ''} [loopback setup-node]`);
    return { outcome: 'success', outputs: { 'node-version': process.version, 'cache-hit': 'false' } };
  }

  private shimUploadArtifact(state: RunState, withVals: Record<string, string>): StepResult {
    const log = (line: string) => this.log(state, state.record, state.host, line);
    const failure = (message: string): StepResult => {
      log(`##[error]${message}`);
      return { outcome: 'failure', outputs: {} };
    };
    const name = withVals.name || 'artifact';
    if (/["<>|*?\r\n\\/:]/.test(name)) return failure(`The artifact name is not valid: ${name}. Contains the following character(s): " : < > | * ? \\r \\n \\ /`);
    const lines = (withVals.path ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
    if (!lines.length) return failure('Input required and not supplied: path');
    if (lines.some((l) => l.startsWith('!') || /[*?[\]]/.test(l))) return failure('The loopback upload-artifact shim takes plain paths, not glob patterns');
    const ifNoFiles = (withVals['if-no-files-found'] || 'warn').toLowerCase();
    if (!['warn', 'error', 'ignore'].includes(ifNoFiles)) return failure(`Unexpected input provided for if-no-files-found: ${ifNoFiles}. Available options: warn, error, ignore`);
    const includeHidden = (withVals['include-hidden-files'] || 'false').toLowerCase() === 'true';
    const overwrite = (withVals.overwrite || 'false').toLowerCase() === 'true';
    let retentionDays: number | undefined;
    if (withVals['retention-days']) {
      retentionDays = Number.parseInt(withVals['retention-days'], 10);
      if (!Number.isFinite(retentionDays) || retentionDays < 0) return failure(`Invalid retention-days: ${withVals['retention-days']}`);
      if (retentionDays === 0) retentionDays = undefined;
      else if (retentionDays > 90) retentionDays = 90;
    }

    const searchPaths = lines.map((l) => path.resolve(state.dirs.workspace, l));
    const files: { abs: string; stat: fs.Stats }[] = [];
    const emptyDirs: string[] = [];
    const seen = new Set<string>();
    const walk = (dir: string) => {
      let real: string;
      try {
        real = fs.realpathSync(dir);
      } catch {
        return;
      }
      if (seen.has(real)) return;
      seen.add(real);
      const names = fs.readdirSync(dir).sort();
      let any = false;
      for (const n of names) {
        if (!includeHidden && n.startsWith('.')) continue;
        const abs = path.join(dir, n);
        let st: fs.Stats;
        try {
          st = fs.statSync(abs);
        } catch {
          continue;
        }
        any = true;
        if (st.isDirectory()) walk(abs);
        else if (st.isFile()) files.push({ abs, stat: st });
      }
      if (!any) emptyDirs.push(dir);
    };
    const roots: string[] = [];
    for (const p of searchPaths) {
      let st: fs.Stats;
      try {
        st = fs.statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        roots.push(p);
        walk(p);
      } else if (st.isFile()) {
        roots.push(path.dirname(p));
        files.push({ abs: p, stat: st });
      }
    }
    if (!files.length) {
      const message = `No files were found with the provided path: ${lines.join('\n')}. No artifacts will be uploaded.`;
      if (ifNoFiles === 'error') return failure(message);
      log(ifNoFiles === 'warn' ? `##[warning]${message}` : message);
      return { outcome: 'success', outputs: {} };
    }
    const rootDir = commonAncestor(roots);
    const entries: ZipEntryInput[] = [];
    const names = new Set<string>();
    for (const f of files.sort((a, b) => (a.abs < b.abs ? -1 : a.abs > b.abs ? 1 : 0))) {
      const rel = toPosix(path.relative(rootDir, f.abs));
      if (names.has(rel)) continue;
      names.add(rel);
      entries.push({ name: rel, data: fs.readFileSync(f.abs), mtime: f.stat.mtime, mode: 0o100000 | (f.stat.mode & 0o777) });
    }
    for (const d of emptyDirs) {
      const rel = toPosix(path.relative(rootDir, d));
      if (rel && !rel.startsWith('..')) entries.push({ name: rel, directory: true });
    }
    log(`With the provided path, there will be ${files.length} file${files.length === 1 ? '' : 's'} uploaded`);
    log('Artifact name is valid!');
    log('Root directory input is valid!');
    if (state.artifactNames.has(name) && !overwrite) {
      return failure(`Failed to CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: an artifact with this name already exists on the workflow run`);
    }
    const zip = writeZip(entries);
    log(`Beginning upload of artifact content to blob storage`);
    const { id, digest } = state.host.addArtifact(state.run.id, name, zip, retentionDays);
    state.artifactNames.add(name);
    const hex = digest.replace(/^sha256:/, '');
    state.record.artifacts.push({ name, id, digest: hex, size: zip.length });
    const url = `${state.host.serverUrl}/${state.run.repo}/actions/runs/${state.run.id}/artifacts/${id}`;
    log(`Uploaded bytes ${zip.length}`);
    log(`SHA256 digest of uploaded artifact zip is ${hex}`);
    log(`Artifact ${name}.zip successfully finalized. Artifact ID ${id}`);
    log(`Artifact ${name} has been successfully uploaded! Final size is ${zip.length} bytes. Artifact ID is ${id}`);
    log(`Artifact download URL: ${url}`);
    return { outcome: 'success', outputs: { 'artifact-id': String(id), 'artifact-digest': hex, 'artifact-url': url } };
  }
}

// ------------------------------------------------------------------------------------------------
// Helpers of the runner
// ------------------------------------------------------------------------------------------------

function alwaysStatus(state: RunState): StatusState {
  return { success: () => !state.cancelled, failure: () => false, cancelled: () => state.cancelled };
}

function capitalize(s: string): string {
  return s
    .split(/[-_]/)
    .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
    .join('');
}

function jobNeeds(job: Tok): string[] {
  const t = mapGet(job, 'needs');
  if (!t) return [];
  const v = literal(t);
  if (typeof v === 'string') return [v];
  return seqItems(t).map((x) => String(literal(x)));
}

function readDefaults(t: Tok): { shell?: string; workingDirectory?: string } {
  const run = mapGet(mapGet(t, 'defaults'), 'run');
  const out: { shell?: string; workingDirectory?: string } = {};
  const shell = literal(mapGet(run, 'shell'));
  const wd = literal(mapGet(run, 'working-directory'));
  if (typeof shell === 'string') out.shell = shell;
  if (typeof wd === 'string') out.workingDirectory = wd;
  return out;
}

function tokenToJs(t: Tok | undefined): unknown {
  if (!t) return undefined;
  switch (tokType(t)) {
    case T_MAPPING:
      return Object.fromEntries(mapEntries(t).map(([k, v]) => [k, tokenToJs(v)]));
    case T_SEQUENCE:
      return seqItems(t).map(tokenToJs);
    case T_EXPRESSION:
      return `\${{ ${(t as unknown as { expression: string }).expression} }}`;
    default:
      return literal(t);
  }
}

function actionFile(dir: string): string | undefined {
  for (const n of ['action.yml', 'action.yaml']) {
    const f = path.join(dir, n);
    if (fs.existsSync(f)) return f;
  }
  return undefined;
}

/** The shell's command line, as GitHub's runner builds it (an unspecified shell is `bash -e {0}`). */
function shellCommand(shell: string | undefined, file: string): { argv?: string[]; display: string } {
  switch (shell) {
    case undefined:
    case '':
      return { argv: ['bash', '-e', file], display: '/usr/bin/bash -e {0}' };
    case 'bash':
      return { argv: ['bash', '--noprofile', '--norc', '-eo', 'pipefail', file], display: '/usr/bin/bash --noprofile --norc -e -o pipefail {0}' };
    case 'sh':
      return { argv: ['sh', '-e', file], display: 'sh -e {0}' };
    case 'python':
      return { argv: ['python3', file], display: 'python {0}' };
    default:
      if (shell.includes('{0}')) {
        const parts = shell.trim().split(/\s+/);
        return { argv: parts.map((p) => p.replace('{0}', file)), display: shell };
      }
      return { display: shell };
  }
}

function parseWorkflowCommand(line: string): { name: string; props: Record<string, string>; data: string } | undefined {
  const trimmed = line.trimStart();
  if (!trimmed.startsWith('::')) return undefined;
  const end = trimmed.indexOf('::', 2);
  if (end < 0) return undefined;
  const head = trimmed.slice(2, end);
  const data = trimmed.slice(end + 2);
  const space = head.indexOf(' ');
  const name = (space < 0 ? head : head.slice(0, space)).toLowerCase();
  if (!name) return undefined;
  const props: Record<string, string> = {};
  if (space >= 0) {
    for (const kv of head.slice(space + 1).split(',')) {
      const eq = kv.indexOf('=');
      if (eq > 0) props[kv.slice(0, eq).trim()] = unescapeProperty(kv.slice(eq + 1));
    }
  }
  return { name, props, data };
}

class LineSplitter {
  private buf = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(b: Buffer): void {
    this.buf += b.toString('utf8');
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      this.onLine(line);
    }
  }
  end(): void {
    if (this.buf) this.onLine(this.buf);
    this.buf = '';
  }
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  if (!(pgid > 0)) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // Already gone.
  }
}

/** Whether any process of the group still runs (zombies, which an init that does not reap leaves, do not count). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let names: string[];
  try {
    names = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return true;
  }
  for (const n of names) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${n}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

function commonAncestor(dirs: string[]): string {
  let common = dirs[0]!.split(path.sep);
  for (const d of dirs.slice(1)) {
    const parts = d.split(path.sep);
    let i = 0;
    while (i < common.length && i < parts.length && common[i] === parts[i]) i++;
    common = common.slice(0, i);
  }
  return common.join(path.sep) || path.sep;
}

/** The files a checkout of `src` holds: git's tracked and untracked-but-not-ignored files, else a walk. */
function listCheckoutFiles(src: string): string[] {
  try {
    const out = execFileSync('git', ['-C', src, 'ls-files', '-co', '--exclude-standard', '-z'], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
    return out
      .toString('utf8')
      .split('\0')
      .filter(Boolean);
  } catch {
    const files: string[] = [];
    const walk = (rel: string) => {
      for (const d of fs.readdirSync(path.join(src, rel), { withFileTypes: true })) {
        if (d.name === '.git' || d.name === 'node_modules') continue;
        const r = rel ? path.join(rel, d.name) : d.name;
        if (d.isDirectory()) walk(r);
        else files.push(r);
      }
    };
    walk('');
    return files;
  }
}
