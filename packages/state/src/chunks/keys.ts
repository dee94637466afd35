/**
 * Keys of the chunk store. Both come from the installation's root secret, so two installations
 * never share a chunk id or a chunk key (nothing one stores can be found or opened by the other):
 * - the id key makes a chunk's address a keyed hash, HMAC-SHA256(id key, SHA-256(plaintext)), so
 *   someone holding the store but not the secret cannot confirm a guess of a file's content;
 * - the encryption key seals every chunk with XChaCha20-Poly1305 under a synthetic nonce (a keyed
 *   hash of the exact message sealed, stored with it) and the id as aad: one nonce never seals two
 *   messages, even when compression gives other bytes for the same chunk on another machine.
 * Which chunks make up a node is known only from its index, sealed under the node's own data key.
 */
import { createHmac } from 'node:crypto';
import { hkdf } from '../crypto/hkdf.js';

export const CHUNK_ID_BYTES = 32;

export interface ChunkKeys {
  id: Buffer;
  enc: Buffer;
  /** Keys the synthetic nonce of each sealed chunk. */
  nonce: Buffer;
}

export function chunkKeys(rootSecret: Buffer): ChunkKeys {
  return { id: hkdf(rootSecret, 'swarm/v1/chunks/id-key'), enc: hkdf(rootSecret, 'swarm/v1/chunks/enc-key'), nonce: hkdf(rootSecret, 'swarm/v1/chunks/nonce-key') };
}

/** The chunk id of content whose SHA-256 is `sha256` (32 raw bytes). */
export function chunkId(keys: ChunkKeys, sha256: Buffer): Buffer {
  return createHmac('sha256', keys.id).update(sha256).digest();
}

/** The id of a single-chunk file, from its manifest digest `sha256:<hex>`. */
export function chunkIdOfDigest(keys: ChunkKeys, digest: string): Buffer {
  return chunkId(keys, Buffer.from(digest.slice(7), 'hex'));
}
