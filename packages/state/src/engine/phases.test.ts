/**
 * The engine's phases on their own: a worker with no catalog (what a CI runner will be) runs
 * restore → egress → policy → execute → record → ratchet → seal → certify from a sealed bundle
 * and a capability only, and the store then imports the result as a first-class node.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CERTIFICATE_PAYLOAD_TYPE, SwarmError, dssePayloadBytes, dsseSignedBy, fixedClock, generateSigningKey, isoTime, parseDsseEnvelope, publicKeyFromRaw, sha256Digest, validateDocument } from '@swarm/core';
import { openSealedBundle } from '../bundle/index.js';
import { exportNodeBundle } from '../chunks/node-content.js';
import { launchRun } from '../run/launch.js';
import { readRunHistory } from '../state-db.js';
import { unwrapNodeDataKey } from '../store/keyring.js';
import { buildNodeRow } from '../store/node-row.js';
import { Store } from '../store/store.js';
import {
  buildPolicy,
  certify,
  execute,
  grantedEnvironment,
  openEgress,
  ratchet,
  record,
  restore,
  runPaths,
  seal,
  stepBaseEnv,
  stepCommand,
  writeStepInputs,
} from './index.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-phases-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const clock = fixedClock(1_700_000_000_000);

/** A store with one committed run, and what a worker is handed: the sealed bundle and the capability. */
async function handOff(): Promise<{ cwd: string; home: string; bundle: string; bundleSha256: string; node: ReturnType<Store['catalog']['getNode']> & object; stateKey: Buffer; netKey: Buffer }> {
  const cwd = path.join(tmp, 'project');
  const home = path.join(tmp, 'home');
  fs.mkdirSync(cwd);
  await launchRun({ cwd, home, env: { ...process.env, SWARM_HOME: home }, node: 'root', runId: 'first', step: 'echo one > notes.txt', unsandboxedEgress: true, clock });
  const store = Store.open(cwd, { home, create: false });
  try {
    const node = store.catalog.getNode('node-first')!;
    const keys = store.keys.chainKeys(node);
    const bundle = path.join(tmp, 'handed-over.bundle');
    // What a backend ships: the node's tar bundle, made from its chunks.
    const exported = await exportNodeBundle(store, node, store.keys.dataKey(node, keys.state), bundle);
    return { cwd, home, bundle, bundleSha256: exported.sha256, node, stateKey: keys.state, netKey: keys.net };
  } finally {
    store.close();
  }
}

