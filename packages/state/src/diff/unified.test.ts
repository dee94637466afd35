import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compareTrees, treeFromDirectory } from './tree.js';
import { MAX_LINE_DIFF_LINES, diffChanges, quotePath, renderStat } from './unified.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-unified-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** git with no user or system configuration, so its defaults are the ones compared against. */
function git(args: string[], cwd = tmp) {
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', HOME: tmp, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Spec = Record<string, string | { text: string; mode?: number } | { link: string }>;

function write(dir: string, spec: Spec): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, value] of Object.entries(spec)) {
    const file = path.join(dir, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (typeof value === 'string') fs.writeFileSync(file, value);
    else if ('link' in value) fs.symlinkSync(value.link, file);
    else {
      fs.writeFileSync(file, value.text);
      fs.chmodSync(file, value.mode ?? 0o644);
    }
  }
}

/** swarm's patch between two directories. */
function patchOf(oldDir: string, newDir: string) {
  const files = diffChanges(compareTrees(treeFromDirectory(oldDir), treeFromDirectory(newDir)));
  return { files, patch: files.map((f) => f.text).join('') };
}

/** git's patch for one file pair, with its `old/` and `new/` directory prefixes taken out of the names. */
function gitPatch(oldName: string, newName: string, extra: string[] = []): string {
  const r = git(['diff', '--no-index', '--no-color', '--no-ext-diff', ...extra, oldName, newName]);
  expect(r.code).toBe(1);
  return r.stdout.replaceAll('a/old/', 'a/').replaceAll('b/old/', 'b/').replaceAll('a/new/', 'a/').replaceAll('b/new/', 'b/');
}

const numbered = (n: number, at = 1) => Array.from({ length: n }, (_, i) => `line ${i + at}\n`).join('');
/** Lines git never takes as function context. */
const indented = (n: number) => Array.from({ length: n }, (_, i) => ` ${i + 1}\n`).join('');

describe('unified diff, against git diff --no-index', () => {
  const pairs: Array<[string, string, string]> = [
    ['one change in the middle, with function context', numbered(20), numbered(20).replace('line 10\n', 'line ten\n')],
    ['changes seven lines apart make two hunks', numbered(30), numbered(30).replace('line 5\n', 'five\n').replace('line 13\n', 'thirteen\n')],
    ['changes six lines apart share a hunk', numbered(30), numbered(30).replace('line 5\n', 'five\n').replace('line 12\n', 'twelve\n')],
    ['changes at the first and last lines', numbered(12), `first\n${numbered(10, 2)}last\n`],
    ['a last line losing its newline', 'a\nb\nc\n', 'a\nb\nc'],
    ['a last line gaining its newline', 'a\nb\nc', 'a\nb\nc\n'],
    ['both sides without a final newline', 'x\ny', 'x\nz'],
    ['lines that cannot be function context', '  a\n\tb\n1c\n-d\ne\nf\ng\nh\n', '  a\n\tb\n1c\n-d\ne\nf\nG\nh\n'],
    ['a long function line is cut at 80 bytes', `${'f'.repeat(100)}   \n${indented(8)}`, `${'f'.repeat(100)}   \n${indented(8).replace(' 6\n', ' six\n')}`],
    ['function context with trailing blanks trimmed', `fn(x)   \n${indented(8)}`, `fn(x)   \n${indented(8).replace(' 6\n', ' six\n')}`],
    ['an empty file filled', '', 'a\nb\n'],
    ['lines added and removed in a block', numbered(10), `${numbered(3)}new a\nnew b\n${numbered(4, 7)}`],
  ];
  for (const [what, before, after] of pairs) {
    it(what, () => {
      write(path.join(tmp, 'old'), { f: before });
      write(path.join(tmp, 'new'), { f: after });
      expect(patchOf(path.join(tmp, 'old'), path.join(tmp, 'new')).patch).toBe(gitPatch('old/f', 'new/f'));
    });
  }

  it('new and deleted files, modes, binaries and quoted names', () => {
    write(path.join(tmp, 'old'), { gone: 'bye\n', 'x.sh': { text: 'echo\n', mode: 0o644 }, 'y.sh': { text: 'a\n', mode: 0o755 }, bin: 'a\0b', 'a b': '1\n', 'café': 'c\n' });
    write(path.join(tmp, 'new'), { added: 'hi\n', empty: '', 'x.sh': { text: 'echo\n', mode: 0o755 }, 'y.sh': { text: 'b\n', mode: 0o644 }, bin: 'a\0c', 'a b': '2\n', 'café': 'C\n' });
    const ours = patchOf(path.join(tmp, 'old'), path.join(tmp, 'new'));
    const byPath = new Map<string, string>();
    for (const f of ours.files) byPath.set(`${f.path}:${f.status}`, f.text);
    const devNull = process.platform === 'win32' ? 'nul' : '/dev/null';
    expect(byPath.get('gone:deleted')).toBe(gitPatch('old/gone', devNull).replaceAll('b/old/', 'b/'));
    expect(byPath.get('added:added')).toBe(gitPatch(devNull, 'new/added'));
    expect(byPath.get('empty:added')).toBe(gitPatch(devNull, 'new/empty'));
    expect(byPath.get('x.sh:mode')).toBe(gitPatch('old/x.sh', 'new/x.sh'));
    expect(byPath.get('y.sh:modified')).toBe(gitPatch('old/y.sh', 'new/y.sh'));
    expect(byPath.get('bin:modified')).toBe(gitPatch('old/bin', 'new/bin'));
    expect(byPath.get('a b:modified')).toBe(gitPatch('old/a b', 'new/a b'));
    expect(byPath.get('café:modified')).toBe(gitPatch('old/café', 'new/café'));
    expect(ours.files.map((f) => [f.path, f.status, f.binary])).toEqual([
      ['a b', 'modified', false],
      ['added', 'added', false],
      ['bin', 'modified', true],
      ['café', 'modified', false],
      ['empty', 'added', false],
      ['gone', 'deleted', false],
      ['x.sh', 'mode', false],
      ['y.sh', 'modified', false],
    ]);
  });

  it('counts the same additions and deletions as git --numstat on random files', () => {
    let s = 11;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const randomText = () => Array.from({ length: Math.floor(rand() * 30) }, () => `${'abcde'[Math.floor(rand() * 5)]}\n`).join('');
    for (let round = 0; round < 25; round++) {
      const dir = path.join(tmp, `r${round}`);
      write(path.join(dir, 'old'), { f: randomText() });
      write(path.join(dir, 'new'), { f: randomText() });
      const [file] = patchOf(path.join(dir, 'old'), path.join(dir, 'new')).files;
      const r = git(['diff', '--no-index', '--numstat', 'old/f', 'new/f'], dir);
      const [added, deleted] = r.stdout.trim() === '' ? ['0', '0'] : r.stdout.split('\t');
      expect([file?.additions ?? 0, file?.deletions ?? 0]).toEqual([Number(added), Number(deleted)]);
    }
  });

  it('reports a file past the line limit as binary, without a line diff', () => {
    const big = numbered(MAX_LINE_DIFF_LINES + 1);
    write(path.join(tmp, 'old'), { big, small: numbered(MAX_LINE_DIFF_LINES) });
    write(path.join(tmp, 'new'), { big: big.replace('line 7\n', 'seven\n'), small: numbered(MAX_LINE_DIFF_LINES).replace('line 7\n', 'seven\n') });
    const { files } = patchOf(path.join(tmp, 'old'), path.join(tmp, 'new'));
    expect(files.map((f) => [f.path, f.binary, f.additions, f.deletions])).toEqual([
      ['big', true, 0, 0],
      ['small', false, 1, 1],
    ]);
    expect(files[0]!.text).toContain('Binary files a/big and b/big differ\n');
  });
});

