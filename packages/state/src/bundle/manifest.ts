/**
 * The bundle manifest: one entry per workspace and home entry and one for `state.db`, written as
 * canonical JSON as the last tar entry. Its digest (`manifestSha256`) is what certificates record.
 * The packer writes v3: each entry's mtime, and the step's HOME under `home/`. v2 (mtimes, no home)
 * and v1 (no mtimes: every one the run clock) are still read, so older nodes restore.
 */
import { SwarmError, canonicalBytes, canonicalize, isSwarmDigest, sha256Digest, type Digest } from '@swarm/core';
import '../errors.js';
import { parseEntryName } from './paths.js';
import { MAX_TAR_MTIME_SEC } from './tar-format.js';

/** What the packer writes. */
export const BUNDLE_MANIFEST_SCHEMA_VERSION = 'swarm-bundle-manifest-v3';
/** Manifests with mtimes and no home section; restore still accepts them. */
export const BUNDLE_MANIFEST_SCHEMA_VERSION_V2 = 'swarm-bundle-manifest-v2';
/** Manifests without mtimes; restore still accepts them. */
export const BUNDLE_MANIFEST_SCHEMA_VERSION_V1 = 'swarm-bundle-manifest-v1';
export type BundleManifestSchemaVersion =
  | typeof BUNDLE_MANIFEST_SCHEMA_VERSION
  | typeof BUNDLE_MANIFEST_SCHEMA_VERSION_V2
  | typeof BUNDLE_MANIFEST_SCHEMA_VERSION_V1;
const VERSIONS: readonly string[] = [BUNDLE_MANIFEST_SCHEMA_VERSION, BUNDLE_MANIFEST_SCHEMA_VERSION_V2, BUNDLE_MANIFEST_SCHEMA_VERSION_V1];

export type BundleEntryType = 'file' | 'dir' | 'symlink';

export interface BundleManifestEntry {
  /** Path inside the bundle: `workspace/<relative path>`, `home/<relative path>` (v3) or `state.db`. */
  path: string;
  type: BundleEntryType;
  /** Permission bits (0..0o777). */
  mode: number;
  /** Bytes of content; 0 for directories and symlinks. */
  size: number;
  /** Digest of the content, files only. */
  sha256?: Digest;
  /** The link text, symlinks only, kept verbatim. */
  target?: string;
  /** Modification time in whole seconds, at most the run clock; v2 on (required there). */
  mtime?: number;
}

export interface BundleManifest {
  schema_version: BundleManifestSchemaVersion;
  entries: BundleManifestEntry[];
}

export function encodeBundleManifest(manifest: BundleManifest): { bytes: Buffer; sha256: Digest } {
  const bytes = canonicalBytes(manifest);
  return { bytes, sha256: sha256Digest(bytes) };
}

function invalid(reason: string, details: Record<string, unknown> = {}): SwarmError {
  return new SwarmError('STATE_BUNDLE_MANIFEST_MISMATCH', `bundle manifest is invalid: ${reason}`, { details: { reason, ...details } });
}

const ENTRY_KEYS_V1: Record<BundleEntryType, string[]> = {
  file: ['mode', 'path', 'sha256', 'size', 'type'],
  dir: ['mode', 'path', 'size', 'type'],
  symlink: ['mode', 'path', 'size', 'target', 'type'],
};
const ENTRY_KEYS: Record<BundleManifestSchemaVersion, Record<BundleEntryType, string>> = {
  [BUNDLE_MANIFEST_SCHEMA_VERSION_V1]: keyLists(ENTRY_KEYS_V1, []),
  [BUNDLE_MANIFEST_SCHEMA_VERSION_V2]: keyLists(ENTRY_KEYS_V1, ['mtime']),
  [BUNDLE_MANIFEST_SCHEMA_VERSION]: keyLists(ENTRY_KEYS_V1, ['mtime']),
};

function keyLists(base: Record<BundleEntryType, string[]>, extra: string[]): Record<BundleEntryType, string> {
  const join = (keys: string[]) => [...keys, ...extra].sort().join(',');
  return { file: join(base.file), dir: join(base.dir), symlink: join(base.symlink) };
}

/** Parses manifest bytes; they must be canonical JSON of a well-formed manifest. */
export function parseBundleManifest(bytes: Uint8Array): { manifest: BundleManifest; sha256: Digest } {
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw invalid('not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('not an object');
  const record = value as Record<string, unknown>;
  if (Object.keys(record).sort().join(',') !== 'entries,schema_version') throw invalid('unexpected top-level keys');
  const version = record.schema_version;
  if (typeof version !== 'string' || !VERSIONS.includes(version)) throw invalid('unknown schema_version');
  const schema = version as BundleManifestSchemaVersion;
  if (!Array.isArray(record.entries)) throw invalid('entries is not an array');
  const seen = new Set<string>();
  for (const [index, raw] of record.entries.entries()) {
    const at = { index };
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('entry is not an object', at);
    const entry = raw as Record<string, unknown>;
    const type = entry.type;
    if (type !== 'file' && type !== 'dir' && type !== 'symlink') throw invalid('unknown entry type', at);
    if (Object.keys(entry).sort().join(',') !== ENTRY_KEYS[schema][type]) throw invalid('unexpected entry keys', at);
    if (typeof entry.path !== 'string') throw invalid('path is not a string', at);
    let name;
    try {
      name = parseEntryName(entry.path, false);
    } catch {
      throw invalid('unsafe path', at);
    }
    if (name.kind === 'manifest' || name.path !== entry.path) throw invalid('path outside the bundle layout', at);
    if (name.kind === 'tree' && name.tree === 'home' && schema !== BUNDLE_MANIFEST_SCHEMA_VERSION) throw invalid('home entries before v3', at);
    if (name.kind === 'state.db' && type !== 'file') throw invalid('state.db is not a file', at);
    if (seen.has(entry.path)) throw invalid('duplicate path', at);
    seen.add(entry.path);
    if (!Number.isInteger(entry.mode) || (entry.mode as number) < 0 || (entry.mode as number) > 0o777) throw invalid('bad mode', at);
    if (!Number.isSafeInteger(entry.size) || (entry.size as number) < 0) throw invalid('bad size', at);
    if (type === 'file' && !isSwarmDigest(entry.sha256)) throw invalid('bad sha256', at);
    if (type !== 'file' && entry.size !== 0) throw invalid('non-file with a size', at);
    if (type === 'symlink' && (typeof entry.target !== 'string' || entry.target.length === 0)) throw invalid('bad symlink target', at);
    if (schema !== BUNDLE_MANIFEST_SCHEMA_VERSION_V1 && !(Number.isInteger(entry.mtime) && (entry.mtime as number) >= 0 && (entry.mtime as number) <= MAX_TAR_MTIME_SEC)) {
      throw invalid('bad mtime', at);
    }
  }
  // Canonical bytes only, so one manifest has exactly one digest.
  if (canonicalize(value) !== text) throw invalid('not canonical JSON');
  return { manifest: value as BundleManifest, sha256: sha256Digest(bytes) };
}
