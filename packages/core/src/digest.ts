import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

/** A digest as swarm writes it: `sha256:` and 64 lowercase hex digits. */
export type Digest = `sha256:${string}`;

export const SWARM_DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256Digest(data: string | Uint8Array): Digest {
  return `sha256:${sha256Hex(data)}`;
}

export function isSwarmDigest(value: unknown): value is Digest {
  return typeof value === 'string' && SWARM_DIGEST_RE.test(value);
}

/** Hex of a digest string, or undefined when it is not in swarm's form. */
export function digestHex(value: string): string | undefined {
  return SWARM_DIGEST_RE.test(value) ? value.slice(7) : undefined;
}

/** Streaming SHA-256 over a readable stream (bounded memory). */
export async function sha256Stream(stream: Readable): Promise<Digest> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** An incremental hasher for code that already holds chunks. */
export function createDigester(): { update(chunk: Uint8Array): void; digest(): Digest } {
  const hash = createHash('sha256');
  return {
    update: (chunk) => void hash.update(chunk),
    digest: () => `sha256:${hash.digest('hex')}`,
  };
}
