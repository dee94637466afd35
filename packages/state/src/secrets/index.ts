export { SECRET_ERROR_CODES } from './errors.js';
export { assertSecretName, MAX_SECRET_VALUE_BYTES } from './names.js';
export { setSecret, readSecret, listSecrets, removeSecret, type SecretInfo, type SetSecretResult, type SecretStoreOptions } from './store.js';
export { resolveSecretGrants, type ResolvedSecretGrants, type SecretGrant } from './grants.js';
export {
  listAudit,
  verifyAudit,
  type AuditAction,
  type AuditEntry,
  type AuditProblemReason,
  type AuditVerification,
  type AuditIntact,
  type AuditBroken,
  type ListAuditOptions,
} from './audit.js';
