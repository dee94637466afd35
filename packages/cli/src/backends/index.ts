import { SwarmError } from '@swarm/core';
import type { Backend } from './backend.js';
import { localBackend } from './local.js';

/** Runs on GitHub Actions go through dispatch → watch → collect (cli/src/github/remote.ts), not through launch. */
const githubBackend: Backend = {
  name: 'github',
  launch() {
    return Promise.reject(new SwarmError('INTERNAL', 'the github backend dispatches; it does not launch in this process'));
  },
};

export type { Backend, BackendName } from './backend.js';

/** The backend a run asked for; one this build cannot run is an input error before anything starts. */
export function backendFor(name: string): Backend {
  if (name === 'local') return localBackend;
  if (name === 'github') return githubBackend;
  throw new SwarmError('INVALID_ARGUMENT', `backend ${name} is not available in this build`, { hint: 'use --backend local or github', details: { backend: name } });
}
