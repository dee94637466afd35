/** Error codes the CLI itself raises. */
import { registerErrorCodes } from '@swarm/core';

registerErrorCodes('cli', {
  DOCTOR_CHECK_FAILED: { category: 'backend', description: '`swarm doctor` found a required check failing; the local backend cannot run here.' },
  VERIFY_CHAIN_FAILED: { category: 'verification', description: 'A certificate chain checked by `swarm quickstart` did not verify.' },
});
