export { hkdf } from './hkdf.js';
export {
  hchacha20,
  xchachaSeal,
  xchachaOpen,
  XChaCha20Poly1305,
  XCHACHA_KEY_BYTES,
  XCHACHA_NONCE_BYTES,
  POLY1305_TAG_BYTES,
} from './xchacha.js';
export { rootChainKeys, ratchetChainKey, ratchetChainKeys, CHAIN_KEY_BYTES, type ChainKeys, type RatchetOperation } from './ratchet.js';
export { bundleWrapKey, deriveDataKey, wrapDataKey, unwrapDataKey, DATA_KEY_BYTES, WRAPPED_KEY_PREFIX } from './key-wrap.js';
export { sealSecret, openSecret, isSealedSecret, SEALED_SECRET_PREFIX } from './seal-secret.js';
export {
  createSealStream,
  BundleSealer,
  BundleOpener,
  createOpenStream,
  sealBytes,
  openBytes,
  parseBundleHeader,
  streamSealParams,
  type StreamSealParams,
  BUNDLE_MAGIC,
  BUNDLE_FORMAT_VERSION,
  BUNDLE_HEADER_BYTES,
  BUNDLE_CHUNK_OVERHEAD,
  BUNDLE_CHUNK_NONCE_LABEL,
  DEFAULT_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  type BundleHeader,
  type SealStreamOptions,
  type OpenStreamOptions,
} from './stream.js';
