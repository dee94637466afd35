/** Error codes of `swarm diff` and `swarm apply`. Importing this module registers them. */
import { registerErrorCodes, type ErrorCodeInfo } from '@swarm/core';

export const DIFF_ERROR_CODES = {
  APPLY_CONFLICT: {
    category: 'input',
    description: 'The target differs from the base in files the change touches; nothing was written (details.paths lists them; --force overrides).',
  },
  APPLY_UNSAFE_PATH: {
    category: 'input',
    description: 'Applying would write outside the target directory or through a symlink in it; nothing was written.',
  },
  APPLY_TARGET_INVALID: { category: 'input', description: 'The --to target is not an existing directory (or, with --branch, not inside a git repository).' },
  APPLY_GIT_BRANCH_EXISTS: { category: 'input', description: 'The git branch given to `apply --branch` already exists; a new branch is never moved.' },
  APPLY_GIT_FAILED: { category: 'internal', description: 'A git command run by `apply --branch` failed (git missing, or the repository is unusable).' },
} satisfies Record<string, ErrorCodeInfo>;

registerErrorCodes('state', DIFF_ERROR_CODES);
