/**
 * Contract test: the loopback GitHub (emulator.ts) against GitHub's own OpenAPI description, so the
 * emulator cannot drift from the shapes the real API sends. Every endpoint swarm uses is called
 * over real HTTPS (Node's https with the emulator's CA, the operator token, and the job token
 * where the worker uses it); each response is matched to its operation by method and path
 * template, and its body validated with ajv against the response schema for its status code, in
 * the description of api.github.com from `@octokit/openapi` and, where that one has the same
 * operation and status, in the newest GHES description it ships (the emulator speaks GHES's
 * `/api/v3`, but return_run_details and artifact digests exist only in the api.github.com one).
 * Headers: X-GitHub-Request-Id and X-RateLimit-* on every API answer (GitHub's docs), Location
 * and Link where the description declares them.
 *
 * OpenAPI 3.0's `nullable` is turned into JSON Schema (a null type, or `anyOf` with null when the
 * schema has no type, and null added to an enum); nothing else of the schemas is changed.
 */
import fs from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type GithubEmulator } from './emulator.js';
import { seal } from './sealed-box.js';
import type { EmulatedRun, Runner, RunnerHost } from './types.js';
import { writeZip } from './zip-write.js';

const Ajv = AjvModule as unknown as typeof AjvModule.default;

const require = createRequire(import.meta.url);
const OPENAPI_DIR = path.join(path.dirname(require.resolve('@octokit/openapi/package.json')), 'generated');

const REPO = 'octo/contract';
const WORKFLOW_FILE = 'swarm-worker.yml';
const WORKFLOW = `name: Swarm worker
run-name: swarm \${{ inputs.request_id }}
on:
  workflow_dispatch:
    inputs:
      request_id:
        required: true
      hold:
        required: false
        default: 'no'
jobs:
  run:
    runs-on: ubuntu-latest
    environment: swarm
    steps:
      - run: echo hello
`;

// ------------------------------------------------------------------------------------------------
// The OpenAPI descriptions

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** OpenAPI 3.0 `nullable` → JSON Schema; everything else as written. */
function toJsonSchema(value: Json): Json {
  if (Array.isArray(value)) return value.map(toJsonSchema);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) out[key] = toJsonSchema(child);
  if (out.nullable !== true) return out;
  delete out.nullable;
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
  if (Array.isArray(out.type)) return out.type.includes('null') ? out : { ...out, type: [...out.type, 'null'] };
  return { anyOf: [out, { type: 'null' }] };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isUri(text: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(text)) return false;
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}

const MULTI_SEGMENT = new Set(['{path}', '{ref}']);

interface Operation {
  method: string;
  template: string;
  regex: RegExp;
  /** Literal segments: the more, the more specific the template. */
  literals: number;
  operationId: string;
  /** JSON pointer of the operation object in the document. */
  pointer: string;
}

interface ResponseSpec {
  /** JSON pointers of the schemas by content type. */
  content: Record<string, string>;
  headers: string[];
}

