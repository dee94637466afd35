import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';
import { finishVerification } from './finish.js';

export class VerifyProofCommand extends BaseCommand {
  static override paths = [['verify', 'proof']];

  static override usage = Command.Usage({
    category: 'Verification',
    description: 'Verify a swarm-proof-v1 envelope against its public inputs',
    details: `
      Checks the envelope (\`type\` \`swarm-proof-v1\`, \`proof_system\`, \`public_inputs_sha256\`,
      \`proof\`), that the public-inputs file hashes to \`public_inputs_sha256\`, and the proof
      itself when this build has a verifier for its system: \`ed25519-attestation\` (an Ed25519
      signature by a trusted key). For any other system, zero-knowledge systems included, the proof
      check is reported as skipped; \`--require-proof-check\` turns that into a failure.

      Exits 0 when verified, 3 when a check fails, 2 when a file cannot be read or is not JSON.
    `,
    examples: [
      ['Verify an attestation', '$0 verify proof --proof proof.json --public-inputs inputs.json --trusted-key <public key>'],
      ['Insist that the proof itself was checked', '$0 verify proof --proof proof.json --public-inputs inputs.json --require-proof-check --json'],
    ],
  });

  proof = Option.String('--proof', { required: true, description: 'The proof envelope (JSON)' });
  publicInputs = Option.String('--public-inputs', { required: true, description: 'The public-inputs file, hashed byte for byte' });
  requireProofCheck = Option.Boolean('--require-proof-check', false, { description: 'Fail when the proof system has no verifier in this build' });
  trustedKey = Option.Array('--trusted-key', { description: 'A trusted Ed25519 public key (base64url); repeatable. Replaces the trust store unless --trust-store' });
  trustStore = Option.Boolean('--trust-store', false, { description: 'Trust the trust store (and own key) too; the default when no --trusted-key is given' });

  async run(): Promise<number> {
    const verify = await import('@swarm/verify');
    const report = verify.verifyProofFiles({
      proof: this.proof,
      publicInputs: this.publicInputs,
      requireProofCheck: this.requireProofCheck,
      trustedKeys: this.trustedKey,
      trustStore: this.trustStore,
      cwd: this.cwd,
      env: this.env,
    });
    return finishVerification(this, verify, report, `proof ${this.proof} verified`);
  }
}
