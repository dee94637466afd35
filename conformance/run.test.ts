// The runner's own test: a fake swarm executable and cases that must pass or fail, so a runner that
// silently accepts everything (or rejects everything) is caught.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const runner = fileURLToPath(new URL('./run.mjs', import.meta.url));
let dir: string;

const FAKE_SWARM = `
import fs from 'node:fs';
const [command, ...rest] = process.argv.slice(2);
if (command === 'print') {
  process.stdout.write(rest[0]);
  process.exitCode = Number(rest[1] ?? 0);
} else if (command === 'env') {
  process.stdout.write(JSON.stringify({ env: process.env, cwd: process.cwd() }));
} else if (command === 'write') {
  fs.writeFileSync(rest[0], rest[1]);
} else if (command === 'copy') {
  fs.copyFileSync(rest[0], rest[1]);
} else {
  process.exitCode = 9;
}
`;

const ERROR_OUTPUT = JSON.stringify({
  status: 'error',
  error: { code: 'SCHEMA_INVALID', details: { errors: [{ path: '/b', tags: ['x'] }, { path: '/a', tags: ['y', 'z'] }, { path: '/a' }] } },
  data: { n: 3, s: 'sha256:abc', list: [1, 2] },
});

function addCase(name: string, spec: unknown, files: Record<string, string> = {}): void {
  const caseDir = path.join(dir, 'cases', name);
  fs.mkdirSync(caseDir, { recursive: true });
  fs.writeFileSync(path.join(caseDir, 'case.json'), typeof spec === 'string' ? spec : JSON.stringify(spec));
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(caseDir, file), text);
}

function run(...args: string[]): { status: number | null; lines: string[] } {
  const result = spawnSync(process.execPath, [runner, '--cases', path.join(dir, 'cases'), ...args], {
    env: { PATH: process.env.PATH, SWARM_BIN: JSON.stringify([process.execPath, path.join(dir, 'fake-swarm.mjs')]), SOURCE_DATE_EPOCH: '1', SWARM_LEAK: 'x' },
    encoding: 'utf8',
  });
  return { status: result.status, lines: result.stdout.trimEnd().split('\n') };
}