function pointerPart(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

class Description {
  readonly name: string;
  readonly #doc: JsonObject;
  readonly #ajv: InstanceType<typeof Ajv>;
  readonly #operations: Operation[] = [];
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(file: string) {
    this.name = path.basename(file, '.json');
    this.#doc = toJsonSchema(JSON.parse(fs.readFileSync(file, 'utf8')) as Json) as JsonObject;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    this.#ajv.addFormat('date-time', RFC3339);
    this.#ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
    this.#ajv.addFormat('uri', isUri);
    this.#ajv.addFormat('uri-template', (text: string) => isUri(text.replace(/\{[^}]*\}/g, 'x')));
    this.#ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
    this.#ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
    this.#ajv.addFormat('timestamp', RFC3339);
    this.#ajv.addSchema(this.#doc, this.name);
    const paths = this.#doc.paths as Record<string, JsonObject>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of ['get', 'put', 'post', 'patch', 'delete']) {
        const op = item[method];
        if (!isObject(op)) continue;
        const segments = template.split('/').filter((s) => s !== '');
        // A file path or a ref as the last segment may hold slashes (contents/{path}, git/ref/{ref}); see operation().
        const source = segments.map((s, i) => (/^\{.+\}$/.test(s) ? (i === segments.length - 1 && MULTI_SEGMENT.has(s) ? '(.+?)' : '([^/]+)') : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
        this.#operations.push({
          method: method.toUpperCase(),
          template,
          regex: new RegExp(`^/${source}$`),
          literals: segments.filter((s) => !/^\{.+\}$/.test(s)).length,
          operationId: String(op.operationId),
          pointer: `/paths/${pointerPart(template)}/${method}`,
        });
      }
    }
  }

  #at(pointer: string): Json {
    let node: Json = this.#doc;
    for (const part of pointer.split('/').slice(1)) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      node = isObject(node) ? (node[key] ?? null) : Array.isArray(node) ? (node[Number(key)] ?? null) : null;
    }
    return node;
  }

  /** The operation for a method and an API path (no /api/v3, no query): single-segment parameters first, then the most literal template. */
  operation(method: string, apiPath: string): Operation | undefined {
    const matches = this.#operations.filter((o) => o.method === method && o.regex.test(apiPath));
    const exact = matches.filter((o) => {
      const groups = o.regex.exec(apiPath)?.slice(1) ?? [];
      return groups.every((g) => !g.includes('/'));
    });
    const pool = exact.length > 0 ? exact : matches;
    return pool.sort((a, b) => b.literals - a.literals)[0];
  }

  /** The response object for a status, `$ref`s (components/responses) followed. */
  response(op: Operation, status: number): ResponseSpec | undefined {
    let pointer = `${op.pointer}/responses/${status}`;
    let node = this.#at(pointer);
    for (let i = 0; i < 8 && isObject(node) && typeof node.$ref === 'string'; i++) {
      pointer = node.$ref.replace(/^#/, '');
      node = this.#at(pointer);
    }
    if (!isObject(node)) return undefined;
    const content: Record<string, string> = {};
    if (isObject(node.content)) for (const type of Object.keys(node.content)) content[type] = `${pointer}/content/${pointerPart(type)}/schema`;
    return { content, headers: isObject(node.headers) ? Object.keys(node.headers).map((h) => h.toLowerCase()) : [] };
  }

  /** Validates `body` against the schema at `pointer` (its `$ref`s resolved by ajv within the document). */
  validate(pointer: string, body: unknown): ErrorObject[] {
    let validate = this.#validators.get(pointer);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `${this.name}#${pointer}` });
      this.#validators.set(pointer, validate);
    }
    return validate(body) ? [] : [...(validate.errors ?? [])];
  }
}

function formatErrors(errors: ErrorObject[]): string[] {
  return errors.map((e) => `${e.instancePath || '(body)'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)} [schema ${e.schemaPath}]`);
}

// ------------------------------------------------------------------------------------------------
// HTTPS

