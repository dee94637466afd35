export {
  createSealedBundle,
  type CreateSealedBundleOptions,
  type SealedBundle,
} from './pack.js';
export {
  openSealedBundle,
  readBundleManifest,
  listBundle,
  extractStateDb,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_ENTRIES,
  type OpenSealedBundleOptions,
  type OpenedBundle,
  type RestoreLimits,
  type BundleListing,
} from './extract.js';
export {
  BUNDLE_MANIFEST_SCHEMA_VERSION,
  encodeBundleManifest,
  parseBundleManifest,
  type BundleManifest,
  type BundleManifestEntry,
  type BundleEntryType,
} from './manifest.js';
export { walkWorkspace, type WorkspaceEntry, type SkippedEntry } from './walk.js';
