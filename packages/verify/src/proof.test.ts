import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Digest } from '@swarm/core';
import { PROOF_TYPE, createEd25519Attestation, verifyProof, verifyProofFiles } from './proof.js';
import { newSigningKey } from './test-support/engine-run.js';

const inputs = Buffer.from('{"artifact_hash":"sha256:00","claim":"tests passed"}');
const key = newSigningKey();
const trusted = { trustedKeys: [key.publicKey], home: path.join(os.tmpdir(), 'swarm-proof-no-home') };

function statuses(report: ReturnType<typeof verifyProof>) {
  return Object.fromEntries(report.checks.map((c) => [c.name, c.code ?? c.status]));
}

describe('verifyProof', () => {
  it('verifies an ed25519 attestation by a trusted key', () => {
    const report = verifyProof(createEd25519Attestation(inputs, key, 'tests passed'), inputs, trusted);
    expect(statuses(report)).toEqual({ envelope: 'pass', public_inputs: 'pass', proof: 'pass' });
    expect(report.verified).toBe(true);
    expect(report.public_inputs_sha256).toBe(sha256Digest(inputs));
  });

  it('fails other public inputs', () => {
    const report = verifyProof(createEd25519Attestation(inputs, key), Buffer.concat([inputs, Buffer.from(' ')]), trusted);
    expect(statuses(report).public_inputs).toBe('VERIFY_PROOF_INPUTS_MISMATCH');
  });

  it('fails an attestation by an untrusted key, and a signature over other inputs', () => {
    const stranger = newSigningKey();
    expect(statuses(verifyProof(createEd25519Attestation(inputs, stranger), inputs, trusted)).proof).toBe('VERIFY_SIGNATURE_UNTRUSTED');
    const other = createEd25519Attestation(Buffer.from('other'), key);
    const moved = { ...createEd25519Attestation(inputs, key), proof: other.proof };
    expect(statuses(verifyProof(moved, inputs, trusted)).proof).toBe('VERIFY_PROOF_INVALID');
  });

  it('reports a proof system it cannot check as skipped, never as passed', () => {
    const zk = { type: PROOF_TYPE, proof_system: 'groth16-bn254', public_inputs_sha256: sha256Digest(inputs), proof: 'AAAA' };
    const report = verifyProof(zk, inputs, trusted);
    expect(statuses(report)).toEqual({ envelope: 'pass', public_inputs: 'pass', proof: 'skipped' });
    expect(report.verified).toBe(true);
    const required = verifyProof(zk, inputs, { ...trusted, requireProofCheck: true });
    expect(required.failed).toEqual(['VERIFY_PROOF_UNSUPPORTED']);
  });

  it.each([
    ['not an object', []],
    ['another type', { type: 'x', proof_system: 'groth16', public_inputs_sha256: sha256Digest(inputs), proof: 'A' }],
    ['a short digest', { type: PROOF_TYPE, proof_system: 'groth16', public_inputs_sha256: 'sha256:00', proof: 'A' }],
    ['no proof', { type: PROOF_TYPE, proof_system: 'groth16', public_inputs_sha256: sha256Digest(inputs) }],
    ['a critical_ key', { type: PROOF_TYPE, proof_system: 'groth16', public_inputs_sha256: sha256Digest(inputs), proof: { a: { critical_x: 1 } } }],
  ])('fails an envelope with %s', (_label, envelope) => {
    const report = verifyProof(envelope, inputs, trusted);
    expect(statuses(report)).toEqual({ envelope: 'VERIFY_PROOF_INVALID', public_inputs: 'skipped', proof: 'skipped' });
  });

  it('reads files: a proof that is not JSON is an input error', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-proof-'));
    try {
      fs.writeFileSync(path.join(dir, 'proof.json'), JSON.stringify(createEd25519Attestation(inputs, key)));
      fs.writeFileSync(path.join(dir, 'inputs.json'), inputs);
      const env = { SWARM_HOME: path.join(dir, 'home') };
      expect(verifyProofFiles({ proof: 'proof.json', publicInputs: 'inputs.json', cwd: dir, env, trustedKeys: [key.publicKey] }).verified).toBe(true);
      fs.writeFileSync(path.join(dir, 'bad.json'), 'nope');
      expect(() => verifyProofFiles({ proof: 'bad.json', publicInputs: 'inputs.json', cwd: dir, env })).toThrow(expect.objectContaining({ code: 'JSON_PARSE' }));
      expect(() => verifyProofFiles({ proof: 'proof.json', publicInputs: 'missing', cwd: dir, env })).toThrow(expect.objectContaining({ code: 'FILE_NOT_FOUND' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
