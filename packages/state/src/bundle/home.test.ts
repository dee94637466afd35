/** The step's HOME in the bundle: carried beside the workspace, less what is never sealed; no granted secret sealed. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { COMMON_HOME_EXCLUSIONS, homeExclusion } from '../agents/home.js';
import { createStateDb } from '../state-db.js';
import { createSealedBundle, openSealedBundle } from './index.js';

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

function tree(files: Record<string, string | Buffer>): { root: string; workspace: string; home: string; db: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-home-'));
  roots.push(root);
  const workspace = path.join(root, 'workspace');
  const home = path.join(root, 'home');
  fs.mkdirSync(workspace);
  fs.mkdirSync(home);
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
  }
  const db = path.join(root, 'state.db');
  createStateDb(db);
  return { root, workspace, home, db };
}

async function sealAndOpen(t: ReturnType<typeof tree>, options: { secrets?: string[]; exclusions?: readonly string[]; chunkSize?: number } = {}) {
  const dataKey = randomBytes(32);
  const out = path.join(t.root, 'bundle.sealed');
  const sealed = await createSealedBundle({
    workspaceDir: t.workspace,
    homeDir: t.home,
    homeExclude: homeExclusion(options.exclusions ?? COMMON_HOME_EXCLUSIONS),
    secrets: options.secrets,
    stateDbPath: t.db,
    mtimeSec: 2_000_000_000,
    dataKey,
    outFile: out,
    chunkSize: options.chunkSize,
  });
  const dest = path.join(t.root, 'restored');
  const opened = await openSealedBundle({ file: out, dataKey, destDir: dest });
  return { sealed, opened };
}

function codeOf(error: unknown): string | undefined {
  return error instanceof SwarmError ? error.code : undefined;
}

describe('the home section of a bundle', () => {
  it('carries the home beside the workspace, with its file times', async () => {
    const t = tree({ 'workspace/a.txt': 'work', 'home/.claude/projects/-p/s1.jsonl': '{"a":1}\n', 'home/.gemini/settings.json': '{}' });
    const when = new Date(1_800_000_000 * 1000);
    fs.utimesSync(path.join(t.home, '.claude/projects/-p/s1.jsonl'), when, when);
    const { sealed, opened } = await sealAndOpen(t);
    expect(sealed.manifest.schema_version).toBe('swarm-bundle-manifest-v3');
    expect(sealed.manifest.entries.map((e) => e.path)).toContain('home/.claude/projects/-p/s1.jsonl');
    expect(fs.readFileSync(path.join(opened.homeDir, '.claude/projects/-p/s1.jsonl'), 'utf8')).toBe('{"a":1}\n');
    expect(fs.statSync(path.join(opened.homeDir, '.claude/projects/-p/s1.jsonl')).mtimeMs).toBe(when.getTime());
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'a.txt'), 'utf8')).toBe('work');
  });

  it('never seals the excluded credential files and directories, and says which it left out', async () => {
    const t = tree({
      'home/.ssh/id_ed25519': 'private key',
      'home/.npmrc': '//registry/:_authToken=abc',
      'home/.codex/auth.json': '{"token":"t"}',
      'home/.codex/shell_snapshots/1.sh': 'export KEY=v',
      'home/.codex/sessions/rollout.jsonl': '{}\n',
      'home/.sshconfig-not-excluded': 'x',
    });
    const { sealed, opened } = await sealAndOpen(t, { exclusions: [...COMMON_HOME_EXCLUSIONS, '.codex/auth.json', '.codex/shell_snapshots/'] });
    expect(sealed.excluded).toEqual(['home/.codex/auth.json', 'home/.codex/shell_snapshots', 'home/.npmrc', 'home/.ssh']);
    expect(fs.existsSync(path.join(opened.homeDir, '.ssh'))).toBe(false);
    expect(fs.existsSync(path.join(opened.homeDir, '.codex/auth.json'))).toBe(false);
    expect(fs.existsSync(path.join(opened.homeDir, '.codex/shell_snapshots'))).toBe(false);
    expect(fs.readFileSync(path.join(opened.homeDir, '.codex/sessions/rollout.jsonl'), 'utf8')).toBe('{}\n');
    expect(fs.existsSync(path.join(opened.homeDir, '.sshconfig-not-excluded'))).toBe(true);
  });

  it('seals everything when nothing is excluded (the control for the exclusions)', async () => {
    const t = tree({ 'home/.ssh/id_ed25519': 'private key' });
    const { opened } = await sealAndOpen(t, { exclusions: [] });
    expect(fs.readFileSync(path.join(opened.homeDir, '.ssh/id_ed25519'), 'utf8')).toBe('private key');
  });
});

describe('the secret scan before sealing', () => {
  const secret = 'sk-test-0123456789abcdef';

  it('seals a tree without the secret (control), and one with it when no secret is named', async () => {
    const leaky = tree({ 'workspace/notes.txt': `key=${secret}\n` });
    await expect(sealAndOpen(leaky)).resolves.toBeDefined();
    const clean = tree({ 'workspace/notes.txt': 'nothing here\n' });
    await expect(sealAndOpen(clean, { secrets: [secret] })).resolves.toBeDefined();
  });

  it('refuses a workspace file, a home file, a file name and a link target that hold it', async () => {
    const cases: Array<(t: ReturnType<typeof tree>) => void> = [
      (t) => fs.writeFileSync(path.join(t.workspace, 'notes.txt'), `key=${secret}\n`),
      (t) => fs.writeFileSync(path.join(t.home, 'history'), `export KEY=${secret}`),
      (t) => fs.writeFileSync(path.join(t.workspace, `dump-${secret}`), 'x'),
      (t) => fs.symlinkSync(`x${secret}`, path.join(t.workspace, 'link')),
    ];
    for (const plant of cases) {
      const t = tree({});
      plant(t);
      const error = await sealAndOpen(t, { secrets: [secret] }).catch((e: unknown) => e);
      expect(codeOf(error)).toBe('STATE_SNAPSHOT_HOLDS_SECRET');
      expect(String((error as Error).message)).not.toContain(secret);
      expect(fs.existsSync(path.join(t.root, 'bundle.sealed'))).toBe(false);
    }
  });

  it('finds the secret where it straddles a read block', async () => {
    const t = tree({});
    // The packer reads 1 MiB blocks: put the secret across the first boundary.
    const big = Buffer.alloc(1024 * 1024 + 64, 'a');
    big.write(secret, 1024 * 1024 - 5);
    fs.writeFileSync(path.join(t.workspace, 'big.bin'), big);
    expect(codeOf(await sealAndOpen(t, { secrets: [secret] }).catch((e: unknown) => e))).toBe('STATE_SNAPSHOT_HOLDS_SECRET');
  });
});