describe('the phases without a catalog', () => {
  it('run restore … certify from a sealed bundle and a capability, and the store imports the result', async () => {
    const given = await handOff();
    // The worker's side: a directory of its own, its own signing key, no store anywhere.
    const worker = path.join(tmp, 'worker');
    fs.mkdirSync(worker);
    const paths = runPaths(path.join(worker, 'run'));
    fs.mkdirSync(paths.dir);
    const restored = await restore({
      paths,
      bundleFile: given.bundle,
      expectedSha256: given.bundleSha256,
      dataKey: () => unwrapNodeDataKey(given.node, given.stateKey),
      nodeId: given.node.node_id,
      allowColdStart: false,
    });
    expect(restored.mode).toBe('checkpoint');
    expect(fs.readFileSync(path.join(paths.workspaceDir, 'notes.txt'), 'utf8')).toBe('one\n');

    const command = stepCommand({ cwd: worker, step: 'echo two >> notes.txt; echo "prompt: $(cat "$SWARM_PROMPT_FILE")"' });
    writeStepInputs(paths, command, 'add a line');
    const egress = await openEgress({
      provider: undefined,
      runId: 'remote',
      paths,
      allowlist: [],
      routeMode: 'direct',
      netChainKey: given.netKey,
      expiresAtUnix: 0,
      unsandboxed: true,
      hidden: [],
      inputs: { prompt: true, script: false },
      mountPath: '/run/swarm/workspace',
    });
    const granted = grantedEnvironment({}, {}, []);
    const policy = buildPolicy({
      routeMode: 'direct',
      backend: 'github',
      allowlist: [],
      sandbox: egress.sandbox,
      command: command.attested,
      prompt: 'add a line',
      timeoutS: null,
      env: { granted: granted.granted, passed: granted.passed, secrets: [] },
      mountPath: null,
      allowColdStart: false,
      workflowRef: `acme/agents/.github/workflows/swarm.yml@${'a'.repeat(40)}`,
      generatedAt: isoTime(clock),
    });
    const executed = await execute({
      paths,
      view: egress.view,
      command,
      session: egress.session,
      callerEnv: process.env,
      granted,
      ids: { runId: 'remote', nodeId: 'node-remote', parentNodeId: given.node.node_id },
      prompt: 'add a line',
      secrets: [],
    });
    expect(executed.outcome.exitCode).toBe(0);
    expect(fs.readFileSync(paths.logFile, 'utf8')).toBe('prompt: add a line\n');
    const facts = {
      run_id: 'remote',
      node_id: 'node-remote',
      parent_node_id: given.node.node_id,
      operation: 'resume',
      status: 'succeeded' as const,
      exit_code: 0,
      signal: null,
      restore_mode: restored.mode,
      started_at: isoTime(clock),
      finished_at: isoTime(clock),
    };
    record(paths, facts, { step: policy.commandSha256, prompt: policy.promptSha256, output: executed.outcome.outputSha256 });
    const next = ratchet({ state: given.stateKey, net: given.netKey }, 'remote');
    const sealed = await seal(paths, next.state, Math.floor(clock.now() / 1000));
    const runner = generateSigningKey(path.join(worker, 'runner-home')).key;
    const certified = certify({
      facts,
      stateId: 'state-remote',
      ratchetStep: given.node.ratchet_step + 1,
      parent: given.node,
      command: command.attested,
      policy,
      outputSha256: executed.outcome.outputSha256,
      sealed,
      restoreReason: null,
      workflowRef: `acme/agents/.github/workflows/swarm.yml@${'a'.repeat(40)}`,
      runnerClass: 'github-hosted',
      sandbox: egress.sandbox,
      allowlist: [],
      signer: runner,
      nonceKey: Buffer.alloc(32, 7),
      clock,
    });
    // What the worker hands back is a valid, signed certificate over its new bundle.
    const certificate = JSON.parse(certified.certificate.toString('utf8'));
    expect(validateDocument('certificate', certificate).errors).toEqual([]);
    expect(certificate.result.new_state.bundle_sha256).toBe(sealed.bundleSha256);
    expect(certificate.parent_state.bundle_sha256).toBe(given.node.bundle_sha256);
    expect(certified.artifactHash).toBe(sha256Digest(certified.certificate));
    const envelope = parseDsseEnvelope(JSON.parse(certified.envelope.toString('utf8')));
    expect(envelope.payloadType).toBe(CERTIFICATE_PAYLOAD_TYPE);
    expect(dssePayloadBytes(envelope).equals(certified.certificate)).toBe(true);
    expect(dsseSignedBy(envelope, publicKeyFromRaw(runner.publicKey))).toBe(true);
    // The ratchet: the new bundle opens with the next key, not with the parent's.
    const reopened = path.join(tmp, 'reopened');
    await expect(openSealedBundle({ file: sealed.file, dataKey: unwrapNodeDataKey(given.node, given.stateKey), expectedSha256: sealed.bundleSha256, destDir: reopened })).rejects.toBeInstanceOf(SwarmError);
    fs.rmSync(reopened, { recursive: true, force: true });
    const opened = await openSealedBundle({ file: sealed.file, dataKey: sealed.dataKey, expectedSha256: sealed.bundleSha256, destDir: reopened });
    expect(fs.readFileSync(path.join(opened.workspaceDir, 'notes.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(readRunHistory(opened.stateDbPath).map((r) => r.run_id)).toContain('remote');

    // The operator's side: the node produced elsewhere becomes a node of the store, and runs build on it.
    const store = Store.open(given.cwd, { home: given.home, create: false });
    try {
      store.objects.adopt(sealed.file, sealed.bundleSha256);
      const row = buildNodeRow(store.keys, {
        nodeId: 'node-remote',
        parentNodeId: given.node.node_id,
        kind: 'import',
        status: 'succeeded',
        stateId: 'state-remote',
        ratchetStep: given.node.ratchet_step + 1,
        bundleSha256: sealed.bundleSha256,
        manifestSha256: sealed.manifestSha256,
        dataKey: sealed.dataKey,
        keys: next,
        runId: null,
        label: null,
        createdAt: isoTime(clock),
        artifactHash: certified.artifactHash,
      });
      store.catalog.importNode(row, { name: 'branch:remote', at: isoTime(clock) });
      // Not twice: the commit is one transaction and the node id is unique.
      expect(() => store.catalog.importNode(row)).toThrow(SwarmError);
    } finally {
      store.close();
    }
    const after = await launchRun({
      cwd: given.cwd,
      home: given.home,
      env: { ...process.env, SWARM_HOME: given.home },
      node: 'branch:remote',
      runId: 'after-remote',
      step: 'cat notes.txt',
      unsandboxedEgress: true,
      clock,
    });
    expect(fs.readFileSync(path.join(after.run_dir, 'step.log'), 'utf8')).toBe('one\ntwo\n');
  });
});

describe('single phases', () => {
  it('restore refuses a bundle under the wrong key with exit 5, and cold-starts only when allowed', async () => {
    const given = await handOff();
    const attempt = (allowColdStart: boolean) => {
      const paths = runPaths(fs.mkdtempSync(path.join(tmp, 'r-')));
      return restore({ paths, bundleFile: given.bundle, expectedSha256: given.bundleSha256, dataKey: () => Buffer.alloc(32, 1), nodeId: 'node-first', allowColdStart }).then(
        (restored) => ({ restored, paths }),
      );
    };
    await expect(attempt(false)).rejects.toMatchObject({ code: 'RESTORE_FAILED', exitCode: 5 });
    const { restored, paths } = await attempt(true);
    expect(restored.mode).toBe('cold_start');
    expect(fs.readdirSync(paths.workspaceDir)).toEqual([]);
    expect(fs.existsSync(paths.stateDbPath)).toBe(true);
    expect(fs.readdirSync(paths.homeDir)).toEqual([]);
  });

  it('policy: the digest covers what the run may do, and records the names of granted variables only', () => {
    const input = {
      routeMode: 'direct' as const,
      backend: 'local' as const,
      allowlist: ['api.example.com'],
      sandbox: 'bwrap' as const,
      command: ['/bin/sh', '-c', 'true'],
      prompt: undefined,
      timeoutS: 60,
      env: { granted: ['A'], passed: ['B'], secrets: [] },
      mountPath: '/run/swarm/workspace',
      allowColdStart: false,
      workflowRef: 'local/swarm-local-run@unpinned',
      generatedAt: isoTime(clock),
    };
    const a = buildPolicy(input);
    expect(buildPolicy(input).sha256).toBe(a.sha256);
    expect(buildPolicy({ ...input, allowlist: ['api.example.com', 'evil.example'] }).sha256).not.toBe(a.sha256);
    const doc = JSON.parse(a.bytes.toString('utf8'));
    expect(doc.env).toEqual({ granted: ['A'], passed: ['B'], secrets: [] });
    expect(doc.swarm.unsandboxed_egress).toBe(false);
    expect(JSON.parse(buildPolicy({ ...input, sandbox: 'bwrap-open-network' }).bytes.toString('utf8')).swarm.unsandboxed_egress).toBe(true);
  });

  it('step environment: the caller’s variables do not pass unless granted, and swarm’s own names cannot be granted', () => {
    const base = stepBaseEnv({ PATH: '/bin', LC_ALL: 'C', AWS_SECRET_ACCESS_KEY: 'x', HOME: '/root' }, '/run/home');
    expect(base).toMatchObject({ PATH: '/bin', LC_ALL: 'C', HOME: '/run/home' });
    expect(base.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    const granted = grantedEnvironment({ TOKEN: 'secret-value' }, { MODE: 'fast' }, ['TOKEN']);
    expect(granted.env).toEqual({ MODE: 'fast', TOKEN: 'secret-value' });
    expect(granted.secrets).toEqual(['secret-value']);
    for (const name of ['SWARM_HOME', 'HOME', 'https_proxy', 'NO_PROXY', '1BAD']) {
      expect(() => grantedEnvironment({}, { [name]: 'x' }, [])).toThrow(SwarmError);
    }
    expect(() => grantedEnvironment({}, {}, ['NOT_SET_ANYWHERE'])).toThrow(SwarmError);
    // A passed value is a secret the log must hide; one too short to hide is refused, not passed.
    expect(() => grantedEnvironment({ PIN: '123' }, {}, ['PIN'])).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(grantedEnvironment({ PIN: '1234' }, {}, ['PIN']).secrets).toEqual(['1234']);
  });
});
