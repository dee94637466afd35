/**
 * Runs on GitHub Actions, from the operator's side: dispatch, watch, collect and cancel. The
 * middle packages meet here: the store (state), the certificate pipeline (verify) and the gh
 * client (github).
 */
export { dispatchRemote, requestIdFor, type Dispatched, type RemoteLaunchOptions } from './dispatch.js';
export { cancelRemote, watchRemote, type CancelResult, type WatchOptions } from './watch.js';
export { collectRemote, type CollectOptions, type Collected } from './collect.js';
export { ledgerEntry } from './ledger-store.js';
export type { SetupRecord } from './context.js';
