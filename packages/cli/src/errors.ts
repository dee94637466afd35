/** Error codes the CLI itself raises. */
import { registerErrorCodes } from '@swarm/core';

registerErrorCodes('cli', {
  DOCTOR_CHECK_FAILED: { category: 'backend', description: '`swarm doctor` found a required check failing; the local backend cannot run here.' },
  RUN_DETACH_FAILED: { category: 'backend', description: 'A detached run did not start: its supervisor ended (or took too long) before the run was under way; its log is in the details.' },
  VERIFY_CHAIN_FAILED: { category: 'verification', description: 'A certificate chain checked by `swarm quickstart` did not verify.' },
});
