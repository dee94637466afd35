import { SwarmError } from '@swarm/core';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';
import { finishVerification } from './finish.js';

export class VerifyCertCommand extends BaseCommand {
  static override paths = [['verify', 'cert']];

  static override usage = Command.Usage({
    category: 'Verification',
    description: 'Verify a run certificate offline: schema, hash, commit pin, policy, replay, signature, step status',
    details: `
      Runs a fixed pipeline of named checks and reports each one as pass, fail or skipped with its
      reason: \`schema\` (every bad field at once), \`critical\` (unknown \`critical_*\` keys at any
      depth), \`artifact_hash\` (sha256 of the exact bytes), \`commit_pin\` (the 40-hex commit after
      the last \`@\` of \`runtime.workflow_ref\`), \`policy\` (policy file bytes against
      \`policy.policy_hash\`), \`replay\` (non-blank nonce, expiry in the future, nonce not seen in
      the replay store), \`signature\` (DSSE envelope over exactly these bytes, by a trusted key) and
      \`run_status\` (how the step ended, from \`swarm.status\` / \`swarm.exit_code\`; a failure only
      with \`--require-success\`).

      The policy file named by \`policy.policy_ref\` and \`<name>.dsse.json\` next to
      \`<name>.json\` are picked up from the certificate's directory when \`--policy-file\` or
      \`--signature\` is not given. Without \`--trusted-key\`, the trust store and this
      installation's own signing key are trusted. A certificate that binds a policy fails when no
      policy file is given or found, unless \`--skip-policy\`.

      The nonce is looked up in the replay store but not recorded, so verifying twice passes. With
      \`--consume-nonce\` it is recorded when every check passes, and the certificate is accepted
      only once (a second verification fails with \`VERIFY_REPLAY_NONCE_REUSED\`); a gate should
      use it.

      Never opens a network connection. Exits 0 when verified, 3 when any check fails, and 2 when an
      input file cannot be read or is not JSON.
    `,
    examples: [
      ['Verify a local run with its policy and signature', '$0 verify cert --certificate .swarm/runs/r1/certificate.json --require-policy --require-signature'],
      [
        'Gate a merge in CI',
        '$0 verify cert --certificate artifacts/certificate.json --expected-artifact-hash sha256:… --required-commit $GITHUB_SHA --require-policy --require-success --consume-nonce --trusted-key <public key> --json',
      ],
      ['Inspect a certificate whose policy file is not at hand', '$0 verify cert --certificate certificate.json --skip-policy'],
    ],
  });

  certificate = Option.String('--certificate', { required: true, description: 'The certificate.json to verify' });
  expectedArtifactHash = Option.String('--expected-artifact-hash', {
    description: 'sha256:<hex> the exact certificate bytes must hash to (artifact_hash of result.json)',
  });
  requiredCommit = Option.String('--required-commit', { description: 'The 40-hex commit runtime.workflow_ref must be pinned to' });
  policyFile = Option.String('--policy-file', { description: 'The policy.json the certificate binds (default: policy_ref beside the certificate)' });
  requirePolicy = Option.Boolean('--require-policy', false, { description: 'Fail unless the certificate binds a policy and the policy file matches' });
  skipPolicy = Option.Boolean('--skip-policy', false, { description: 'Accept a bound policy when no policy file is given or found (a policy file that is there is still checked)' });
  requireSuccess = Option.Boolean('--require-success', false, { description: 'Fail unless the certificate says the step succeeded (VERIFY_RUN_NOT_SUCCEEDED)' });
  signature = Option.String('--signature', { description: 'The DSSE envelope (default: <name>.dsse.json beside the certificate)' });
  requireSignature = Option.Boolean('--require-signature', false, { description: 'Fail unless the certificate is signed by a trusted key' });
  trustedKey = Option.Array('--trusted-key', { description: 'A trusted Ed25519 public key (base64url); repeatable. Replaces the trust store unless --trust-store' });
  trustStore = Option.Boolean('--trust-store', false, { description: 'Trust the trust store (and own key) too; the default when no --trusted-key is given' });
  replayStore = Option.String('--replay-store', { description: 'Seen-nonce store (default $SWARM_HOME/verify/replay-nonces.jsonl)' });
  consumeNonce = Option.Boolean('--consume-nonce', false, { description: 'Record the nonce when verification passes, so the certificate is accepted only once' });
  // Recording used to be the default: --record-nonce now means --consume-nonce and --no-record-nonce is a no-op.
  recordNonce = Option.Boolean('--record-nonce', { hidden: true, description: 'Old spelling: --record-nonce is --consume-nonce; --no-record-nonce is the default' });

  async run(): Promise<number> {
    if (this.recordNonce === false && this.consumeNonce) {
      throw new SwarmError('INVALID_ARGUMENT', '--no-record-nonce and --consume-nonce contradict each other');
    }
    const verify = await import('@swarm/verify');
    const report = verify.verifyCertificateFile({
      certificate: this.certificate,
      expectedArtifactHash: this.expectedArtifactHash,
      requiredCommit: this.requiredCommit,
      policyFile: this.policyFile,
      requirePolicy: this.requirePolicy,
      skipPolicy: this.skipPolicy,
      requireSuccess: this.requireSuccess,
      signatureFile: this.signature,
      requireSignature: this.requireSignature,
      trustedKeys: this.trustedKey,
      trustStore: this.trustStore,
      replayStoreFile: this.replayStore,
      consumeNonce: this.consumeNonce || this.recordNonce === true,
      cwd: this.cwd,
      env: this.env,
    });
    return finishVerification(this, verify, report, `certificate ${this.certificate} verified`);
  }
}
