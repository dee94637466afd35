#!/usr/bin/env node
// Runs every conformance case against a swarm executable and checks exit codes, JSON fields and
// files, as described in conformance/README.md. Plain Node, no dependencies: it drives only the CLI.
//
//   node conformance/run.mjs [--jobs N] [--cases DIR] [name-filter ...]
//   SWARM_BIN="/path/to/swarm" node conformance/run.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
let casesDir = path.join(here, 'cases');
const CASE_TIMEOUT_MS = 60_000;
const OUTPUT_EXCERPT = 1500;

/** Thrown for a case.json that does not follow the README (counted as a failure). */
class CaseError extends Error {}

function parseArgs(argv) {
  const options = { jobs: Math.max(1, os.availableParallelism?.() ?? os.cpus().length), filters: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--jobs' || arg === '-j') {
      options.jobs = Number(argv[++i]);
      if (!Number.isInteger(options.jobs) || options.jobs < 1) usage(`--jobs needs a positive integer`);
    } else if (arg === '--cases') {
      if (!argv[i + 1]) usage('--cases needs a directory');
      casesDir = path.resolve(argv[++i]);
    } else if (arg === '--help' || arg === '-h') {
      usage();
    } else if (arg.startsWith('-')) {
      usage(`unknown option ${arg}`);
    } else {
      options.filters.push(arg);
    }
  }
  return options;
}

