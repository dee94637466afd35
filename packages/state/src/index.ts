export * from './errors.js';
export * from './engine-errors.js';
export * from './crypto/index.js';
export * from './bundle/index.js';
export * from './state-db.js';
export { Catalog, type AttemptRow, type LedgerRow, type NodeRow, type RunRow, type NodeKind } from './store/catalog.js';
export { storePaths, findProjectRoot, objectPath, runDir, STORE_DIR, type StorePaths } from './store/paths.js';
export { Store, GENERATOR, ROOT_NODE_ID } from './store/store.js';
export { type ChainKeys } from './store/keyring.js';
export { launchRun, newRunId, type LaunchOptions, type LaunchResult, type RemoteRuntime } from './run/launch.js';
export { stepCommand, type StepCommand } from './engine/step-command.js';
export { forkNode, type ForkOptions, type ForkResult } from './run/fork.js';
export {
  runStatus,
  listRuns,
  runLogPath,
  runFinished,
  loadGraph,
  renderGraph,
  inspectNode,
  exportNode,
  bundleNode,
  loadCertificateChain,
  collectGarbage,
  cancelRun,
  type ChainLink,
  type Graph,
  type GcResult,
  type NodeInspection,
  type RunStatus,
} from './run/queries.js';
export { Redactor, redactText } from './run/redact.js';
export { psRuns, signalRun, markSupervisor, supervisorDir, recordRunAttempt, type PsRow, type RunState } from './run/supervision.js';
export { initStore } from './init.js';
export { exportNodeBundle, nodeObjectDigest, type ExportedBundle } from './chunks/node-content.js';
export { treeCacheSize } from './chunks/cache.js';
export type { ChunkGcResult, StorageStats } from './chunks/gc.js';
export { removeRuns, removeBranch } from './store/remove.js';
export * from './diff/errors.js';
export { diffNodes, type NodeDiff } from './diff/diff.js';
export { applyNode, type ApplyResult } from './diff/apply.js';
export { applyNodeToBranch, type BranchResult } from './diff/git-branch.js';
export type { FileDiffSummary, FileStatus } from './diff/unified.js';
export * from './secrets/index.js';
export { listSessions, showSession, searchSessions, renderSessionExport, type SessionRow, type EventRow, type SessionDetail, type SearchHit } from './agents/archive.js';
export { AGENTS, isAgentName } from './agents/index.js';
export type { AgentName, AgentAdapter } from './agents/types.js';
export { adoptParent, importRemoteRun, type AdoptParentInput, type ImportRemoteRunInput, type RemoteRunFiles } from './run/remote.js';
export { inheritedEgress, type InheritedEgress } from './run/inherit.js';
export { unwrapNodeDataKey } from './store/keyring.js';
export { DEFAULT_MOUNT_PATH } from './engine/egress.js';
