/**
 * Getting a parent's sealed bundle to a runner. A client cannot upload an Actions artifact from
 * outside a run, so a local parent travels as Git blobs through the API (chunked under GitHub's
 * blob limit; each chunk's Git object id checked on both ends, the whole file by the sha256 the
 * signed envelope carries). A parent that came from an earlier remote run is already an
 * artifact: the runner downloads it by id and checks the artifact digest and the bundle sha256.
 * The bundle is sealed, so readers of the repository learn only its size.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { SwarmError } from '@swarm/core';
import { jsonOf, type GithubApi } from './api.js';
import './errors.js';
import type { InputLocator } from './envelope.js';

/** GitHub accepts blobs of about 40 MiB; chunks stay well under. */
export const BLOB_CHUNK_BYTES = 32 * 1024 * 1024;
/** A bundle larger than this is refused before anything is uploaded. */
export const MAX_INPUT_BYTES = 2 * 1024 * 1024 * 1024;

export function gitBlobSha(data: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

export async function uploadBundleBlobs(
  api: GithubApi,
  repo: string,
  file: string,
  options: { timeoutMs: number; chunkBytes?: number; onProgress?: (done: number, total: number) => void },
): Promise<Extract<InputLocator, { transport: 'gh-blobs' }>> {
  const size = fs.statSync(file).size;
  if (size > MAX_INPUT_BYTES) {
    throw new SwarmError('GH_INPUT_TOO_LARGE', `the parent bundle is ${size} bytes; the GitHub backend takes at most ${MAX_INPUT_BYTES}`, { details: { size } });
  }
  const chunkBytes = options.chunkBytes ?? BLOB_CHUNK_BYTES;
  const hash = crypto.createHash('sha256');
  const blobs: string[] = [];
  const fd = fs.openSync(file, 'r');
  try {
    for (let offset = 0; offset < size || (size === 0 && blobs.length === 0); offset += chunkBytes) {
      const chunk = Buffer.alloc(Math.min(chunkBytes, size - offset));
      fs.readSync(fd, chunk, 0, chunk.length, offset);
      hash.update(chunk);
      const expected = gitBlobSha(chunk);
      const created = jsonOf<{ sha?: string }>(
        await api.request('POST', `repos/${repo}/git/blobs`, { body: { content: chunk.toString('base64'), encoding: 'base64' }, timeoutMs: options.timeoutMs, retry: true }),
      );
      if (created.sha !== expected) {
        throw new SwarmError('GH_RESPONSE_INVALID', `GitHub stored a blob as ${String(created.sha)}, not as ${expected}`, { details: { expected } });
      }
      blobs.push(expected);
      options.onProgress?.(Math.min(offset + chunkBytes, size), size);
      if (size === 0) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return { transport: 'gh-blobs', blobs, sha256: `sha256:${hash.digest('hex')}`, size };
}

/** The runner's side: blobs fetched raw, each checked, written to `file`, the whole checked. */
export async function fetchBundleBlobs(api: GithubApi, repo: string, locator: Extract<InputLocator, { transport: 'gh-blobs' }>, file: string, timeoutMs: number): Promise<void> {
  const hash = crypto.createHash('sha256');
  const out = fs.openSync(file, 'wx', 0o600);
  let size = 0;
  try {
    for (const sha of locator.blobs) {
      if (!/^[0-9a-f]{40}$/.test(sha)) throw transportFailed(`blob id ${JSON.stringify(sha)} is malformed`);
      const response = await api.request('GET', `repos/${repo}/git/blobs/${sha}`, { accept: 'application/vnd.github.raw', timeoutMs, retry: true });
      if (gitBlobSha(response.body) !== sha) throw transportFailed(`blob ${sha} came back with other bytes`);
      hash.update(response.body);
      fs.writeSync(out, response.body);
      size += response.body.length;
    }
    fs.fsyncSync(out);
  } finally {
    fs.closeSync(out);
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== locator.sha256 || size !== locator.size) throw transportFailed(`the parent bundle is ${digest} (${size} bytes), the envelope says ${locator.sha256} (${locator.size} bytes)`);
}

export function transportFailed(why: string, cause?: unknown): SwarmError {
  return new SwarmError('INPUT_TRANSPORT_FAILED', `cannot fetch the parent bundle: ${why}`, { cause });
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
