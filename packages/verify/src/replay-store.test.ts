import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileReplayStore, MemoryReplayStore, type NonceClaim } from './replay-store.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-replay-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const claim = (nonce: string): NonceClaim => ({ nonce, job_id: 'r-1', artifact_hash: `sha256:${'0'.repeat(64)}`, expires_at_unix: 2, recorded_at_unix: 1 });

describe('FileReplayStore', () => {
  it('claims a nonce once, in a 0600 file it creates', () => {
    const file = path.join(dir, 'deep', 'nonces.jsonl');
    const store = new FileReplayStore(file);
    expect(store.has('n1')).toBe(false);
    expect(store.claim(claim('n1'))).toBe(true);
    expect(store.has('n1')).toBe(true);
    expect(new FileReplayStore(file).claim(claim('n1'))).toBe(false);
    expect(store.claim(claim('n2'))).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it('the first claim in the file wins, even when another verifier appended first', () => {
    const file = path.join(dir, 'nonces.jsonl');
    fs.writeFileSync(file, `${JSON.stringify({ ...claim('n1'), claim_id: 'someone-else' })}\n`);
    expect(new FileReplayStore(file).claim(claim('n1'))).toBe(false);
  });

  it('a torn last line cannot swallow the next claim', () => {
    const file = path.join(dir, 'nonces.jsonl');
    fs.writeFileSync(file, '{"nonce":"n0","claim_');
    const store = new FileReplayStore(file);
    expect(store.claim(claim('n1'))).toBe(true);
    expect(store.has('n1')).toBe(true);
    expect(new FileReplayStore(file).claim(claim('n1'))).toBe(false);
  });

  it('a store path that cannot be used is an input error', () => {
    const file = path.join(dir, 'a-directory');
    fs.mkdirSync(file);
    const store = new FileReplayStore(file);
    expect(() => store.has('n')).toThrow(expect.objectContaining({ code: 'VERIFY_REPLAY_STORE_UNUSABLE', category: 'input' }));
    expect(() => store.claim(claim('n'))).toThrow(expect.objectContaining({ code: 'VERIFY_REPLAY_STORE_UNUSABLE' }));
  });
});

describe('MemoryReplayStore', () => {
  it('claims each nonce once', () => {
    const store = new MemoryReplayStore();
    expect(store.claim(claim('n'))).toBe(true);
    expect(store.claim(claim('n'))).toBe(false);
    expect(store.has('n')).toBe(true);
  });
});
