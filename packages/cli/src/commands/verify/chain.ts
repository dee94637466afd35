import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';
import { finishVerification } from './finish.js';

export class VerifyChainCommand extends BaseCommand {
  static override paths = [['verify', 'chain']];

  static override usage = Command.Usage({
    category: 'Verification',
    description: 'Verify a node and every ancestor back to root',
    details: `
      Walks from the node to root. Every certificate goes through the same checks as
      \`verify cert\` (a nonce may appear only once in the chain; no replay store is consumed, and
      replay windows of past runs are not enforced unless \`--check-expiry\`). Every certificate
      must be signed by a trusted key (\`--allow-unsigned\` accepts links without a signature and
      lists them; a signature that is present must still verify) and its bytes must hash to the
      artifact hash the catalog recorded for the run. A run whose certificate binds a policy the
      store does not hold fails unless \`--skip-policy\`. Each run's \`parent_state\` must equal its
      parent node's state and its \`result.new_state\` its own (state id, bundle digest, ratchet
      step); a fork must keep its parent's bundle digest under a new state id and ratchet step; the
      chain must end at the root. Every bundle object the store holds must hash to the node's
      \`bundle_sha256\` (a missing object is reported as skipped).

      Exits 0 when every link verifies and 3 otherwise.
    `,
    examples: [
      ['Verify a branch', '$0 verify chain --node branch:main'],
      ['Trust only a given key', '$0 verify chain --node run:r7 --trusted-key <public key> --json'],
      ['Accept links without a signature, listing them', '$0 verify chain --node run:r7 --allow-unsigned'],
    ],
  });

  node = Option.String('--node', { required: true, description: 'Node reference: a node id, root, run:<run_id> or branch:<label>' });
  requirePolicy = Option.Boolean('--require-policy', false, { description: 'Fail any run whose certificate binds no policy or whose policy does not match' });
  skipPolicy = Option.Boolean('--skip-policy', false, { description: "Accept runs whose certificate binds a policy the store does not hold (a policy that is there is still checked)" });
  allowUnsigned = Option.Boolean('--allow-unsigned', false, {
    description: 'Accept runs whose certificate has no signature (each is reported as unsigned); a present signature must still verify',
  });
  requireSignature = Option.Boolean('--require-signature', false, { description: 'Signatures are required by default; accepted for existing command lines (conflicts with --allow-unsigned)' });
  trustedKey = Option.Array('--trusted-key', { description: 'A trusted Ed25519 public key (base64url); repeatable. Replaces the trust store unless --trust-store' });
  trustStore = Option.Boolean('--trust-store', false, { description: 'Trust the trust store (and own key) too; the default when no --trusted-key is given' });
  checkExpiry = Option.Boolean('--check-expiry', false, { description: 'Also fail links whose replay window has closed' });

  async run(): Promise<number> {
    const { loadCertificateChain } = await import('@swarm/state');
    const links = await loadCertificateChain({ cwd: this.cwd, env: this.env, ref: this.node });
    const verify = await import('@swarm/verify');
    const report = verify.verifyChain(links, {
      node: this.node,
      requirePolicy: this.requirePolicy,
      skipPolicy: this.skipPolicy,
      allowUnsigned: this.allowUnsigned,
      requireSignature: this.requireSignature,
      trustedKeys: this.trustedKey,
      trustStore: this.trustStore,
      checkReplayExpiry: this.checkExpiry,
      env: this.env,
    });
    const unsigned = report.unsigned.length > 0 ? `; unsigned, allowed by --allow-unsigned: ${report.unsigned.join(', ')}` : '';
    return finishVerification(this, verify, report, `chain of ${this.node} verified (${report.links.length} nodes${unsigned})`);
  }
}
