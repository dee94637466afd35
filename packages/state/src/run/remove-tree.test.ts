import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeTree } from './remove-tree.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-rmtree-'));
});
afterEach(() => {
  execFileSync('rm', ['-rf', tmp]);
});

/** Nests `depth` directories by relative mkdir + chdir (as a step can), past PATH_MAX. */
function deepTree(root: string, depth: number): void {
  execFileSync('python3', ['-c', `import os\nos.chdir(${JSON.stringify(root)})\nfor i in range(${depth}):\n    os.mkdir('d123456789'); os.chdir('d123456789')\nopen('secret.txt','w').write('plaintext')\nos.chmod('.', 0o500)`]);
}

describe('removeTree', () => {
  it('removes a tree deeper than PATH_MAX, with read-only directories, that fs.rmSync cannot', () => {
    const root = path.join(tmp, 'workspace');
    fs.mkdirSync(root);
    deepTree(root, 500);
    fs.chmodSync(path.join(root, 'd123456789'), 0o500);
    // Positive control: the plain recursive remove gives up and leaves the tree.
    expect(() => fs.rmSync(root, { recursive: true, force: true })).toThrow();
    expect(fs.existsSync(root)).toBe(true);
    removeTree(root);
    expect(fs.existsSync(root)).toBe(false);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('removes files and missing paths like rm -f', () => {
    const file = path.join(tmp, 'f');
    fs.writeFileSync(file, 'x');
    removeTree(file);
    removeTree(path.join(tmp, 'missing'));
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
