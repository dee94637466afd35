/**
 * The worker's artifact: one zip named after the request, holding the sealed bundle, the
 * contract files, the redacted step log and a manifest of every file's sha256. Reading one back
 * trusts nothing GitHub or gh says about it: the artifact is listed through the API, downloaded
 * by id, its bytes checked against the digest recorded at upload, unzipped by our own strict
 * reader, and its files checked against the manifest.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SwarmError, canonicalBytes, sha256Digest } from '@swarm/core';
import { jsonOf, type GithubApi, type RemoteArtifact } from './api.js';
import './errors.js';
import { artifactName } from './workflow-file.js';
import { readZipStrict } from './zip.js';

export const ARTIFACT_FILES = [
  'bundle.swarm',
  'certificate.json',
  'certificate.dsse.json',
  'result.json',
  'policy.json',
  'step.log',
  'next_tokens.json',
  'error.json',
  'oidc.jwt',
  'manifest.json',
] as const;
export type ArtifactFile = (typeof ARTIFACT_FILES)[number];

export const ARTIFACT_LIMITS = { maxEntries: 16, maxTotalBytes: 4 * 1024 * 1024 * 1024, maxEntryBytes: 4 * 1024 * 1024 * 1024, maxRatio: 200 };

export interface ArtifactManifest {
  v: 1;
  request_id: string;
  run_id: string;
  files: Record<string, string>;
}

const sha256 = sha256Digest;

/** The manifest the worker writes over the files in `dir` (every regular file but the manifest). */
export function writeArtifactManifest(dir: string, requestId: string, runId: string): ArtifactManifest {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === 'manifest.json') continue;
    if (!(ARTIFACT_FILES as readonly string[]).includes(name)) throw new SwarmError('INTERNAL', `unexpected artifact file ${name}`);
    files[name] = sha256(fs.readFileSync(path.join(dir, name)));
  }
  const manifest: ArtifactManifest = { v: 1, request_id: requestId, run_id: runId, files };
  fs.writeFileSync(path.join(dir, 'manifest.json'), canonicalBytes(manifest));
  return manifest;
}

/** Exactly one live artifact of this request with a digest, belonging to this run. */
export async function findArtifact(api: GithubApi, repo: string, runId: number, requestId: string, timeoutMs: number): Promise<RemoteArtifact> {
  const name = artifactName(requestId);
  const list = jsonOf<{ artifacts?: RemoteArtifact[] }>(
    await api.request('GET', `repos/${repo}/actions/runs/${runId}/artifacts`, { query: { name, per_page: 100 }, timeoutMs, retry: true }),
  );
  const named = (list.artifacts ?? []).filter((a) => a.name === name);
  const details = { remote_run_id: runId, artifact: name };
  if (named.length === 0) throw new SwarmError('ARTIFACT_MISSING', `run ${runId} has no artifact ${name}`, { details, hint: 'the worker may have failed before uploading; see the run log' });
  if (named.length > 1) throw new SwarmError('ARTIFACT_AMBIGUOUS', `run ${runId} has ${named.length} artifacts named ${name}`, { details: { ...details, ids: named.map((a) => a.id) } });
  const artifact = named[0]!;
  // The id becomes a path and a file name: only a positive integer.
  if (!Number.isSafeInteger(artifact.id) || artifact.id <= 0) throw new SwarmError('GH_RESPONSE_INVALID', `GitHub answered an artifact id ${JSON.stringify(artifact.id)}`);
  if (artifact.expired) throw new SwarmError('ARTIFACT_EXPIRED', `artifact ${name} of run ${runId} has expired`, { details });
  if (artifact.workflow_run?.id !== undefined && artifact.workflow_run.id !== runId) {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `artifact ${artifact.id} belongs to run ${artifact.workflow_run.id}, not ${runId}`, { details });
  }
  if (!artifact.digest || !/^sha256:[0-9a-f]{64}$/.test(artifact.digest)) {
    throw new SwarmError('ARTIFACT_DIGEST_MISSING', `GitHub reports no sha256 digest for artifact ${artifact.id}`, { details });
  }
  return artifact;
}

/** Downloads by id into `dir` and returns the zip's bytes once they match the digest. */
export async function downloadArtifact(api: GithubApi, repo: string, artifact: RemoteArtifact, dir: string, timeoutMs: number): Promise<Buffer> {
  if (!Number.isSafeInteger(artifact.id) || artifact.id <= 0) throw new SwarmError('GH_RESPONSE_INVALID', `not an artifact id: ${JSON.stringify(artifact.id)}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `artifact-${artifact.id}.zip`);
  fs.rmSync(file, { force: true });
  await api.download(`repos/${repo}/actions/artifacts/${artifact.id}/zip`, file, { timeoutMs, retry: true });
  const bytes = fs.readFileSync(file);
  const actual = sha256(bytes);
  if (actual !== artifact.digest) {
    throw new SwarmError('ARTIFACT_DIGEST_MISMATCH', `artifact ${artifact.id} is ${actual}, GitHub recorded ${artifact.digest} at upload`, {
      details: { artifact_id: artifact.id, expected: artifact.digest, actual },
    });
  }
  return bytes;
}

/** The artifact's files, each checked against its manifest, which must name this request and run. */
export function unpackArtifact(zip: Buffer, expect: { requestId: string; runId: string }): Map<ArtifactFile, Buffer> {
  const entries = readZipStrict(zip, { ...ARTIFACT_LIMITS, allowed: (name: string) => (ARTIFACT_FILES as readonly string[]).includes(name) });
  const files = new Map<ArtifactFile, Buffer>();
  for (const [name, data] of entries) files.set(name as ArtifactFile, data);
  const mismatch = (why: string) => new SwarmError('ARTIFACT_MANIFEST_MISMATCH', `the artifact does not match its manifest: ${why}`, { details: { reason: why } });
  const raw = files.get('manifest.json');
  if (!raw) throw mismatch('it has no manifest.json');
  let manifest: ArtifactManifest;
  try {
    manifest = JSON.parse(raw.toString('utf8')) as ArtifactManifest;
  } catch {
    throw mismatch('manifest.json is not JSON');
  }
  if (manifest.v !== 1 || typeof manifest.files !== 'object' || manifest.files === null) throw mismatch('manifest.json has no file list');
  // A worker that failed before it could open the envelope does not know the run id yet.
  const runKnown = manifest.run_id === expect.runId || (manifest.run_id === '' && files.has('error.json') && !files.has('certificate.json'));
  if (manifest.request_id !== expect.requestId || !runKnown) {
    throw new SwarmError('RUN_IDENTITY_MISMATCH', `the artifact is of request ${String(manifest.request_id)} / run ${String(manifest.run_id)}, not ${expect.requestId} / ${expect.runId}`);
  }
  for (const [name, data] of files) {
    if (name === 'manifest.json') continue;
    if (manifest.files[name] === undefined) throw mismatch(`${name} is not in the manifest`);
    if (manifest.files[name] !== sha256(data)) throw mismatch(`${name} has another sha256 than the manifest says`);
  }
  for (const name of Object.keys(manifest.files)) if (!files.has(name as ArtifactFile)) throw mismatch(`${name} is missing`);
  return files;
}
