/** Error codes of operator secrets and the audit log. Importing this module registers them. */
import { registerErrorCodes, type ErrorCodeInfo } from '@swarm/core';

export const SECRET_ERROR_CODES = {
  SECRET_NAME_INVALID: { category: 'input', description: 'A secret name is not a letter or `_` followed by up to 127 letters, digits or `_`.' },
  SECRET_VALUE_INVALID: {
    category: 'input',
    description: 'A secret value is empty, shorter than 4 characters (it could not be redacted reliably), over 64 KiB, not UTF-8 text, holds a NUL, or its two entries at the prompt differ.',
  },
  SECRET_NOT_FOUND: { category: 'input', description: 'No secret with this name is stored in `$SWARM_HOME/secrets/`.' },
  SECRET_UNREADABLE: {
    category: 'verification',
    description: 'A stored secret file does not open: it was edited, renamed, made readable by others, or sealed under another installation secret. Set the secret again.',
  },
  SECRET_GRANT_INVALID: {
    category: 'input',
    description: '`--secret NAME[=ENVVAR]` is malformed, names a variable swarm sets itself (`SWARM_*`, `HOME`, the proxy variables), or gives two secrets the same variable.',
  },
  SECRET_ENTRY_INTERRUPTED: { category: 'interrupted', description: 'Ctrl-C at the secret prompt; nothing was stored.' },
  AUDIT_CHAIN_BROKEN: {
    category: 'verification',
    description:
      'The audit log fails verification: an edited, reordered, removed or truncated line, or an `audit.head` that does not match it. `error.details` names the line and the reason; nothing is appended to a broken log.',
  },
  AUDIT_BUSY: { category: 'internal', description: 'Another swarm process held the audit log lock for too long; retry.', retryable: true },
} satisfies Record<string, ErrorCodeInfo>;

registerErrorCodes('state', SECRET_ERROR_CODES);
