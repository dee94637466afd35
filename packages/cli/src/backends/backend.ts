/**
 * Where runs execute. The CLI's run commands talk to a Backend, never to the engine directly, so
 * a remote backend (GitHub Actions) can take the same options and return the same result.
 */
import type { LaunchOptions, LaunchResult } from '@swarm/state';

export type BackendName = 'local' | 'github';

export interface Backend {
  readonly name: BackendName;
  /** Runs a step from a node to a new node (launch or resume). */
  launch(options: LaunchOptions): Promise<LaunchResult>;
}
