// End-to-end: runs the built `swarm` binary (build first: `npm run build`) in temporary directories
// with SWARM_HOME pointed into them, and checks exit codes, the --json envelope and stdout/stderr.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';
import { certificateV1, isolatedEnv, makeTempDir, patch, swarmCertificate } from '@swarm/test-utils';

const cliDir = fileURLToPath(new URL('../', import.meta.url));
const bin = path.join(cliDir, 'bin', 'swarm.js');
const version = JSON.parse(fs.readFileSync(path.join(cliDir, 'package.json'), 'utf8')).version as string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const temps: Array<{ cleanup(): void }> = [];
function tempDir(): string {
  const tmp = makeTempDir('swarm-e2e-');
  temps.push(tmp);
  return tmp.dir;
}
afterAll(() => temps.forEach((t) => t.cleanup()));

function swarm(args: string[], options: { dir?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const dir = options.dir ?? tempDir();
  const cwd = path.join(dir, 'work');
  fs.mkdirSync(cwd, { recursive: true });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: isolatedEnv(dir, options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** With --json: exactly one JSON object on stdout, on one line, valid against the output schema. */
function envelope(run: Run): { status: string; data?: unknown; error?: { code: string; category: string; details: unknown } } {
  const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines, `stdout: ${run.stdout}\nstderr: ${run.stderr}`).toHaveLength(1);
  const parsed = JSON.parse(lines[0]!);
  expect(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)).toBe(true);
  const report = validateDocument('output', parsed);
  expect(report.errors, JSON.stringify(parsed)).toEqual([]);
  expect(parsed.status).toBe(run.code === 0 ? 'ok' : 'error');
  return parsed;
}

function writeJson(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(cliDir, 'dist', 'main.js'))) throw new Error('the CLI is not built: run `npm run build` first');
});

