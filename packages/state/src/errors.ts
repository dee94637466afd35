/**
 * The state package's error codes. Importing this module registers them, so every module that
 * throws one of these codes imports it first.
 */
import { registerErrorCodes, type ErrorCodeInfo } from '@swarm/core';

export const STATE_ERROR_CODES = {
  STATE_KEY_INVALID: { category: 'input', description: 'A key, chain key or ratchet input has the wrong length or form.' },
  STATE_KEY_MISMATCH: {
    category: 'restore',
    description: 'The key does not open this bundle: another node, another step of the ratchet, or another branch.',
  },
  STATE_WRAPPED_KEY_MALFORMED: { category: 'restore', description: 'A wrapped bundle key is not in the `swk1.<base64url>` form.' },
  STATE_SEALED_SECRET_MALFORMED: { category: 'input', description: 'A sealed secret is not in the `sealed:v1:<base64url>` form.' },
  STATE_SEALED_SECRET_INVALID: {
    category: 'restore',
    description: 'A sealed secret does not open: another installation secret, another context, or tampered bytes.',
  },
  STATE_BUNDLE_NOT_FOUND: { category: 'restore', description: 'The sealed bundle file does not exist or cannot be read.' },
  STATE_BUNDLE_FORMAT_UNSUPPORTED: {
    category: 'restore',
    description: 'The file is not a sealed swarm bundle, or uses a format version this swarm does not read.',
  },
  STATE_BUNDLE_CORRUPT: {
    category: 'restore',
    description: 'The sealed bundle fails authentication: truncated, reordered, duplicated, appended or altered bytes.',
  },
  STATE_BUNDLE_DIGEST_MISMATCH: { category: 'restore', description: 'The sealed bundle bytes do not have the digest the node recorded.' },
  STATE_BUNDLE_UNSAFE_PATH: {
    category: 'restore',
    description: 'A bundle entry has an absolute path, a `..` component, or a path outside `workspace/`.',
  },
  STATE_BUNDLE_UNSAFE_LINK: {
    category: 'restore',
    description: 'A bundle holds a hard link, a symlink that escapes the workspace, or an entry written through a symlink.',
  },
  STATE_BUNDLE_SPECIAL_FILE: { category: 'restore', description: 'A bundle holds a device, fifo or other special entry.' },
  STATE_BUNDLE_DUPLICATE_ENTRY: { category: 'restore', description: 'A bundle holds the same path twice.' },
  STATE_BUNDLE_TOO_LARGE: { category: 'restore', description: 'A bundle unpacks to more bytes or entries than the restore limits allow.' },
  STATE_BUNDLE_MANIFEST_MISMATCH: {
    category: 'restore',
    description: 'A bundle manifest is missing, malformed, or does not match the entries it describes.',
  },
  STATE_RESTORE_TARGET_EXISTS: { category: 'input', description: 'The restore destination already holds a workspace or state DB.' },
  STATE_SNAPSHOT_SOURCE_INVALID: { category: 'input', description: 'The workspace or state DB to snapshot is missing or not the right kind of file.' },
  STATE_SNAPSHOT_SOURCE_CHANGED: {
    category: 'input',
    description: 'A workspace file changed while it was being packed; stop whatever still writes to it and retry.',
    retryable: true,
  },
  STATE_SNAPSHOT_HOLDS_SECRET: {
    category: 'policy',
    description: 'A file, name or link the run would seal holds the value of a secret granted to the step, so nothing was sealed or committed.',
  },
  STATE_SNAPSHOT_TOO_LARGE: {
    category: 'input',
    description: 'The workspace and state DB are more bytes or entries than restore accepts, so nothing was sealed or committed.',
  },
  STATE_BUNDLE_ENTRY_CHANGED: {
    category: 'input',
    description:
      'A workspace entry was swapped (for a symlink, or another file or directory) between the walk and the pack, as a process the step left running could do; nothing was sealed.',
  },
} satisfies Record<string, ErrorCodeInfo>;

export type StateErrorCode = keyof typeof STATE_ERROR_CODES;

registerErrorCodes('state', STATE_ERROR_CODES);