interface Exchange {
  method: string;
  url: string;
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function httpsRequest(ca: Buffer, method: string, url: string, options: { token?: string; body?: unknown; accept?: string } = {}): Promise<Exchange> {
  const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        ca,
        headers: {
          accept: options.accept ?? 'application/vnd.github+json',
          'user-agent': 'swarm-contract-test',
          'x-github-api-version': '2022-11-28',
          ...(options.token ? { authorization: `token ${options.token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ method, url, status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// ------------------------------------------------------------------------------------------------
// Checking an exchange

interface Checked {
  label: string;
  description: string;
  operationId: string;
  status: number;
}

const INTEGER_HEADER = /^\d+$/;

/** The problems of one exchange against one description; `checked` learns what was validated. */
function contractProblems(description: Description, ex: Exchange, apiUrl: string, checked: Checked[] | undefined, optional: boolean): string[] {
  const url = new URL(ex.url);
  const apiPath = url.pathname.replace(/^\/api\/v3/, '') || '/';
  const label = `${ex.method} ${apiPath}${url.search} → ${ex.status}`;
  const problems: string[] = [];
  const where = `${description.name}: ${label}`;
  const op = description.operation(ex.method, apiPath);
  if (!op) return optional ? [] : [`${where}: no operation for this method and path`];
  const response = description.response(op, ex.status);
  if (!response) return optional ? [] : [`${where}: ${op.operationId} (${op.template}) has no response ${ex.status}`];
  const contentType = (ex.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const jsonSchema = response.content['application/json'];
  if (jsonSchema) {
    if (contentType !== 'application/json') problems.push(`${where}: content-type ${JSON.stringify(ex.headers['content-type'])}, the description says application/json`);
    let body: unknown;
    try {
      body = JSON.parse(ex.body.toString('utf8'));
    } catch {
      problems.push(`${where}: the body is not JSON: ${ex.body.toString('utf8').slice(0, 200)}`);
    }
    if (body !== undefined) for (const line of formatErrors(description.validate(jsonSchema, body))) problems.push(`${where}: ${op.operationId}: ${line}`);
  } else if (Object.keys(response.content).length === 0 && ex.body.length > 0 && ex.status !== 303) {
    // 303 (an existing deployment branch policy) carries the policy although the description gives no body.
    problems.push(`${where}: the description gives no body, the emulator sent ${ex.body.length} bytes`);
  }
  for (const header of response.headers) {
    const value = ex.headers[header];
    if (header === 'link') continue; // only when there is more than one page: checked by the Link test
    if (value === undefined || value === '') problems.push(`${where}: header ${header} is missing (the description declares it)`);
    else if (header === 'location' && !isUri(value)) problems.push(`${where}: Location ${JSON.stringify(value)} is not an absolute URL`);
  }
  if (ex.headers.link !== undefined) problems.push(...linkProblems(where, ex.headers.link, apiUrl));
  checked?.push({ label, description: description.name, operationId: op.operationId, status: ex.status });
  return problems;
}

/** X-GitHub-Request-Id and the X-RateLimit-* family, on every API answer (GitHub's REST docs). */
function headerProblems(ex: Exchange): string[] {
  const where = `${ex.method} ${new URL(ex.url).pathname} → ${ex.status}`;
  const problems: string[] = [];
  if (!/^[0-9A-F]+(:[0-9A-F]+){4}$/.test(ex.headers['x-github-request-id'] ?? '')) problems.push(`${where}: X-GitHub-Request-Id ${JSON.stringify(ex.headers['x-github-request-id'])}`);
  for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-used', 'x-ratelimit-reset']) {
    if (!INTEGER_HEADER.test(ex.headers[name] ?? '')) problems.push(`${where}: ${name} ${JSON.stringify(ex.headers[name])} is not an integer`);
  }
  const limit = Number(ex.headers['x-ratelimit-limit']);
  const remaining = Number(ex.headers['x-ratelimit-remaining']);
  const used = Number(ex.headers['x-ratelimit-used']);
  if (remaining + used !== limit) problems.push(`${where}: X-RateLimit remaining ${remaining} + used ${used} ≠ limit ${limit}`);
  const reset = Number(ex.headers['x-ratelimit-reset']);
  if (!(reset * 1000 > Date.now() - 60_000 && reset * 1000 < Date.now() + 3_700_000)) problems.push(`${where}: X-RateLimit-Reset ${reset} is not a Unix time within the hour`);
  if (!['core', 'graphql', 'search', 'code_search', 'integration_manifest', 'code_scanning_upload', 'actions_runner_registration', 'scim', 'dependency_snapshots'].includes(ex.headers['x-ratelimit-resource'] ?? '')) {
    problems.push(`${where}: X-RateLimit-Resource ${JSON.stringify(ex.headers['x-ratelimit-resource'])}`);
  }
  if (Number.isNaN(Date.parse(ex.headers.date ?? ''))) problems.push(`${where}: Date ${JSON.stringify(ex.headers.date)}`);
  return problems;
}

/** RFC 8288 as GitHub writes it: `<absolute URL>; rel="next"`, comma-separated, URLs under the API. */
function linkProblems(where: string, link: string, apiUrl: string): string[] {
  const problems: string[] = [];
  const parts = link.split(/,\s*/);
  const rels = new Set<string>();
  for (const part of parts) {
    const match = /^<([^>]+)>; rel="(next|last|first|prev)"$/.exec(part);
    if (!match) {
      problems.push(`${where}: Link part ${JSON.stringify(part)} is not <url>; rel="next|last|first|prev"`);
      continue;
    }
    rels.add(match[2] as string);
    const target = match[1] as string;
    if (!target.startsWith(`${apiUrl}/`)) problems.push(`${where}: Link ${target} is not under ${apiUrl}`);
    if (!/[?&]page=\d+/.test(target)) problems.push(`${where}: Link ${target} has no page=`);
  }
  if (rels.has('next') !== rels.has('last')) problems.push(`${where}: Link has next without last or last without next`);
  if (rels.has('prev') !== rels.has('first')) problems.push(`${where}: Link has prev without first or first without prev`);
  return problems;
}

// ------------------------------------------------------------------------------------------------
// A runner that completes runs (uploading one artifact) or holds them until cancelled

class ContractRunner implements Runner {
  readonly jobTokens = new Map<number, string>();
  #host: RunnerHost | undefined;
  #pending = new Set<Promise<void>>();

  start(run: EmulatedRun, host: RunnerHost): void {
    this.#host = host;
    host.setStatus(run.id, 'in_progress');
    this.jobTokens.set(run.id, host.jobToken(run));
    if (run.inputs.hold === 'yes') return;
    const done = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      host.addArtifact(run.id, `swarm-${run.inputs.request_id ?? 'x'}`, writeZip([{ name: 'result.json', data: '{"ok":true}\n' }]));
      host.appendLog(run.id, 'uploaded');
      host.setStatus(run.id, 'completed', 'success');
    });
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
  }

  cancel(runId: number): void {
    this.#host?.setStatus(runId, 'completed', 'cancelled');
  }

  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}

// ------------------------------------------------------------------------------------------------

function latestGhes(): string {
  const files = fs.readdirSync(OPENAPI_DIR).filter((f) => /^ghes-\d+\.\d+\.json$/.test(f));
  const version = (f: string) => (/^ghes-(\d+)\.(\d+)/.exec(f) ?? []).slice(1).map(Number) as [number, number];
  files.sort((a, b) => version(a)[0] - version(b)[0] || version(a)[1] - version(b)[1]);
  const last = files.at(-1);
  if (!last) throw new Error(`no GHES description in ${OPENAPI_DIR}`);
  return path.join(OPENAPI_DIR, last);
}

describe('the loopback GitHub against GitHub\'s OpenAPI description (@octokit/openapi)', () => {
  let dotcom: Description;
  let ghes: Description;
  let em: GithubEmulator;
  let ca: Buffer;
  const runner = new ContractRunner();
  const exchanges: Exchange[] = [];

  const call = async (method: string, apiPath: string, options: { body?: unknown; accept?: string; token?: string } = {}): Promise<Exchange> => {
    const ex = await httpsRequest(ca, method, `${em.apiUrl}${apiPath}`, { token: options.token ?? em.token, body: options.body, accept: options.accept });
    exchanges.push(ex);
    return ex;
  };
  const json = <T = JsonObject>(ex: Exchange): T => JSON.parse(ex.body.toString('utf8')) as T;
  const expectStatus = (ex: Exchange, status: number) => {
    if (ex.status !== status) throw new Error(`${ex.method} ${ex.url}: ${ex.status}, expected ${status}: ${ex.body.toString('utf8').slice(0, 300)}`);
  };

  beforeAll(async () => {
    dotcom = new Description(path.join(OPENAPI_DIR, 'api.github.com.json'));
    ghes = new Description(latestGhes());
    em = await startEmulator({ runner });
    ca = fs.readFileSync(em.caFile);
  });

  afterAll(async () => {
    await runner.idle();
    await em?.close();
  });

  it('answers every endpoint swarm uses as the description says (bodies, status codes, headers)', async () => {
    const info = em.createRepo(REPO, { files: { 'README.md': '# contract\n', [`.github/workflows/${WORKFLOW_FILE}`]: WORKFLOW } });
    const r = `/repos/${REPO}`;

    // Repository, user, meta
    expectStatus(await call('GET', r), 200);
    expectStatus(await call('GET', '/user'), 200);
    expectStatus(await call('GET', '/meta'), 200);

    // Contents: read the workflow (setup, doctor), write a file (create, then update)
    expectStatus(await call('GET', `${r}/contents/.github/workflows/${WORKFLOW_FILE}?ref=main`), 200);
    expectStatus(await call('GET', `${r}/contents/.github/workflows/absent.yml?ref=main`), 404);
    const created = await call('PUT', `${r}/contents/notes/contract.txt`, { body: { message: 'add', content: Buffer.from('one\n').toString('base64'), branch: 'main' } });
    expectStatus(created, 201);
    const createdSha = json<{ content: { sha: string } }>(created).content.sha;
    const updated = await call('PUT', `${r}/contents/notes/contract.txt`, { body: { message: 'update', content: Buffer.from('two\n').toString('base64'), branch: 'main', sha: createdSha } });
    expectStatus(updated, 200);
    const head = json<{ commit: { sha: string } }>(updated).commit.sha;

    // Commits and refs: the pin tag (create, read), a branch moved forward, a missing tag
    expectStatus(await call('GET', `${r}/commits/main`), 200);
    const tag = `swarm-pin-${info.sha}`;
    const refCreated = await call('POST', `${r}/git/refs`, { body: { ref: `refs/tags/${tag}`, sha: info.sha } });
    expectStatus(refCreated, 201);
    expect(refCreated.headers.location).toBe(json(refCreated).url);
    expectStatus(await call('GET', `${r}/git/ref/tags/${tag}`), 200);
    expectStatus(await call('GET', `${r}/git/ref/tags/swarm-pin-absent`), 404);
    expectStatus(await call('POST', `${r}/git/refs`, { body: { ref: 'refs/heads/topic', sha: info.sha } }), 201);
    expectStatus(await call('PATCH', `${r}/git/refs/heads/topic`, { body: { sha: head, force: false } }), 200);

    // Blobs (the transport's fallback), JSON form
    const blob = await call('POST', `${r}/git/blobs`, { body: { content: Buffer.from('payload bytes').toString('base64'), encoding: 'base64' } });
    expectStatus(blob, 201);
    expect(blob.headers.location).toBe(json(blob).url);
    expectStatus(await call('GET', `${r}/git/blobs/${json<{ sha: string }>(blob).sha}`), 200);

    // Environment and its deployment policies
    expectStatus(await call('PUT', `${r}/environments/swarm`, { body: { deployment_branch_policy: { protected_branches: false, custom_branch_policies: true } } }), 200);
    expectStatus(await call('GET', `${r}/environments/swarm`), 200);
    expectStatus(await call('GET', `${r}/environments/swarm/deployment-branch-policies`), 200);
    expectStatus(await call('POST', `${r}/environments/swarm/deployment-branch-policies`, { body: { name: 'swarm-pin-*', type: 'tag' } }), 200);
    const other = await call('POST', `${r}/environments/swarm/deployment-branch-policies`, { body: { name: 'main', type: 'branch' } });
    expectStatus(other, 200);
    expectStatus(await call('GET', `${r}/environments/swarm/deployment-branch-policies`), 200);
    expectStatus(await call('DELETE', `${r}/environments/swarm/deployment-branch-policies/${json<{ id: number }>(other).id}`), 204);

    // Rulesets (pin-tag protection)
    expectStatus(await call('GET', `${r}/rulesets`), 200);
    const ruleset = {
      name: 'swarm pin tags',
      target: 'tag',
      enforcement: 'active',
      bypass_actors: [{ actor_id: 5, actor_type: 'RepositoryRole', bypass_mode: 'always' }],
      conditions: { ref_name: { include: ['refs/tags/swarm-pin-*'], exclude: [] } },
      rules: [{ type: 'creation' }, { type: 'update' }, { type: 'deletion' }],
    };
    expectStatus(await call('POST', `${r}/rulesets`, { body: ruleset }), 201);
    expectStatus(await call('GET', `${r}/rulesets`), 200);

    // Secrets: what `gh secret set` does (public key, sealed PUT), and doctor's metadata GET
    for (const prefix of [`${r}/actions/secrets`, `${r}/environments/swarm/secrets`]) {
      const keyEx = await call('GET', `${prefix}/public-key`);
      expectStatus(keyEx, 200);
      const key = json<{ key_id: string; key: string }>(keyEx);
      const put = (value: string) => call('PUT', `${prefix}/SWARM_CONTRACT`, { body: { encrypted_value: seal(value, Buffer.from(key.key, 'base64')).toString('base64'), key_id: key.key_id } });
      expectStatus(await put('first value'), 201);
      expectStatus(await put('second value'), 204);
      expectStatus(await call('GET', `${prefix}/SWARM_CONTRACT`), 200);
    }

    // Workflows and dispatches (with and without return_run_details)
    expectStatus(await call('GET', `${r}/actions/workflows`), 200);
    const workflow = await call('GET', `${r}/actions/workflows/${WORKFLOW_FILE}`);
    expectStatus(workflow, 200);
    expectStatus(await call('GET', `${r}/actions/workflows/${json<{ id: number }>(workflow).id}`), 200);
    const since = new Date(Date.now() - 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const detailed = await call('POST', `${r}/actions/workflows/${WORKFLOW_FILE}/dispatches`, { body: { ref: tag, inputs: { request_id: 'req-1' }, return_run_details: true } });
    expectStatus(detailed, 200);
    const runId = json<{ workflow_run_id: number }>(detailed).workflow_run_id;
    expectStatus(await call('POST', `${r}/actions/workflows/${WORKFLOW_FILE}/dispatches`, { body: { ref: tag, inputs: { request_id: 'req-2' } } }), 204);
    const held = await call('POST', `${r}/actions/workflows/${WORKFLOW_FILE}/dispatches`, { body: { ref: 'main', inputs: { request_id: 'req-3', hold: 'yes' }, return_run_details: true } });
    expectStatus(held, 200);
    const heldId = json<{ workflow_run_id: number }>(held).workflow_run_id;
    await runner.idle();

    // Runs: lists with swarm's filters (the worker's with its job token), one page of one (Link), by id, jobs
    const filters = `event=workflow_dispatch&branch=${tag}&created=${encodeURIComponent(`>=${since}`)}&per_page=100`;
    const byWorkflow = await call('GET', `${r}/actions/workflows/${WORKFLOW_FILE}/runs?${filters}`);
    expectStatus(byWorkflow, 200);
    expect(json<{ total_count: number }>(byWorkflow).total_count).toBe(2);
    expectStatus(await call('GET', `${r}/actions/runs?${filters}`, { token: runner.jobTokens.get(runId) }), 200);
    expectStatus(await call('GET', `${r}/actions/runs?status=completed`), 200);
    const firstPage = await call('GET', `${r}/actions/workflows/${WORKFLOW_FILE}/runs?per_page=1`);
    expectStatus(firstPage, 200);
    const next = /<([^>]+)>; rel="next"/.exec(firstPage.headers.link ?? '')?.[1];
    expect(next, 'a Link with rel="next" on a list longer than a page').toBeDefined();
    const secondPage = await httpsRequest(ca, 'GET', next as string, { token: em.token });
    exchanges.push(secondPage);
    expectStatus(secondPage, 200);
    expect(secondPage.headers.link).toMatch(/rel="prev"/);
    const ids = (ex: Exchange) => json<{ workflow_runs: Array<{ id: number }> }>(ex).workflow_runs.map((x) => x.id);
    expect(ids(firstPage)).toHaveLength(1);
    expect(ids(secondPage)).toHaveLength(1);
    expect(ids(secondPage)[0]).not.toBe(ids(firstPage)[0]);
    expect(byWorkflow.headers.link, 'no Link when everything fits one page').toBeUndefined();
    expectStatus(await call('GET', `${r}/actions/runs/${runId}`), 200);
    expectStatus(await call('GET', `${r}/actions/runs/${heldId}`), 200);
    expectStatus(await call('GET', `${r}/actions/runs/${runId}/jobs`), 200);
    expectStatus(await call('GET', `${r}/actions/runs/${heldId}/jobs`), 200);

    // Cancel: accepted while running, refused once completed
    expectStatus(await call('POST', `${r}/actions/runs/${heldId}/cancel`), 202);
    expectStatus(await call('POST', `${r}/actions/runs/${runId}/cancel`), 409);
    expectStatus(await call('GET', `${r}/actions/runs/${heldId}`), 200);

    // Artifacts: list (by name), get, zip (302 to storage)
    const artifacts = await call('GET', `${r}/actions/runs/${runId}/artifacts?name=swarm-req-1&per_page=100`);
    expectStatus(artifacts, 200);
    const artifactId = json<{ artifacts: Array<{ id: number }> }>(artifacts).artifacts[0]?.id;
    expect(artifactId).toBeTypeOf('number');
    expectStatus(await call('GET', `${r}/actions/artifacts/${artifactId}`), 200);
    const zip = await call('GET', `${r}/actions/artifacts/${artifactId}/zip`);
    expectStatus(zip, 302);
    const stored = await httpsRequest(ca, 'GET', zip.headers.location as string, { accept: '*/*' });
    expect(stored.status).toBe(200);
    expect(stored.body.equals(em.artifacts(runId)[0]?.bytes ?? Buffer.alloc(0))).toBe(true);

    // Every exchange against both descriptions, and the common headers
    const problems: string[] = [];
    const checked: Checked[] = [];
    for (const ex of exchanges) {
      problems.push(...contractProblems(dotcom, ex, em.apiUrl, checked, false));
      problems.push(...contractProblems(ghes, ex, em.apiUrl, checked, true));
      problems.push(...headerProblems(ex));
    }
    expect(problems).toEqual([]);

    // What was validated, per operation and status: all against api.github.com; against GHES all
    // but the dispatch's 200 (return_run_details is newer than the newest GHES description shipped)
    const covered = new Set(checked.filter((c) => c.description === dotcom.name).map((c) => `${c.operationId} ${c.status}`));
    const coveredGhes = new Set(checked.filter((c) => c.description === ghes.name).map((c) => `${c.operationId} ${c.status}`));
    expect([...covered].filter((c) => !coveredGhes.has(c))).toEqual(['actions/create-workflow-dispatch 200']);
    expect([...covered].sort()).toEqual(
      [
        'actions/cancel-workflow-run 202',
        'actions/cancel-workflow-run 409',
        'actions/create-or-update-environment-secret 201',
        'actions/create-or-update-environment-secret 204',
        'actions/create-or-update-repo-secret 201',
        'actions/create-or-update-repo-secret 204',
        'actions/create-workflow-dispatch 200',
        'actions/create-workflow-dispatch 204',
        'actions/download-artifact 302',
        'actions/get-artifact 200',
        'actions/get-environment-public-key 200',
        'actions/get-environment-secret 200',
        'actions/get-repo-public-key 200',
        'actions/get-repo-secret 200',
        'actions/get-workflow 200',
        'actions/get-workflow-run 200',
        'actions/list-jobs-for-workflow-run 200',
        'actions/list-repo-workflows 200',
        'actions/list-workflow-run-artifacts 200',
        'actions/list-workflow-runs 200',
        'actions/list-workflow-runs-for-repo 200',
        'git/create-blob 201',
        'git/create-ref 201',
        'git/get-blob 200',
        'git/get-ref 200',
        'git/get-ref 404',
        'git/update-ref 200',
        'meta/get 200',
        'repos/create-deployment-branch-policy 200',
        'repos/create-or-update-environment 200',
        'repos/create-or-update-file-contents 200',
        'repos/create-or-update-file-contents 201',
        'repos/create-repo-ruleset 201',
        'repos/delete-deployment-branch-policy 204',
        'repos/get 200',
        'repos/get-commit 200',
        'repos/get-content 200',
        'repos/get-content 404',
        'repos/get-environment 200',
        'repos/get-repo-rulesets 200',
        'repos/list-deployment-branch-policies 200',
        'users/get-authenticated 200',
      ].sort(),
    );
  }, 20_000);

  it('the checks can fail: a broken run, a wrong status, missing headers, a bad Link', async () => {
    const r = `/repos/${REPO}`;
    const run = exchanges.find((ex) => ex.method === 'GET' && /\/actions\/runs\/\d+$/.test(new URL(ex.url).pathname) && ex.status === 200);
    expect(run, 'the first test recorded a run').toBeDefined();
    const good = run as Exchange;
    expect(contractProblems(dotcom, good, em.apiUrl, undefined, false)).toEqual([]);

    // A required field missing, another of the wrong type, a date that is not one (formats are checked).
    const body = JSON.parse(good.body.toString('utf8')) as JsonObject;
    delete body.head_sha;
    body.run_number = 'seven';
    body.created_at = 'yesterday';
    const broken = contractProblems(dotcom, { ...good, body: Buffer.from(JSON.stringify(body)) }, em.apiUrl, undefined, false);
    expect(broken.some((p) => p.includes("must have required property 'head_sha'"))).toBe(true);
    expect(broken.some((p) => p.includes('/run_number must be integer'))).toBe(true);
    expect(broken.some((p) => p.includes('/created_at must match format "date-time"'))).toBe(true);
    expect(broken.every((p) => p.startsWith(`api.github.com: GET /repos/${REPO}/actions/runs/`))).toBe(true);

    // A nested $ref (the run's repository, minimal-repository) is followed too.
    const nested = JSON.parse(good.body.toString('utf8')) as JsonObject;
    (nested.repository as JsonObject).owner = null;
    expect(contractProblems(dotcom, { ...good, body: Buffer.from(JSON.stringify(nested)) }, em.apiUrl, undefined, false).join('\n')).toMatch(/\/repository\/owner must be object/);

    // A status the operation does not have, a path no operation has, a JSON body sent as HTML.
    expect(contractProblems(dotcom, { ...good, status: 201 }, em.apiUrl, undefined, false).join('\n')).toMatch(/actions\/get-workflow-run .* has no response 201/);
    expect(contractProblems(dotcom, { ...good, url: `${em.apiUrl}${r}/actions/nothing-here/1` }, em.apiUrl, undefined, false).join('\n')).toMatch(/no operation/);
    expect(contractProblems(dotcom, { ...good, headers: { ...good.headers, 'content-type': 'text/html' } }, em.apiUrl, undefined, false).join('\n')).toMatch(/content-type/);

    // A 201 git/refs without its Location, and a malformed Link.
    const refCreated = exchanges.find((ex) => ex.method === 'POST' && ex.url.endsWith('/git/refs')) as Exchange;
    const { location: _location, ...withoutLocation } = refCreated.headers;
    expect(contractProblems(dotcom, { ...refCreated, headers: withoutLocation }, em.apiUrl, undefined, false).join('\n')).toMatch(/header location is missing/);
    expect(linkProblems('x', `<${em.apiUrl}${r}/actions/runs?page=2>; rel="next"`, em.apiUrl).join('\n')).toMatch(/next without last/);
    expect(linkProblems('x', 'https://elsewhere.example/runs?page=2; rel=next', em.apiUrl)).not.toEqual([]);

    // The common headers.
    const { 'x-github-request-id': _id, 'x-ratelimit-remaining': _remaining, ...bare } = good.headers;
    const missing = headerProblems({ ...good, headers: bare }).join('\n');
    expect(missing).toMatch(/X-GitHub-Request-Id/);
    expect(missing).toMatch(/x-ratelimit-remaining/);
  });
});
