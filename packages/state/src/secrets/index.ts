import './errors.js';

export { assertSecretName, MAX_SECRET_VALUE_BYTES } from './names.js';
export { setSecret, readSecret, listSecrets, removeSecret, type SecretInfo, type SetSecretResult } from './store.js';
export { resolveSecretGrants, type ResolvedSecretGrants, type SecretGrant } from './grants.js';
export { listAudit, verifyAudit, type AuditEntry, type AuditVerification } from './audit.js';