function usage(problem) {
  const text = 'usage: node conformance/run.mjs [--jobs N] [--cases DIR] [name-filter ...]\n(SWARM_BIN selects the swarm executable)\n';
  if (problem) {
    process.stderr.write(`conformance: ${problem}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

/** The command that runs swarm: SWARM_BIN (a JSON array or a whitespace-separated line) or this repository's build. */
function swarmCommand() {
  const fromEnv = process.env.SWARM_BIN?.trim();
  if (fromEnv) {
    const parts = fromEnv.startsWith('[') ? JSON.parse(fromEnv) : fromEnv.split(/\s+/);
    if (!Array.isArray(parts) || parts.length === 0 || !parts.every((p) => typeof p === 'string' && p !== '')) {
      throw new Error('SWARM_BIN must be a command line or a JSON array of strings');
    }
    return parts;
  }
  const bin = path.resolve(here, '../packages/cli/bin/swarm.js');
  const built = path.resolve(here, '../packages/cli/dist/main.js');
  if (!fs.existsSync(built)) throw new Error('the CLI is not built; run `npm run build` first (or set SWARM_BIN)');
  return [process.execPath, bin];
}

function listCases(filters) {
  return fs
    .readdirSync(casesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(casesDir, entry.name, 'case.json')))
    .map((entry) => entry.name)
    .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
    .sort();
}

// ---------------------------------------------------------------------------------------------
// case.json

const CASE_KEYS = new Set(['description', 'args', 'env', 'cwd', 'files', 'before', 'expect']);
const EXPECT_KEYS = new Set(['exit', 'json', 'files']);

function loadCase(dir) {
  let spec;
  try {
    spec = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
  } catch (error) {
    throw new CaseError(`case.json is not valid JSON: ${error.message}`);
  }
  if (!isObject(spec)) throw new CaseError('case.json must be an object');
  for (const key of Object.keys(spec)) if (!CASE_KEYS.has(key)) throw new CaseError(`case.json has an unknown field "${key}"`);
  if (typeof spec.description !== 'string' || spec.description.trim() === '') throw new CaseError('case.json needs a description');
  checkArgs(spec.args, 'args');
  if (spec.env !== undefined) {
    if (!isObject(spec.env)) throw new CaseError('env must be an object');
    for (const [k, v] of Object.entries(spec.env)) {
      if (v !== null && typeof v !== 'string') throw new CaseError(`env.${k} must be a string or null`);
    }
  }
  if (spec.cwd !== undefined && typeof spec.cwd !== 'string') throw new CaseError('cwd must be a string');
  if (spec.files !== undefined) {
    if (!isObject(spec.files)) throw new CaseError('files must be an object');
    for (const [dest, source] of Object.entries(spec.files)) {
      const ok = typeof source === 'string' || (isObject(source) && Object.keys(source).length === 1 && typeof source.text === 'string');
      if (!ok) throw new CaseError(`files["${dest}"] must be a source path or { "text": "…" }`);
    }
  }
  if (spec.before !== undefined) {
    if (!Array.isArray(spec.before)) throw new CaseError('before must be a list');
    spec.before.forEach((step, i) => {
      if (!isObject(step)) throw new CaseError(`before[${i}] must be an object`);
      checkArgs(step.args, `before[${i}].args`);
      if (step.exit !== undefined && !Number.isInteger(step.exit)) throw new CaseError(`before[${i}].exit must be an integer`);
    });
  }
  const expect = spec.expect;
  if (!isObject(expect)) throw new CaseError('case.json needs an expect object');
  for (const key of Object.keys(expect)) if (!EXPECT_KEYS.has(key)) throw new CaseError(`expect has an unknown field "${key}"`);
  if (!Number.isInteger(expect.exit)) throw new CaseError('expect.exit must be an integer');
  if (expect.json !== undefined) {
    if (!isObject(expect.json)) throw new CaseError('expect.json must be an object of path → expectation');
    for (const [p, e] of Object.entries(expect.json)) {
      parsePath(p);
      checkExpectation(e, p);
    }
  }
  if (expect.files !== undefined) {
    if (!isObject(expect.files)) throw new CaseError('expect.files must be an object');
    for (const [p, e] of Object.entries(expect.files)) {
      const ok = isObject(e) && Object.keys(e).length === 1 && (typeof e.same_as === 'string' || typeof e.exists === 'boolean');
      if (!ok) throw new CaseError(`expect.files["${p}"] must be { "same_as": path } or { "exists": boolean }`);
    }
  }
  return spec;
}

function checkArgs(args, label) {
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new CaseError(`${label} must be a list of strings`);
}

// ---------------------------------------------------------------------------------------------
// placeholders, environment, files

function expand(text, vars) {
  return text.replace(/\{(case|tmp)\}/g, (_, name) => vars[name]);
}

function baseEnv(tmp) {
  const env = {};
  for (const key of ['PATH', 'SYSTEMROOT', 'TEMP', 'TMP']) if (process.env[key] !== undefined) env[key] = process.env[key];
  env.HOME = path.join(tmp, 'home');
  env.SWARM_HOME = path.join(tmp, 'swarm-home');
  env.NO_COLOR = '1';
  return env;
}

function caseEnv(spec, vars) {
  const env = baseEnv(vars.tmp);
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (value === null) delete env[key];
    else env[key] = expand(value, vars);
  }
  return env;
}

function insideDir(dir, target) {
  const rel = path.relative(dir, target);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function setUpFiles(spec, vars) {
  for (const [rawDest, source] of Object.entries(spec.files ?? {})) {
    const dest = path.resolve(vars.tmp, expand(rawDest, vars));
    if (!insideDir(vars.tmp, dest)) throw new CaseError(`files may only create files under {tmp}: ${rawDest}`);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    if (typeof source === 'string') fs.copyFileSync(path.resolve(vars.case, expand(source, vars)), dest);
    else fs.writeFileSync(dest, source.text);
  }
}

// ---------------------------------------------------------------------------------------------
// running

function runSwarm(command, args, { env, cwd }) {
  return new Promise((resolve) => {
    const child = spawn(command[0], [...command.slice(1), ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = [];
    const stderr = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, CASE_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ exit: null, signal: null, error: error.message, stdout: '', stderr: '', timedOut });
    });
    child.on('close', (exit, signal) => {
      clearTimeout(timer);
      resolve({
        exit,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
  });
}

function describeExit(run) {
  if (run.error) return `could not start (${run.error})`;
  if (run.timedOut) return `timed out after ${CASE_TIMEOUT_MS / 1000}s`;
  if (run.exit === null) return `killed by ${run.signal}`;
  return `exit ${run.exit}`;
}

async function runCase(name, command) {
  const dir = path.join(casesDir, name);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-conformance-'));
  const problems = [];
  let run;
  try {
    const spec = loadCase(dir);
    const vars = { case: dir, tmp };
    const env = caseEnv(spec, vars);
    const cwd = path.resolve(tmp, expand(spec.cwd ?? '{tmp}', vars));
    fs.mkdirSync(cwd, { recursive: true });
    setUpFiles(spec, vars);
    for (const [i, step] of (spec.before ?? []).entries()) {
      const before = await runSwarm(command, step.args.map((a) => expand(a, vars)), { env, cwd });
      const want = step.exit ?? 0;
      if (before.exit !== want) {
        problems.push(`before[${i}] (${step.args.join(' ')}): expected exit ${want}, got ${describeExit(before)}`);
        run = before;
        return { name, problems, run };
      }
    }
    run = await runSwarm(command, spec.args.map((a) => expand(a, vars)), { env, cwd });
    if (run.exit !== spec.expect.exit) problems.push(`expected exit ${spec.expect.exit}, got ${describeExit(run)}`);
    if (spec.expect.json !== undefined) problems.push(...checkJson(run.stdout, spec.expect.json));
    if (spec.expect.files !== undefined) problems.push(...checkFiles(spec.expect.files, vars));
  } catch (error) {
    if (error instanceof CaseError) problems.push(`malformed case: ${error.message}`);
    else problems.push(`runner error: ${error?.stack ?? error}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { name, problems, run };
}

function checkFiles(expectations, vars) {
  const problems = [];
  for (const [rawPath, expectation] of Object.entries(expectations)) {
    const file = path.resolve(vars.tmp, expand(rawPath, vars));
    if ('exists' in expectation) {
      if (fs.existsSync(file) !== expectation.exists) problems.push(`${rawPath}: expected ${expectation.exists ? 'to exist' : 'not to exist'}`);
      continue;
    }
    const other = path.resolve(vars.tmp, expand(expectation.same_as, vars));
    if (!fs.existsSync(file)) {
      problems.push(`${rawPath}: does not exist`);
      continue;
    }
    if (!fs.readFileSync(file).equals(fs.readFileSync(other))) problems.push(`${rawPath}: differs from ${expectation.same_as}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// JSON paths and expectations

/** `a.b[*].c.0` → [{key:'a'}, {key:'b'}, {each:true}, {key:'c'}, {key:'0'}] */
function parsePath(text) {
  if (text === '') return [];
  const tokens = [];
  for (const segment of text.split('.')) {
    const match = /^([^[\]]*)((?:\[\*\])*)$/.exec(segment);
    if (!match || (match[1] === '' && match[2] === '')) throw new CaseError(`bad JSON path "${text}"`);
    if (match[1] !== '') tokens.push({ key: match[1] });
    for (let i = 0; i < match[2].length / 3; i++) tokens.push({ each: true });
  }
  return tokens;
}

function select(root, tokens) {
  let collecting = false;
  let current = [root];
  for (const token of tokens) {
    const next = [];
    for (const value of current) {
      if (token.each) {
        if (Array.isArray(value)) next.push(...value);
        else if (!collecting) return { found: false };
        continue;
      }
      if (Array.isArray(value) && /^(0|[1-9]\d*)$/.test(token.key)) {
        const index = Number(token.key);
        if (index < value.length) next.push(value[index]);
        else if (!collecting) return { found: false };
      } else if (isObject(value) && Object.hasOwn(value, token.key)) {
        next.push(value[token.key]);
      } else if (!collecting) {
        return { found: false };
      }
    }
    if (token.each) collecting = true;
    current = next;
  }
  return collecting ? { found: true, value: current } : { found: true, value: current[0] };
}

const OPERATORS = ['$set', '$includes', '$exists', '$type', '$match', '$length'];
const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'array', 'object'];

function operatorOf(expectation) {
  if (!isObject(expectation)) return undefined;
  const keys = Object.keys(expectation);
  return keys.length === 1 && keys[0].startsWith('$') ? keys[0] : undefined;
}

function checkExpectation(expectation, p) {
  const op = operatorOf(expectation);
  if (op === undefined) return;
  const arg = expectation[op];
  const bad = (why) => {
    throw new CaseError(`expect.json["${p}"]: ${why}`);
  };
  if (!OPERATORS.includes(op)) bad(`unknown operator ${op}`);
  if ((op === '$set' || op === '$includes') && !Array.isArray(arg)) bad(`${op} needs a list`);
  if (op === '$exists' && typeof arg !== 'boolean') bad('$exists needs true or false');
  if (op === '$type' && !TYPES.includes(arg)) bad(`$type needs one of ${TYPES.join(', ')}`);
  if (op === '$match') {
    if (typeof arg !== 'string') bad('$match needs a string');
    try {
      new RegExp(arg);
    } catch {
      bad('$match is not a valid regular expression');
    }
  }
  if (op === '$length' && !(Number.isInteger(arg) && arg >= 0)) bad('$length needs a non-negative integer');
}

function matches(found, value, expectation) {
  const op = operatorOf(expectation);
  if (op === '$exists') return found === expectation.$exists ? null : found ? 'exists' : 'does not exist';
  if (!found) return 'does not exist';
  const arg = op === undefined ? undefined : expectation[op];
  switch (op) {
    case undefined:
      return deepEqual(value, expectation) ? null : `is ${show(value)}, expected ${show(expectation)}`;
    case '$set': {
      if (!Array.isArray(value)) return `is ${show(value)}, not a list`;
      const have = new Set(value.map(key));
      const want = new Set(arg.map(key));
      const missing = arg.filter((v) => !have.has(key(v)));
      const extra = value.filter((v) => !want.has(key(v)));
      if (missing.length === 0 && extra.length === 0) return null;
      const parts = [];
      if (missing.length > 0) parts.push(`missing ${show(dedupe(missing))}`);
      if (extra.length > 0) parts.push(`unexpected ${show(dedupe(extra))}`);
      return `set differs: ${parts.join(', ')} (got ${show(value)})`;
    }
    case '$includes': {
      if (!Array.isArray(value)) return `is ${show(value)}, not a list`;
      const have = new Set(value.map(key));
      const missing = arg.filter((v) => !have.has(key(v)));
      return missing.length === 0 ? null : `lacks ${show(missing)} (got ${show(value)})`;
    }
    case '$type':
      return typeOf(value) === arg || (arg === 'number' && typeOf(value) === 'integer') ? null : `has type ${typeOf(value)}, expected ${arg}`;
    case '$match':
      return typeof value === 'string' && new RegExp(arg).test(value) ? null : `is ${show(value)}, does not match /${arg}/`;
    case '$length':
      return (typeof value === 'string' || Array.isArray(value)) && value.length === arg ? null : `is ${show(value)}, expected length ${arg}`;
    default:
      return `unknown operator ${op}`;
  }
}

function checkJson(stdout, expectations) {
  let document;
  try {
    document = JSON.parse(stdout);
  } catch {
    return [`stdout is not exactly one JSON value: ${show(stdout.slice(0, 200))}`];
  }
  const problems = [];
  for (const [p, expectation] of Object.entries(expectations)) {
    const { found, value } = select(document, parsePath(p));
    const problem = matches(found, value, expectation);
    if (problem) problems.push(`${p === '' ? '(whole output)' : p}: ${problem}`);
  }
  return problems;
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** Canonical text of a JSON value (sorted keys), for equality and set membership. */
function key(value) {
  if (Array.isArray(value)) return `[${value.map(key).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${key(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function deepEqual(a, b) {
  return key(a) === key(b);
}

function dedupe(values) {
  const seen = new Set();
  return values.filter((v) => {
    const k = key(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value) {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function excerpt(label, text) {
  if (!text) return [];
  const body = text.length > OUTPUT_EXCERPT ? `${text.slice(0, OUTPUT_EXCERPT)}…` : text;
  return [`    ${label}:`, ...body.trimEnd().split('\n').map((line) => `      ${line}`)];
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let command;
  try {
    command = swarmCommand();
  } catch (error) {
    process.stderr.write(`conformance: ${error.message}\n`);
    process.stdout.write('conformance: 0 passed, 1 failed\n');
    return 1;
  }
  const names = listCases(options.filters);
  if (names.length === 0) {
    process.stderr.write('conformance: no cases match\n');
    process.stdout.write('conformance: 0 passed, 1 failed\n');
    return 1;
  }
  // Run in parallel, report in name order as soon as every earlier case has finished.
  const results = new Array(names.length);
  let nextToStart = 0;
  let nextToPrint = 0;
  let passed = 0;
  let failed = 0;
  const flush = () => {
    while (nextToPrint < names.length && results[nextToPrint]) {
      const { name, problems, run } = results[nextToPrint++];
      if (problems.length === 0) {
        passed++;
        process.stdout.write(`ok   ${name}\n`);
      } else {
        failed++;
        const lines = [`FAIL ${name}`, ...problems.map((p) => `    ${p}`), ...excerpt('stdout', run?.stdout), ...excerpt('stderr', run?.stderr)];
        process.stdout.write(`${lines.join('\n')}\n`);
      }
    }
  };
  const worker = async () => {
    while (nextToStart < names.length) {
      const index = nextToStart++;
      results[index] = await runCase(names[index], command);
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, names.length) }, worker));
  flush();
  process.stdout.write(`conformance: ${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
