import { SwarmError } from '@swarm/core';
import type { Backend } from './backend.js';
import { localBackend } from './local.js';

export type { Backend, BackendName } from './backend.js';

/** The backend a run asked for; one this build cannot run is an input error before anything starts. */
export function backendFor(name: string): Backend {
  if (name === 'local') return localBackend;
  throw new SwarmError('INVALID_ARGUMENT', `backend ${name} is not available in this build`, { hint: 'use --backend local', details: { backend: name } });
}
