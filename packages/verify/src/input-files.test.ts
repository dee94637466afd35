import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keysDir } from '@swarm/core';
import { codeOf, makeTempDir } from '@swarm/test-utils';
import { MAX_INPUT_BYTES, readInputFile } from './input-files.js';
import { FileReplayStore } from './replay-store.js';
import { loadTrustStore, trustStorePath } from './trust-store.js';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

describe('readInputFile (the shared bounded reader, with the verifier codes)', () => {
  it('reads a regular file (control) and refuses /dev/zero, a link to it and a FIFO as FILE_NOT_FOUND', () => {
    const file = path.join(tmp.dir, 'policy.json');
    fs.writeFileSync(file, '{}');
    expect(readInputFile(file, 'policy file').toString()).toBe('{}');
    fs.symlinkSync('/dev/zero', path.join(tmp.dir, 'zero'));
    execFileSync('mkfifo', [path.join(tmp.dir, 'fifo')]);
    for (const bad of ['/dev/zero', path.join(tmp.dir, 'zero'), path.join(tmp.dir, 'fifo'), tmp.dir]) {
      expect(codeOf(() => readInputFile(bad, 'policy file')), bad).toBe('FILE_NOT_FOUND');
    }
  });

  it('a file over the cap is VERIFY_INPUT_TOO_LARGE', () => {
    const file = path.join(tmp.dir, 'big.json');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, MAX_INPUT_BYTES + 1);
    expect(codeOf(() => readInputFile(file, 'certificate'))).toBe('VERIFY_INPUT_TOO_LARGE');
    fs.truncateSync(file, MAX_INPUT_BYTES);
    expect(readInputFile(file, 'certificate').length).toBe(MAX_INPUT_BYTES);
  });
});

describe('stores in user paths', () => {
  it('a trust store that is a FIFO or a link to /dev/zero is TRUST_STORE_INVALID, not a hang', () => {
    const home = path.join(tmp.dir, 'home');
    fs.mkdirSync(keysDir(home), { recursive: true });
    const file = trustStorePath(home);
    expect(loadTrustStore(home).keys).toEqual([]);
    execFileSync('mkfifo', ['-m', '600', file]);
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
    fs.rmSync(file);
    fs.symlinkSync('/dev/zero', file);
    expect(codeOf(() => loadTrustStore(home))).toBe('TRUST_STORE_INVALID');
  });

  it('a replay store that is a FIFO or /dev/zero is VERIFY_REPLAY_STORE_UNUSABLE', () => {
    const ok = new FileReplayStore(path.join(tmp.dir, 'nonces.jsonl'));
    const claim = { nonce: 'n1', job_id: null, artifact_hash: 'sha256:x', expires_at_unix: 2, recorded_at_unix: 1 };
    expect(ok.claim(claim)).toBe(true);
    expect(ok.has('n1')).toBe(true);
    const fifo = path.join(tmp.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(codeOf(() => new FileReplayStore(fifo).has('n1'))).toBe('VERIFY_REPLAY_STORE_UNUSABLE');
    expect(codeOf(() => new FileReplayStore(fifo).claim(claim))).toBe('VERIFY_REPLAY_STORE_UNUSABLE');
    expect(codeOf(() => new FileReplayStore('/dev/zero').has('n1'))).toBe('VERIFY_REPLAY_STORE_UNUSABLE');
  });
});
