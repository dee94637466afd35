/**
 * The chain as `verify chain` checks it: state's certificate chain, plus for every node the
 * artifact hash the catalog recorded for its run and where the store keeps its sealed bundle.
 * (These two fields belong in state's loadCertificateChain; this bridge goes when it returns them.)
 */
import type { ChainLink } from '@swarm/verify';

export async function loadVerifiableChain(options: { cwd: string; env: NodeJS.ProcessEnv; ref: string }): Promise<ChainLink[]> {
  const { Store, loadCertificateChain } = await import('@swarm/state');
  const links = await loadCertificateChain(options);
  const store = Store.open(options.cwd, { create: false, env: options.env });
  try {
    return links.map((link) => {
      const runId = store.catalog.getNode(link.nodeId)?.run_id ?? null;
      const run = runId === null ? undefined : store.catalog.getRun(runId);
      return { ...link, recordedArtifactHash: run?.artifact_hash ?? null, bundleObject: store.objectFile(link.state.bundle_sha256) };
    });
  } finally {
    store.close();
  }
}
