/** The local backend: the engine runs on this machine, in the step sandbox. */
import type { Backend } from './backend.js';

export const localBackend: Backend = {
  name: 'local',
  async launch(options) {
    const { launchRun } = await import('@swarm/state');
    return launchRun(options);
  },
};
