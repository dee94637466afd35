/**
 * The one definition of how big a bundle may be. Restore refuses more; the packer refuses to seal
 * more, so a node that commits can always be restored.
 */
export interface BundleLimits {
  /** Total content bytes: workspace files, the state DB and the manifest. */
  maxBytes: number;
  /** Tar entries: workspace entries, the state DB and the manifest. */
  maxEntries: number;
  /** The manifest is held in memory to be parsed. */
  maxManifestBytes: number;
}

export const BUNDLE_LIMITS: Readonly<BundleLimits> = Object.freeze({
  maxBytes: 8 * 1024 * 1024 * 1024,
  maxEntries: 1_000_000,
  maxManifestBytes: 256 * 1024 * 1024,
});

/** Entries every bundle holds besides the workspace: `state.db` and `manifest.json`. */
export const FIXED_ENTRIES = 2;

/**
 * Longest `workspace/...` path the packer puts in a bundle. Restore writes by absolute path, so
 * this leaves 1 KiB of PATH_MAX (4096) for the directory a bundle is restored into, wherever that
 * is; deeper entries are skipped and reported, the same in every directory.
 */
export const MAX_PACKED_PATH_BYTES = 3072;
