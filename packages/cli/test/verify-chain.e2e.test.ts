// `swarm verify chain` against a real store made by the built binary: signatures required, the
// certificate bound to the catalog's artifact hash, bundle objects hashed. Each attack runs on its
// own copy of the store, and the untouched store is the positive control.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalBytes, validateDocument } from '@swarm/core';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let project: string;
let env: NodeJS.ProcessEnv;
let copies = 0;
/** node id → bundle_sha256, from the runs and the fork that built the chain. */
const bundles = new Map<string, string>();
let forkNode: string;

function json(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd, env, encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!);
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { code: r.status, envelope, report: envelope.status === 'ok' ? envelope.data : envelope.error.details };
}

/** A copy of the whole project (catalog, objects, run directories) for one attack. */
function copyOfProject(): string {
  const dir = path.join(tmp, `copy-${++copies}`);
  fs.cpSync(project, dir, { recursive: true });
  return dir;
}

const runFile = (dir: string, runId: string, name: string) => path.join(dir, '.swarm', 'runs', runId, name);

function objectFile(dir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, '');
  return path.join(dir, '.swarm', 'objects', 'sha256', hex.slice(0, 2), hex.slice(2));
}

function verifyChain(dir: string, extra: string[] = []) {
  return json(['verify', 'chain', '--node', 'run:b', ...extra], dir);
}

function checkOf(report: any, nodeId: string, name: string): string {
  const link = report.links.find((l: any) => l.node_id === nodeId);
  const check = link.checks.find((c: any) => c.name === name);
  return check.code ?? check.status;
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-verify-chain-'));
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  env = { PATH: process.env.PATH, HOME: path.join(tmp, 'user'), SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  const a = json(['run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'a', '--step', 'echo hello > hello.txt'], project);
  expect(a.code).toBe(0);
  const fork = json(['run', 'fork', '--node', 'run:a', '--label', 'side'], project);
  expect(fork.code).toBe(0);
  const b = json(['run', 'launch', '--unsandboxed-egress', '--node', 'branch:side', '--run-id', 'b', '--step', 'cat hello.txt'], project);
  expect(b.code).toBe(0);
  bundles.set(a.envelope.data.node_id, a.envelope.data.bundle_sha256);
  bundles.set(b.envelope.data.node_id, b.envelope.data.bundle_sha256);
  forkNode = b.envelope.data.parent_node_id;
}, 120_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('swarm verify chain (built binary, real store)', () => {
  it('positive control: the untouched chain verifies with every link signed, hash-bound and its bundle hashed', () => {
    const r = verifyChain(project);
    expect(r.code).toBe(0);
    expect(r.report.links.map((l: any) => [l.node_id, l.kind])).toEqual([
      ['node-b', 'run'],
      [forkNode, 'fork'],
      ['node-a', 'run'],
      ['root', 'root'],
    ]);
    for (const node of ['node-b', 'node-a']) {
      expect([node, checkOf(r.report, node, 'signature'), checkOf(r.report, node, 'artifact_hash')]).toEqual([node, 'pass', 'pass']);
    }
    for (const link of r.report.links) expect([link.node_id, checkOf(r.report, link.node_id, 'bundle_object')]).toEqual([link.node_id, 'pass']);
    expect(r.report.unsigned).toEqual([]);
    expect(r.report.allow_unsigned).toBe(false);
  });

  it('regression: an edited exit_code with its signature deleted no longer verifies, with or without --allow-unsigned', () => {
    const dir = copyOfProject();
    const file = runFile(dir, 'a', 'certificate.json');
    const document = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(document.swarm.exit_code).toBe(0);
    document.swarm.exit_code = 7;
    fs.writeFileSync(file, canonicalBytes(document));
    fs.rmSync(runFile(dir, 'a', 'certificate.dsse.json'));

    const strict = verifyChain(dir);
    expect(strict.code).toBe(3);
    expect(strict.envelope.error.code).toBe('VERIFY_FAILED');
    expect(strict.report.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH', 'VERIFY_SIGNATURE_MISSING']);
    expect(checkOf(strict.report, 'node-a', 'artifact_hash')).toBe('VERIFY_CERT_HASH_MISMATCH');
    expect(checkOf(strict.report, 'node-a', 'signature')).toBe('VERIFY_SIGNATURE_MISSING');

    const relaxed = verifyChain(dir, ['--allow-unsigned']);
    expect(relaxed.code).toBe(3);
    expect(relaxed.report.failed).toEqual(['VERIFY_CERT_HASH_MISMATCH']);
  });

  it('fails a chain whose signature was deleted, and passes it with --allow-unsigned, reporting the link', () => {
    const dir = copyOfProject();
    fs.rmSync(runFile(dir, 'a', 'certificate.dsse.json'));

    const strict = verifyChain(dir);
    expect(strict.code).toBe(3);
    expect(strict.envelope.error.code).toBe('VERIFY_FAILED');
    expect(strict.report.failed).toEqual(['VERIFY_SIGNATURE_MISSING']);

    const relaxed = verifyChain(dir, ['--allow-unsigned']);
    expect(relaxed.code).toBe(0);
    expect(relaxed.report.allow_unsigned).toBe(true);
    expect(relaxed.report.unsigned).toEqual(['node-a']);
    expect(relaxed.report.links.map((l: any) => [l.node_id, l.unsigned])).toEqual([
      ['node-b', false],
      [forkNode, false],
      ['node-a', true],
      ['root', false],
    ]);
    expect(checkOf(relaxed.report, 'node-a', 'signature')).toBe('skipped');
    expect(checkOf(relaxed.report, 'node-b', 'signature')).toBe('pass');
  });

  it('fails a chain whose bundle object has one byte flipped, on every node sharing it', () => {
    const dir = copyOfProject();
    const file = objectFile(dir, bundles.get('node-a')!);
    const bytes = fs.readFileSync(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, bytes);

    const r = verifyChain(dir, ['--allow-unsigned']);
    expect(r.code).toBe(3);
    expect(r.envelope.error.code).toBe('VERIFY_FAILED');
    expect(r.report.failed).toEqual(['VERIFY_CHAIN_BUNDLE_MISMATCH', 'VERIFY_CHAIN_BUNDLE_MISMATCH']);
    expect(checkOf(r.report, forkNode, 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');
    expect(checkOf(r.report, 'node-a', 'bundle_object')).toBe('VERIFY_CHAIN_BUNDLE_MISMATCH');
    expect(checkOf(r.report, 'node-b', 'bundle_object')).toBe('pass');
  });

  it('reports a missing bundle object as skipped without failing', () => {
    const dir = copyOfProject();
    fs.rmSync(objectFile(dir, bundles.get('node-b')!));
    const r = verifyChain(dir);
    expect(r.code).toBe(0);
    expect(checkOf(r.report, 'node-b', 'bundle_object')).toBe('skipped');
    expect(checkOf(r.report, 'node-a', 'bundle_object')).toBe('pass');
  });

  it('exits 2 on --allow-unsigned together with --require-signature', () => {
    const r = verifyChain(project, ['--allow-unsigned', '--require-signature']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
  });
});