describe('swarm --help and --version', () => {
  it('--help lists every registered command', async () => {
    const script = `const { createCli } = await import(${JSON.stringify(pathToFileURL(path.join(cliDir, 'dist', 'main.js')).href)});
      process.stdout.write(JSON.stringify(createCli().definitions().map((d) => d.path)));`;
    const paths = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
    expect(paths.length).toBeGreaterThanOrEqual(5);
    const run = await swarm(['--help']);
    expect(run.code).toBe(0);
    for (const commandPath of paths) expect(run.stdout, commandPath).toContain(commandPath);
  });

  it('--version prints the version in packages/cli/package.json', async () => {
    const run = await swarm(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });
});

describe('swarm schema validate', () => {
  it('exits 0 on a valid document and 2 on an invalid one, naming every bad field', async () => {
    const dir = tempDir();
    const good = writeJson(dir, 'good.json', certificateV1());
    const bad = writeJson(dir, 'bad.json', patch(swarmCertificate(), { '/mode': 'x', '/job_id': undefined, '/replay/nonce': '' }));
    const ok = await swarm(['schema', 'validate', '--schema', 'certificate', '--file', good], { dir });
    expect(ok.code).toBe(0);
    const failed = await swarm(['schema', 'validate', '--schema', 'certificate', '--file', bad], { dir });
    expect(failed.code).toBe(2);
    expect(failed.stdout).toBe('');
    const json = envelope(await swarm(['schema', 'validate', '--schema', 'certificate', '--file', bad, '--json'], { dir }));
    const paths = (json.error as { details: { errors: Array<{ path: string }> } }).details.errors.map((e) => e.path);
    expect(paths.sort()).toEqual(['/job_id', '/mode', '/replay/nonce']);
  });
});

describe.concurrent('--json output of every command validates against the output schema', () => {
  const cases: Array<{ label: string; args: (dir: string) => string[]; exit: number[]; code?: string }> = [
    { label: 'init', args: () => ['init'], exit: [0] },
    { label: 'doctor', args: () => ['doctor'], exit: [0, 4] },
    { label: 'config show', args: () => ['config', 'show'], exit: [0] },
    { label: 'config set', args: () => ['config', 'set', 'backend', 'github'], exit: [0] },
    { label: 'config set with a profile', args: () => ['config', 'set', 'run.timeout_s', '30', '--profile', 'ci'], exit: [0] },
    { label: 'config set, unknown key', args: () => ['config', 'set', 'colour', 'blue'], exit: [2], code: 'CONFIG_KEY_UNKNOWN' },
    { label: 'config set, invalid value', args: () => ['config', 'set', 'backend', 'mainframe'], exit: [2], code: 'CONFIG_VALUE_INVALID' },
    { label: 'config show, unknown profile', args: () => ['config', 'show', '--profile', 'nope'], exit: [2], code: 'PROFILE_UNKNOWN' },
    {
      label: 'schema validate, valid',
      args: (dir) => ['schema', 'validate', '--schema', 'certificate', '--file', writeJson(dir, 'c.json', swarmCertificate())],
      exit: [0],
    },
    {
      label: 'schema validate, invalid',
      args: (dir) => ['schema', 'validate', '--schema', 'certificate', '--file', writeJson(dir, 'c.json', { type: 'x' })],
      exit: [2],
      code: 'SCHEMA_INVALID',
    },
    {
      label: 'schema validate, unknown schema',
      args: (dir) => ['schema', 'validate', '--schema', 'widget', '--file', writeJson(dir, 'c.json', {})],
      exit: [2],
      code: 'SCHEMA_UNKNOWN',
    },
    { label: 'schema validate, missing file', args: (dir) => ['schema', 'validate', '--schema', 'node', '--file', path.join(dir, 'absent.json')], exit: [2], code: 'FILE_NOT_FOUND' },
    {
      label: 'schema validate, not JSON',
      args: (dir) => {
        fs.writeFileSync(path.join(dir, 'broken.json'), '{"type": ');
        return ['schema', 'validate', '--schema', 'node', '--file', path.join(dir, 'broken.json')];
      },
      exit: [2],
      code: 'JSON_PARSE',
    },
    { label: 'an unknown command', args: () => ['frobnicate'], exit: [2], code: 'USAGE' },
    { label: 'a missing required option', args: () => ['schema', 'validate', '--schema', 'node'], exit: [2], code: 'USAGE' },
    { label: 'an unknown option', args: () => ['config', 'show', '--bogus'], exit: [2], code: 'USAGE' },
  ];

  it.each(cases)('$label', async ({ args, exit, code }) => {
    const dir = tempDir();
    const run = await swarm([...args(dir), '--json'], { dir });
    expect(exit, `exit ${run.code}; stderr: ${run.stderr}`).toContain(run.code);
    const json = envelope(run);
    if (code) expect(json.error?.code).toBe(code);
  });
});

describe('config file safety', () => {
  it('a malformed config file is exit 2 and is left byte-identical', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'swarm-home', 'config.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const original = Buffer.from('{ "version": 1, "profiles": { "default": { "backend": "local", } \n');
    fs.writeFileSync(file, original);
    for (const args of [['config', 'set', 'backend', 'github'], ['config', 'show'], ['config', 'set', 'backend', 'github', '--json']]) {
      const run = await swarm(args, { dir });
      expect(run.code, args.join(' ')).toBe(2);
      if (args.includes('--json')) expect(envelope(run).error?.code).toBe('CONFIG_INVALID');
      expect(fs.readFileSync(file)).toEqual(original);
    }
    expect(fs.readdirSync(path.dirname(file))).toEqual(['config.json']);
  });

  it('human errors go to stderr with their code, leaving stdout empty', async () => {
    const run = await swarm(['config', 'set', 'colour', 'blue']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('CONFIG_KEY_UNKNOWN');
  });
});

/** `script` gives the child a terminal, the only place swarm uses colour. */
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasScript)('colour', () => {
  function inTerminal(args: string[], env: Record<string, string> = {}): string {
    const dir = tempDir();
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const command = [process.execPath, bin, ...args].map(quote).join(' ');
    const run = spawnSync('script', ['-qec', command, '/dev/null'], { env: { ...isolatedEnv(dir), TERM: 'xterm', ...env }, encoding: 'utf8' });
    expect(run.status, run.stdout).toBe(2);
    return run.stdout;
  }
  const ESC = '\u001b';

  it('is used on a terminal by default (so the checks below can see it)', () => {
    expect(inTerminal(['config', 'set', 'colour', 'blue'])).toContain(ESC);
  });

  it('is off with NO_COLOR', () => {
    expect(inTerminal(['config', 'set', 'colour', 'blue'], { NO_COLOR: '1' })).not.toContain(ESC);
  });

  it('is off with --no-color', () => {
    expect(inTerminal(['config', 'set', 'colour', 'blue', '--no-color'])).not.toContain(ESC);
  });

  it('is never in --json output', () => {
    const out = inTerminal(['config', 'set', 'colour', 'blue', '--json']);
    expect(out).not.toContain(ESC);
  });
});
