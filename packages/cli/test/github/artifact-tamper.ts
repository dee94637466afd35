/**
 * Helpers for the collect fault tests: read a stored artifact the way collect does, rebuild it
 * (files changed, manifest recomputed the way the worker writes it), re-zip it with the hostile
 * zip writer, and put it back in the emulator with a digest that matches the new bytes — so the
 * check under test, not the digest check, is what has to catch it. Plus read-only views of the
 * catalog (nodes, runs, ledger) and the store's directories, to show the DAG did not change.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalBytes } from '@swarm/core';
import { ARTIFACT_LIMITS, artifactName, readZipStrict } from '@swarm/github';
import type { EmulatedArtifact, GithubEmulator } from '../../../test-utils/src/github/emulator.js';
import { writeZip, type ZipEntryInput } from '../../../test-utils/src/github/zip-write.js';

export const sha256 = (data: Buffer | string): string => `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;

/** The one artifact of a request, as the emulator stores it (bytes, digest, name). */
export function storedArtifact(emulator: GithubEmulator, remoteRunId: number, requestId: string): EmulatedArtifact {
  const named = emulator.artifacts(remoteRunId).filter((a) => a.name === artifactName(requestId));
  if (named.length !== 1) throw new Error(`expected one artifact ${artifactName(requestId)} in run ${remoteRunId}, found ${named.length}`);
  return named[0]!;
}

/** The files of a zip, read with the product's strict reader (the real artifact must pass it). */
export function readArtifactFiles(zip: Buffer): Map<string, Buffer> {
  return readZipStrict(zip, ARTIFACT_LIMITS);
}

/** manifest.json exactly as writeArtifactManifest writes it: every file but the manifest, sorted, canonical JSON. */
export function manifestBytes(files: Map<string, Buffer>, requestId: string, runId: string): Buffer {
  const list: Record<string, string> = {};
  for (const name of [...files.keys()].sort()) if (name !== 'manifest.json') list[name] = sha256(files.get(name)!);
  return canonicalBytes({ v: 1, request_id: requestId, run_id: runId, files: list });
}

export function parseManifest(files: Map<string, Buffer>): { v: 1; request_id: string; run_id: string; files: Record<string, string> } {
  return JSON.parse(files.get('manifest.json')!.toString('utf8'));
}

/** The files with the manifest recomputed over them (for the request/run ids it already names, unless given). */
export function withManifest(files: Map<string, Buffer>, ids?: { requestId: string; runId: string }): Map<string, Buffer> {
  const current = parseManifest(files);
  const out = new Map(files);
  out.set('manifest.json', manifestBytes(files, ids?.requestId ?? current.request_id, ids?.runId ?? current.run_id));
  return out;
}

/** A zip of the files, in order (deflated, regular files), plus any hostile extras appended. */
export function zipFiles(files: Map<string, Buffer>, extra: ZipEntryInput[] = []): Buffer {
  return writeZip([...[...files].map(([name, data]) => ({ name, data })), ...extra]);
}

/** Replaces the stored bytes of an artifact and makes GitHub's digest (and size) agree with them. */
export function replaceArtifact(emulator: GithubEmulator, id: number, zip: Buffer): void {
  emulator.tamperArtifact(id, zip);
  emulator.setArtifact(id, { digest: sha256(zip), size_in_bytes: zip.length });
}

/** Puts an artifact back exactly as it was uploaded. */
export function restoreArtifact(emulator: GithubEmulator, original: EmulatedArtifact): void {
  emulator.tamperArtifact(original.id, original.bytes);
  emulator.setArtifact(original.id, {
    name: original.name,
    digest: original.digest,
    size_in_bytes: original.size_in_bytes,
    expired: original.expired,
    expires_at: original.expires_at,
  });
}

/** Edits one JSON file of the artifact (the edit mutates the parsed document); canonical JSON out. */
export function editJson(files: Map<string, Buffer>, name: string, edit: (doc: any) => void): Map<string, Buffer> {
  const doc = JSON.parse(files.get(name)!.toString('utf8'));
  edit(doc);
  const out = new Map(files);
  out.set(name, canonicalBytes(doc));
  return out;
}

// ------------------------------------------------------------------------------------------------
// The store, read from outside swarm

export interface StoreView {
  nodes: number;
  runs: number;
  nodeIds: string[];
}

function catalogFile(project: string): string {
  return path.join(project, '.swarm', 'catalog.sqlite');
}

function withDb<T>(project: string, fn: (db: Database.Database) => T, readonly = true): T {
  const db = new Database(catalogFile(project), { readonly, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 10000');
    return fn(db);
  } finally {
    db.close();
  }
}

export function storeView(project: string): StoreView {
  return withDb(project, (db) => {
    const nodeIds = (db.prepare('SELECT node_id FROM nodes ORDER BY node_id').all() as Array<{ node_id: string }>).map((r) => r.node_id);
    const runs = (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
    return { nodes: nodeIds.length, runs, nodeIds };
  });
}

export function nodeRow(project: string, nodeId: string): Record<string, any> | undefined {
  return withDb(project, (db) => db.prepare('SELECT * FROM nodes WHERE node_id = ?').get(nodeId) as Record<string, any> | undefined);
}

export function runRow(project: string, runId: string): Record<string, any> | undefined {
  return withDb(project, (db) => db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as Record<string, any> | undefined);
}

export interface LedgerView {
  status: string;
  entry: any;
}

export function ledgerOf(project: string, runId: string): LedgerView {
  return withDb(project, (db) => {
    const row = db.prepare('SELECT status, entry_json FROM ledger WHERE run_id = ?').get(runId) as { status: string; entry_json: string } | undefined;
    if (!row) throw new Error(`no ledger entry for run ${runId}`);
    return { status: row.status, entry: JSON.parse(row.entry_json) };
  });
}

/** Rewrites the ledger entry of a run (what an operator's store would hold); swarm is not running. */
export function patchLedger(project: string, runId: string, patch: (entry: any) => void): void {
  withDb(
    project,
    (db) => {
      const row = db.prepare('SELECT entry_json FROM ledger WHERE run_id = ?').get(runId) as { entry_json: string };
      const entry = JSON.parse(row.entry_json);
      patch(entry);
      db.prepare('UPDATE ledger SET entry_json = ? WHERE run_id = ?').run(JSON.stringify(entry), runId);
    },
    false,
  );
}

export function setNodeColumn(project: string, nodeId: string, column: 'wrapped_key', value: string): void {
  withDb(project, (db) => db.prepare(`UPDATE nodes SET ${column} = ? WHERE node_id = ?`).run(value, nodeId), false);
}

/** Run directories and collect staging left in the store. */
export function storeLeftovers(project: string, runId: string): { runDir: boolean; staging: string[] } {
  const runDir = fs.existsSync(path.join(project, '.swarm', 'runs', runId));
  const tmp = path.join(project, '.swarm', 'tmp');
  const staging = fs.existsSync(tmp) ? fs.readdirSync(tmp).filter((n) => n.startsWith('collect')) : [];
  return { runDir, staging };
}
