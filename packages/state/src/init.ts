import { findProjectRoot } from './store/paths.js';
import { Store } from './store/store.js';

/** Creates `.swarm/` in cwd (unless one exists here or above) with its root node. */
export async function initStore(cwd: string, options: { env?: NodeJS.ProcessEnv; home?: string } = {}): Promise<{ path: string; created: boolean }> {
  const existing = findProjectRoot(cwd);
  const created = !existing;
  const store = Store.open(cwd, { env: options.env, home: options.home });
  try {
    await store.ensureRoot();
    return { path: store.paths.root, created };
  } finally {
    store.close();
  }
}
