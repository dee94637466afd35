/**
 * A store written before the chunk store (fixtures/store-tar-bundles: every node a sealed tar
 * bundle, made by the previous release with a fixed clock): its nodes still restore, export and
 * fork, a run from one of them writes a chunked node, and gc keeps the tar objects.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock, sha256Digest } from '@swarm/core';
import { Store } from '../store/store.js';
import { bundleNode, collectGarbage, exportNode, loadCertificateChain } from '../run/queries.js';
import { launchRun } from '../run/launch.js';

const FIXTURE = fileURLToPath(new URL('../../test/fixtures/store-tar-bundles/', import.meta.url));

let tmp: string;
let cwd: string;
let home: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-old-format-'));
  cwd = path.join(tmp, 'project');
  home = path.join(tmp, 'home');
  fs.mkdirSync(cwd);
  fs.cpSync(path.join(FIXTURE, 'swarm-store'), path.join(cwd, '.swarm'), { recursive: true });
  fs.cpSync(path.join(FIXTURE, 'home'), home, { recursive: true });
  fs.chmodSync(path.join(home, 'keys'), 0o700);
  for (const f of fs.readdirSync(path.join(home, 'keys'))) fs.chmodSync(path.join(home, 'keys', f), 0o600);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const env = () => ({ ...process.env, SWARM_HOME: home });
const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, rel), 'utf8');

describe('a store of tar-bundle nodes', () => {
  it('restores and exports them as they were sealed', async () => {
    const out = path.join(tmp, 'out');
    const exported = await exportNode({ cwd, home, env: env(), node: 'run:old2', out });
    expect(read(exported.workspace, 'a.txt')).toBe('hello\none\ntwo\n');
    expect(read(exported.workspace, 'deep/er/c.txt')).toBe('x\n');
    expect(fs.readlinkSync(path.join(exported.workspace, 'link'))).toBe('a.txt');
    // The bundle of a tar node is its object, byte for byte.
    const file = path.join(tmp, 'old2.swarm');
    const bundle = await bundleNode({ cwd, home, env: env(), node: 'run:old2', out: file });
    const store = Store.open(cwd, { home, create: false });
    try {
      expect(bundle.sha256).toBe(store.catalog.getNode('node-old2')!.bundle_sha256);
      expect(sha256Digest(fs.readFileSync(file))).toBe(bundle.sha256);
    } finally {
      store.close();
    }
  });

  it('resumes from them into chunked nodes, and gc keeps both kinds', async () => {
    const common = { cwd, home, env: env(), clock: fixedClock(1_800_000_000_000), unsandboxedEgress: true };
    const r1 = await launchRun({ ...common, node: 'run:old2', runId: 'new1', step: 'echo three >> a.txt' });
    expect(r1.restore_mode).toBe('checkpoint');
    expect(r1.storage.restored_from).toBe('bundle');
    expect(r1.storage.format).toBe('chunks');
    // From a tar node nothing is known of the files: all are read once, then never again.
    expect(r1.storage.snapshot!.files_reused).toBe(0);
    const r2 = await launchRun({ ...common, node: 'run:new1', runId: 'new2', step: 'cat a.txt > seen.txt' });
    expect(r2.storage.restored_from).toBe('chunks');
    const fork = await launchRun({ ...common, node: 'branch:oldfork', runId: 'new3', step: 'echo fork > f.txt' });
    expect(fork.storage.restored_from).toBe('bundle');

    const out = await exportNode({ cwd, home, env: env(), node: 'run:new2', out: path.join(tmp, 'new2') });
    expect(read(out.workspace, 'seen.txt')).toBe('hello\none\ntwo\nthree\n');
    const chain = await loadCertificateChain({ cwd, home, env: env(), ref: 'run:new2' });
    expect(chain.map((l) => l.nodeId)).toEqual(['node-new2', 'node-new1', 'node-old2', 'node-old1', 'node-seed-old1', 'root']);
    // Each link's parent state is the state the parent recorded, across the change of format.
    const cert = JSON.parse(chain[1]!.certificate!.toString()) as { parent_state: { bundle_sha256: string } };
    expect(cert.parent_state.bundle_sha256).toBe(chain[2]!.state.bundle_sha256);

    const gc = await collectGarbage({ cwd, home, env: env(), stats: true });
    expect(gc.removed_objects).toEqual([]);
    expect(gc.chunks?.swept).toBe(true);
    expect(gc.stats!.bundle_nodes).toBeGreaterThanOrEqual(5);
    const again = await exportNode({ cwd, home, env: env(), node: 'branch:oldfork', out: path.join(tmp, 'fork') });
    expect(read(again.workspace, 'a.txt')).toBe('hello\none\ntwo\n');
    const after = await exportNode({ cwd, home, env: env(), node: 'run:new3', out: path.join(tmp, 'new3') });
    expect(read(after.workspace, 'f.txt')).toBe('fork\n');
  });
});
