/**
 * The engine's phases, in the order a run goes through them (DESIGN §5): restore → egress →
 * policy → execute → record → seal → ratchet → certify → commit. Each takes typed input and
 * returns what the next needs; only commit touches the catalog, so a worker with a sealed bundle
 * and a capability (a CI runner) runs restore…certify on its own.
 */
export { runPaths, type RunPaths } from './run-paths.js';
export { restore, type RestoreInput, type Restored } from './restore.js';
export {
  DEFAULT_MOUNT_PATH,
  OPERATOR_SECRET_DIRS,
  checkMountPath,
  hostView,
  openEgress,
  operatorSecretDirs,
  requireEgress,
  sandboxView,
  type Egress,
  type EgressInput,
  type StepView,
} from './egress.js';
export { buildPolicy, type Policy, type PolicyInput } from './policy.js';
export { execute, writeStepInputs, type Executed, type ExecuteInput } from './execute.js';
export { stepCommand, type StepCommand } from './step-command.js';
export { STEP_BASE_ENV, grantedEnvironment, stepBaseEnv, type GrantedEnvironment } from './step-env.js';
export { record, type RunFacts } from './record.js';
export { seal, snapshot, type Sealed, type Snapshotted } from './seal.js';
export { ratchet } from './ratchet.js';
export { certify, REPLAY_WINDOW_S, type Certified, type CertifyInput } from './certify.js';
export { nextTokensDocument, resultDocument, type ResultInput } from './documents.js';
export { commit, writeContractFiles, type ContractFiles } from './commit.js';