describe('git apply takes the patch', () => {
  it('turns the base tree into the node tree: edits, adds, deletes, modes, symlinks and type changes', () => {
    const base: Spec = {
      'src/main.c': `int main(void)\n{\n${numbered(40)}}\n`,
      'src/gone.txt': 'gone\n',
      'keep.sh': { text: '#!/bin/sh\n', mode: 0o644 },
      'link': { link: 'src/main.c' },
      'was-file': 'now a link\n',
      'was-link': { link: 'keep.sh' },
      'empty-gone': '',
      'no-eol': 'tail',
      'spaced name.txt': 'x\n',
    };
    const node: Spec = {
      'src/main.c': `int main(void)\n{\n${numbered(40).replace('line 3\n', 'line three\n').replace('line 30\n', '').replace('line 39\n', 'line 39\nextra\n')}}\n`,
      'keep.sh': { text: '#!/bin/sh\n', mode: 0o755 },
      'link': { link: 'keep.sh' },
      'was-file': { link: 'src/main.c' },
      'was-link': 'a file now\n',
      'deep/new/dir/file.txt': 'deep\n',
      'new-empty': '',
      'no-eol': 'tail\nmore',
      'spaced name.txt': 'y\n',
      'ünïcode.txt': 'u\n',
    };
    write(path.join(tmp, 'base'), base);
    write(path.join(tmp, 'node'), node);
    const { patch } = patchOf(path.join(tmp, 'base'), path.join(tmp, 'node'));
    const repo = path.join(tmp, 'repo');
    write(repo, base);
    expect(git(['init', '-q'], repo).code).toBe(0);
    fs.writeFileSync(path.join(tmp, 'p.patch'), patch);
    const applied = git(['apply', '--whitespace=nowarn', path.join(tmp, 'p.patch')], repo);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    fs.rmSync(path.join(repo, '.git'), { recursive: true });
    expect(compareTrees(treeFromDirectory(repo), treeFromDirectory(path.join(tmp, 'node')))).toEqual([]);
  });
});

describe('quotePath and renderStat', () => {
  it('quotes like git: control bytes, quotes, backslashes and non-ASCII bytes', () => {
    expect(quotePath('a/plain name.txt')).toBe('a/plain name.txt');
    expect(quotePath('a/tab\there')).toBe('"a/tab\\there"');
    expect(quotePath('a/"q"\\')).toBe('"a/\\"q\\"\\\\"');
    expect(quotePath('a/é')).toBe('"a/\\303\\251"');
  });

  it('prints git --stat lines and totals', () => {
    write(path.join(tmp, 'old'), { a: 'a\nb\n', gone: 'x\n', bin: 'a\0' });
    write(path.join(tmp, 'new'), { a: 'a\nB\nc\n', added: '1\n2\n3\n', bin: 'a\0bc' });
    const { files } = patchOf(path.join(tmp, 'old'), path.join(tmp, 'new'));
    const repo = path.join(tmp, 'repo');
    write(repo, { a: 'a\nb\n', gone: 'x\n', bin: 'a\0' });
    git(['init', '-q'], repo);
    git(['add', '-A'], repo);
    git(['commit', '-qm', 'base'], repo);
    fs.rmSync(path.join(repo, 'gone'));
    write(repo, { a: 'a\nB\nc\n', added: '1\n2\n3\n', bin: 'a\0bc' });
    git(['add', '-A'], repo);
    expect(renderStat(files)).toBe(git(['diff', '--cached', '--stat=80', '--no-color'], repo).stdout);
    expect(renderStat([])).toBe('');
  });
});