const print = (text: string, exit: number) => ['print', text, String(exit)];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-conformance-test-'));
  fs.writeFileSync(path.join(dir, 'fake-swarm.mjs'), FAKE_SWARM);
  addCase('pass-equality-and-set', {
    description: 'd',
    args: print(ERROR_OUTPUT, 2),
    expect: {
      exit: 2,
      json: {
        status: 'error',
        'error.code': 'SCHEMA_INVALID',
        'error.details.errors[*].path': { $set: ['/a', '/b'] },
        'error.details.errors.0.path': '/b',
        'error.details.errors[*].tags[*]': ['x', 'y', 'z'],
        data: { s: 'sha256:abc', list: [1, 2], n: 3 },
      },
    },
  });
  addCase('pass-operators', {
    description: 'd',
    args: print(ERROR_OUTPUT, 0),
    expect: {
      exit: 0,
      json: {
        'error.details.errors[*].path': { $includes: ['/a'] },
        'error.hint': { $exists: false },
        'error.details': { $exists: true },
        'data.n': { $type: 'integer' },
        'data.list': { $length: 2 },
        'data.s': { $match: '^sha256:[a-f0-9]+$' },
        '': { $type: 'object' },
      },
    },
  });
  addCase('pass-environment', {
    description: 'd',
    args: ['env'],
    env: { EXTRA: 'here {tmp}', NO_COLOR: null },
    expect: {
      exit: 0,
      json: {
        'env.HOME': { $match: '/home$' },
        'env.SWARM_HOME': { $match: '/swarm-home$' },
        'env.EXTRA': { $match: '^here /' },
        'env.NO_COLOR': { $exists: false },
        'env.SOURCE_DATE_EPOCH': { $exists: false },
        'env.SWARM_LEAK': { $exists: false },
        'env.PATH': { $exists: true },
      },
    },
  });
  addCase(
    'pass-files-and-before',
    {
      description: 'd',
      files: { '{tmp}/in/a.txt': '{case}/a.txt', '{tmp}/in/b.txt': { text: 'bee' } },
      before: [{ args: ['copy', '{tmp}/in/a.txt', '{tmp}/copied.txt'] }],
      args: ['write', '{tmp}/written.txt', 'bee'],
      expect: {
        exit: 0,
        files: {
          '{tmp}/copied.txt': { same_as: '{case}/a.txt' },
          '{tmp}/written.txt': { same_as: '{tmp}/in/b.txt' },
          '{tmp}/absent.txt': { exists: false },
        },
      },
    },
    { 'a.txt': 'ay' },
  );
  addCase('fail-set-has-extra', { description: 'd', args: print(ERROR_OUTPUT, 2), expect: { exit: 2, json: { 'error.details.errors[*].path': { $set: ['/a'] } } } });
  addCase('fail-set-lacks-one', { description: 'd', args: print(ERROR_OUTPUT, 2), expect: { exit: 2, json: { 'error.details.errors[*].path': { $set: ['/a', '/b', '/c'] } } } });
  addCase('fail-exit-code', { description: 'd', args: print(ERROR_OUTPUT, 2), expect: { exit: 0 } });
  addCase('fail-field-value', { description: 'd', args: print(ERROR_OUTPUT, 2), expect: { exit: 2, json: { 'error.code': 'USAGE' } } });
  addCase('fail-missing-path', { description: 'd', args: print(ERROR_OUTPUT, 2), expect: { exit: 2, json: { 'error.category': 'input' } } });
  addCase('fail-not-json', { description: 'd', args: print('{"a":1}\n{"b":2}', 0), expect: { exit: 0, json: { a: 1 } } });
  addCase('fail-before-step', { description: 'd', before: [{ args: ['nonsense'] }], args: print('{}', 0), expect: { exit: 0 } });
  addCase('fail-file-differs', {
    description: 'd',
    args: ['write', '{tmp}/w.txt', 'one'],
    files: { '{tmp}/other.txt': { text: 'two' } },
    expect: { exit: 0, files: { '{tmp}/w.txt': { same_as: '{tmp}/other.txt' } } },
  });
  addCase('fail-malformed-unknown-field', { description: 'd', args: [], expect: { exit: 0 }, extra: true });
  addCase('fail-malformed-unknown-operator', { description: 'd', args: print('{}', 0), expect: { exit: 0, json: { a: { $sett: [] } } } });
  addCase('fail-malformed-not-json', '{ "description": ');
  addCase('fail-malformed-escape', { description: 'd', args: print('{}', 0), files: { '../outside.txt': { text: 'x' } }, expect: { exit: 0 } });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('conformance runner', () => {
  it('passes the cases that hold, fails the ones that do not, and says so in its closing line', () => {
    const { status, lines } = run();
    const verdicts = Object.fromEntries(
      lines.filter((l) => /^(ok|FAIL) /.test(l)).map((l) => [l.replace(/^(ok|FAIL)\s+/, ''), l.startsWith('ok') ? 'ok' : 'FAIL']),
    );
    const names = fs.readdirSync(path.join(dir, 'cases')).sort();
    expect(Object.keys(verdicts).sort()).toEqual(names);
    for (const name of names) expect(verdicts[name], name).toBe(name.startsWith('pass-') ? 'ok' : 'FAIL');
    const passing = names.filter((n) => n.startsWith('pass-')).length;
    expect(lines.at(-1)).toBe(`conformance: ${passing} passed, ${names.length - passing} failed`);
    expect(status).toBe(1);
  });

  it('exits 0 when every selected case passes', () => {
    const { status, lines } = run('pass-');
    expect(lines.at(-1)).toBe('conformance: 4 passed, 0 failed');
    expect(status).toBe(0);
  });

  it('fails when no case matches the filter', () => {
    expect(run('no-such-case').status).toBe(1);
  });

  it('refuses to create files outside the case\'s temporary directory', () => {
    const outside = path.join(os.tmpdir(), 'outside.txt');
    const existed = fs.existsSync(outside);
    const { status, lines } = run('fail-malformed-escape');
    expect(status).toBe(1);
    expect(lines.at(-1)).toBe('conformance: 0 passed, 1 failed');
    if (!existed) expect(fs.existsSync(outside)).toBe(false);
  });
});
