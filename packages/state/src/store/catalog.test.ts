import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { CATALOG_SCHEMA_VERSION, Catalog } from './catalog.js';

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-catalog-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const node = (id: string, parent: string | null) => ({
  node_id: id,
  parent_node_id: parent,
  kind: 'run' as const,
  status: 'succeeded',
  state_id: `state-${id}`,
  ratchet_step: parent ? 1 : 0,
  bundle_sha256: `sha256:${'0'.repeat(64)}`,
  manifest_sha256: `sha256:${'1'.repeat(64)}`,
  wrapped_key: 'w',
  state_cap_sealed: 's',
  net_cap_sealed: 'n',
  run_id: parent ? id : null,
  label: null,
  created_at: '2023-11-14T22:13:20.000Z',
  node_json: '{}',
});

describe('the catalog', () => {
  it('brings a catalog of the previous schema (3) up to this one: its new tables made, its number raised once', () => {
    const file = path.join(tmp, 'catalog-v3.sqlite');
    new Catalog(file).close();
    const old = new Database(file);
    old.exec(`DROP TABLE run_attempts; UPDATE meta SET value = '3' WHERE key = 'schema_version';`);
    old.close();
    const catalog = new Catalog(file);
    try {
      expect(catalog.getMeta('schema_version')).toBe(String(CATALOG_SCHEMA_VERSION));
      catalog.recordAttempt({ run_id: 'a-r1', first_run_id: 'a', attempt: 1, policy: 'on-failure:2', created_at: 't' });
      expect(catalog.getAttempt('a-r1')).toMatchObject({ first_run_id: 'a', attempt: 1 });
    } finally {
      catalog.close();
    }
    // A newer swarm's catalog keeps its number.
    const newer = new Database(file);
    newer.exec(`UPDATE meta SET value = '99' WHERE key = 'schema_version';`);
    newer.close();
    const again = new Catalog(file);
    try {
      expect(again.getMeta('schema_version')).toBe('99');
    } finally {
      again.close();
    }
  });

  it('migrates a version-1 runs table (outcome columns NOT NULL) and keeps its rows', () => {
    const file = path.join(tmp, 'catalog.sqlite');
    const v1 = new Database(file);
    v1.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO meta VALUES ('schema_version', '1');
      CREATE TABLE nodes (node_id TEXT PRIMARY KEY, parent_node_id TEXT, kind TEXT NOT NULL, status TEXT NOT NULL, state_id TEXT NOT NULL UNIQUE,
        ratchet_step INTEGER NOT NULL, bundle_sha256 TEXT NOT NULL, manifest_sha256 TEXT NOT NULL, wrapped_key TEXT NOT NULL,
        state_cap_sealed TEXT NOT NULL, net_cap_sealed TEXT NOT NULL, run_id TEXT UNIQUE, label TEXT, created_at TEXT NOT NULL, node_json TEXT NOT NULL);
      INSERT INTO nodes VALUES ('root', NULL, 'root', 'root', 'state-root', 0, 'sha256:x', 'sha256:y', 'w', 's', 'n', NULL, NULL, 't', '{}');
      INSERT INTO nodes VALUES ('node-a', 'root', 'run', 'succeeded', 'state-a', 1, 'sha256:x', 'sha256:y', 'w', 's', 'n', 'a', NULL, 't', '{}');
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, node_id TEXT NOT NULL REFERENCES nodes(node_id), parent_node_id TEXT NOT NULL,
        operation TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER, signal TEXT, restore_mode TEXT NOT NULL, started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL, duration_ms INTEGER NOT NULL, backend TEXT NOT NULL, artifact_hash TEXT NOT NULL, step_json TEXT NOT NULL);
      INSERT INTO runs VALUES ('a', 'node-a', 'root', 'launch', 'succeeded', 0, NULL, 'checkpoint', 't0', 't1', 5, 'local', 'sha256:z', '{}');`);
    v1.close();
    const catalog = new Catalog(file);
    try {
      expect(catalog.getMeta('schema_version')).toBe(String(CATALOG_SCHEMA_VERSION));
      expect(catalog.getRun('a')).toMatchObject({ node_id: 'node-a', artifact_hash: 'sha256:z' });
      // The point of the migration: a row before there is a node.
      catalog.startRun({ run_id: 'b', parent_node_id: 'node-a', operation: 'resume', started_at: 't2', backend: 'local', step_json: '{}' });
      expect(catalog.getRun('b')).toMatchObject({ status: 'running', node_id: null, finished_at: null });
    } finally {
      catalog.close();
    }
  });

  it('starts a run once, commits it with its node in one step, and forgets or abandons only uncommitted runs', () => {
    const catalog = new Catalog(path.join(tmp, 'catalog.sqlite'));
    try {
      catalog.insertNode(node('root', null));
      const start = { run_id: 'r', parent_node_id: 'root', operation: 'launch', started_at: 't0', backend: 'local', step_json: '{}' };
      catalog.startRun(start);
      expect(() => catalog.startRun(start)).toThrow(expect.objectContaining({ code: 'RUN_ID_EXISTS' }));
      const run = { ...start, node_id: 'node-r', status: 'succeeded', exit_code: 0, signal: null, restore_mode: 'checkpoint', finished_at: 't1', duration_ms: 3, artifact_hash: 'sha256:a' };
      catalog.commitRun(node('node-r', 'root'), run);
      expect(catalog.getRun('r')).toMatchObject({ node_id: 'node-r', status: 'succeeded' });
      // A committed run is neither forgotten nor abandoned, nor committed twice.
      catalog.forgetRun('r');
      catalog.abandonRun('r', 't9');
      expect(catalog.getRun('r')).toMatchObject({ status: 'succeeded' });
      expect(() => catalog.commitRun(node('node-r2', 'root'), { ...run, node_id: 'node-r2' })).toThrow(SwarmError);
      expect(catalog.getNode('node-r2')).toBeUndefined();
      catalog.startRun({ ...start, run_id: 'gone' });
      catalog.forgetRun('gone');
      expect(catalog.getRun('gone')).toBeUndefined();
      catalog.startRun({ ...start, run_id: 'left' });
      catalog.abandonRun('left', 't5');
      expect(catalog.getRun('left')).toMatchObject({ status: 'abandoned', finished_at: 't5', node_id: null });
    } finally {
      catalog.close();
    }
  });
});
