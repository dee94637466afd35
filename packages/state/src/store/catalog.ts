/**
 * The project catalog: one SQLite database (WAL) holding nodes, runs, aliases and the ledger.
 * Writers serialise through BEGIN IMMEDIATE; a node becomes visible only when the transaction
 * that inserts it commits, after every file it refers to is durable on disk.
 */
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';
import '../engine-errors.js';
import type { ChunkRow } from '../chunks/pack.js';

/** 3: the chunks table and nodes.object_sha256 (stores of chunked nodes). */
export const CATALOG_SCHEMA_VERSION = 4;

export type NodeKind = 'root' | 'run' | 'fork' | 'import';

export interface NodeRow {
  node_id: string;
  parent_node_id: string | null;
  kind: NodeKind;
  status: string;
  state_id: string;
  ratchet_step: number;
  bundle_sha256: string;
  manifest_sha256: string;
  wrapped_key: string;
  state_cap_sealed: string;
  net_cap_sealed: string;
  run_id: string | null;
  label: string | null;
  created_at: string;
  node_json: string;
  /**
   * The digest of the object this store keeps for the node when it differs from bundle_sha256:
   * a worker's parent arrives as a tar bundle exported from the operator's chunks. Null: the
   * object is `bundle_sha256` itself.
   */
  object_sha256?: string | null;
}

/** What a run commits besides its node: the chunks it stored, and the gc epoch it started in. */
export interface ChunkCommit {
  rows: ChunkRow[];
  /** Chunks the node uses that the run found already stored (checked again at commit). */
  existing: Buffer[];
  /** The gc epoch when the run read its parent; when gc swept since, every reused chunk is checked. */
  epoch: number;
  /** Every chunk id the node refers to (only computed when the epoch moved). */
  all: () => Buffer[];
}

/**
 * A run's row. It is written when the run starts (`running`, no node yet) and completed in the
 * transaction that commits its node; a run that never commits stays `running` until its owner is
 * gone (then `run status` says `abandoned`) or is marked `abandoned` when it fails after its step.
 */
export interface RunRow {
  run_id: string;
  node_id: string | null;
  parent_node_id: string;
  operation: string;
  status: string;
  exit_code: number | null;
  signal: string | null;
  restore_mode: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  backend: string;
  artifact_hash: string | null;
  step_json: string;
}

/** What is known of a run when it starts. */
export type RunStart = Pick<RunRow, 'run_id' | 'parent_node_id' | 'operation' | 'started_at' | 'backend' | 'step_json'>;

/** Version 2: a run's row exists from its start, so its node and outcome columns may be null. */
const RUNS_TABLE = (name: string): string => `CREATE TABLE IF NOT EXISTS ${name} (
  run_id TEXT PRIMARY KEY,
  node_id TEXT REFERENCES nodes(node_id),
  parent_node_id TEXT NOT NULL REFERENCES nodes(node_id),
  operation TEXT NOT NULL,
  status TEXT NOT NULL,
  exit_code INTEGER,
  signal TEXT,
  restore_mode TEXT,
  started_at TEXT NOT NULL,
  finished_at TEXT,
  duration_ms INTEGER,
  backend TEXT NOT NULL,
  artifact_hash TEXT,
  step_json TEXT NOT NULL
);`;

const MIGRATIONS = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY,
  parent_node_id TEXT REFERENCES nodes(node_id),
  kind TEXT NOT NULL CHECK (kind IN ('root', 'run', 'fork', 'import')),
  status TEXT NOT NULL,
  state_id TEXT NOT NULL UNIQUE,
  ratchet_step INTEGER NOT NULL,
  bundle_sha256 TEXT NOT NULL,
  manifest_sha256 TEXT NOT NULL,
  wrapped_key TEXT NOT NULL,
  state_cap_sealed TEXT NOT NULL,
  net_cap_sealed TEXT NOT NULL,
  run_id TEXT UNIQUE,
  label TEXT,
  created_at TEXT NOT NULL,
  node_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent_node_id);
${RUNS_TABLE('runs')}
CREATE TABLE IF NOT EXISTS aliases (
  name TEXT PRIMARY KEY,
  node_id TEXT NOT NULL REFERENCES nodes(node_id),
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
  id BLOB PRIMARY KEY,
  pack TEXT NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  size INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chunks_pack ON chunks(pack);
CREATE TABLE IF NOT EXISTS run_attempts (
  run_id TEXT PRIMARY KEY,
  first_run_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  policy TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_attempts_first ON run_attempts(first_run_id);
CREATE TABLE IF NOT EXISTS ledger (
  request_id TEXT PRIMARY KEY,
  run_id TEXT,
  backend TEXT NOT NULL,
  status TEXT NOT NULL,
  entry_json TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`;

export interface AttemptRow {
  run_id: string;
  first_run_id: string;
  attempt: number;
  /** The restart policy as given (`on-failure:2`). */
  policy: string;
  created_at: string;
}

export interface LedgerRow {
  request_id: string;
  run_id: string | null;
  backend: string;
  status: string;
  entry_json: string;
  updated_at: string;
}

export class Catalog {
  readonly db: Database.Database;

  constructor(file: string, options: { readonly?: boolean } = {}) {
    try {
      this.db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      this.db.pragma('busy_timeout = 10000');
      if (!options.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = FULL');
        this.db.pragma('foreign_keys = ON');
        // A catalog this version made or migrated has every table and column: nothing to run
        // (the statements below cost a write lock and a few milliseconds on every command).
        if (!this.isCurrentSchema()) {
          this.db.exec(MIGRATIONS);
          this.migrateRunsTable();
          this.migrateObjectColumn();
          this.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run('schema_version', String(CATALOG_SCHEMA_VERSION));
          // What an older version made now has this version's tables (never lowered: a newer
          // swarm's catalog keeps its number).
          this.db
            .prepare("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?")
            .run(String(CATALOG_SCHEMA_VERSION), CATALOG_SCHEMA_VERSION);
        }
      }
    } catch (cause) {
      throw new SwarmError('STORE_CORRUPT', `cannot open the catalog ${file}: ${(cause as Error).message}`, { cause });
    }
  }

  close(): void {
    this.db.close();
  }

  private isCurrentSchema(): boolean {
    try {
      return (this.db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value === String(CATALOG_SCHEMA_VERSION);
    } catch {
      return false;
    }
  }

  /** A version-1 catalog's runs table has NOT NULL outcome columns: rebuilt once, rows kept. */
  private migrateRunsTable(): void {
    const needed = () => (this.db.prepare('PRAGMA table_info(runs)').all() as Array<{ name: string; notnull: number }>).some((c) => c.name === 'node_id' && c.notnull === 1);
    if (!needed()) return;
    this.write(() => {
      // Again inside the transaction: another process may have migrated in the meantime.
      if (!needed()) return;
      this.db.exec(`${RUNS_TABLE('runs_v2')}
        INSERT INTO runs_v2 SELECT run_id, node_id, parent_node_id, operation, status, exit_code, signal, restore_mode, started_at,
          finished_at, duration_ms, backend, artifact_hash, step_json FROM runs;
        DROP TABLE runs;
        ALTER TABLE runs_v2 RENAME TO runs;`);
      this.setMeta('schema_version', String(CATALOG_SCHEMA_VERSION));
    });
  }

  /** Nodes whose object is not named by their bundle digest (a worker's exported parent). */
  private migrateObjectColumn(): void {
    const has = () => (this.db.prepare('PRAGMA table_info(nodes)').all() as Array<{ name: string }>).some((c) => c.name === 'object_sha256');
    if (has()) return;
    this.write(() => {
      if (!has()) this.db.exec('ALTER TABLE nodes ADD COLUMN object_sha256 TEXT');
      this.setMeta('schema_version', String(CATALOG_SCHEMA_VERSION));
    });
  }

  /** Runs fn in one IMMEDIATE transaction: the single-writer commit point. */
  write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
        throw new SwarmError('STORE_BUSY', 'the catalog is locked by another swarm process; try again', { retryable: true, cause: error });
      }
      if (code.startsWith('SQLITE_CONSTRAINT')) {
        throw new SwarmError('STORE_CONFLICT', `the catalog refused the change: ${(error as Error).message}`, { cause: error });
      }
      throw error;
    }
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  getNode(nodeId: string): NodeRow | undefined {
    return this.db.prepare('SELECT * FROM nodes WHERE node_id = ?').get(nodeId) as NodeRow | undefined;
  }

  insertNode(row: NodeRow): void {
    this.db
      .prepare(
        `INSERT INTO nodes (node_id, parent_node_id, kind, status, state_id, ratchet_step, bundle_sha256, manifest_sha256,
           wrapped_key, state_cap_sealed, net_cap_sealed, run_id, label, created_at, node_json, object_sha256)
         VALUES (@node_id, @parent_node_id, @kind, @status, @state_id, @ratchet_step, @bundle_sha256, @manifest_sha256,
           @wrapped_key, @state_cap_sealed, @net_cap_sealed, @run_id, @label, @created_at, @node_json, @object_sha256)`,
      )
      .run({ ...row, object_sha256: row.object_sha256 ?? null });
  }

  // --- chunks -----------------------------------------------------------------------------

  chunkRow(id: Buffer): ChunkRow | undefined {
    return (this.#chunkStmt ??= this.db.prepare('SELECT id, pack, offset, length, size FROM chunks WHERE id = ?')).get(id) as ChunkRow | undefined;
  }
  #chunkStmt: Database.Statement | undefined;

  /** Inserts chunk rows (inside a write transaction); a chunk already stored keeps its row. */
  insertChunks(rows: ChunkRow[]): void {
    const stmt = this.db.prepare('INSERT OR IGNORE INTO chunks (id, pack, offset, length, size) VALUES (@id, @pack, @offset, @length, @size)');
    for (const row of rows) stmt.run(row);
  }

  /** The chunk gc epoch: bumped by every gc that removes chunks. */
  chunkEpoch(): number {
    return Number(this.getMeta('chunk_gc_epoch') ?? '0');
  }

  /** Inside a commit: the run's chunks go in, and what it reused must still be there. */
  private commitChunks(chunks: ChunkCommit | undefined): void {
    if (!chunks) return;
    this.insertChunks(chunks.rows);
    const check = this.chunkEpoch() !== chunks.epoch ? chunks.all() : chunks.existing;
    for (const id of check) {
      if (!this.chunkRow(id)) {
        throw new SwarmError('STORE_CHUNKS_COLLECTED', `gc removed chunk ${id.toString('hex')} while the run was using it; nothing was committed`, {
          retryable: true,
          hint: 'run the step again',
        });
      }
    }
  }

  /** Records a run as it starts; the primary key makes its id unique across processes. */
  startRun(start: RunStart): void {
    try {
      this.write(() =>
        this.db
          .prepare(
            `INSERT INTO runs (run_id, node_id, parent_node_id, operation, status, started_at, backend, step_json)
             VALUES (@run_id, NULL, @parent_node_id, @operation, 'running', @started_at, @backend, @step_json)`,
          )
          .run(start),
      );
    } catch (error) {
      if (error instanceof SwarmError && error.code === 'STORE_CONFLICT') {
        throw new SwarmError('RUN_ID_EXISTS', `run ${start.run_id} already exists`, { details: { run_id: start.run_id } });
      }
      throw error;
    }
  }

  /**
   * Commits a finished run: its node (and any node it builds on that was made for it, a seed)
   * becomes visible and its row complete, in one transaction.
   */
  commitRun(node: NodeRow, run: RunRow, before: NodeRow[] = [], chunks?: ChunkCommit): void {
    this.write(() => {
      this.commitChunks(chunks);
      for (const earlier of before) this.insertNode(earlier);
      this.insertNode(node);
      const changed = this.db
        .prepare(
          `UPDATE runs SET node_id = @node_id, parent_node_id = @parent_node_id, status = @status, exit_code = @exit_code, signal = @signal, restore_mode = @restore_mode,
             finished_at = @finished_at, duration_ms = @duration_ms, artifact_hash = @artifact_hash, step_json = @step_json
           WHERE run_id = @run_id AND status = 'running'`,
        )
        .run(run).changes;
      if (changed !== 1) throw new SwarmError('STORE_CONFLICT', `run ${run.run_id} is not a running run of this store`);
    });
  }

  /** A run that failed after its step and before its commit: no node, its log kept. */
  abandonRun(runId: string, finishedAt: string): void {
    this.write(() => this.db.prepare(`UPDATE runs SET status = 'abandoned', finished_at = ? WHERE run_id = ? AND status = 'running'`).run(finishedAt, runId));
  }

  /** A run that failed before its step ran leaves nothing behind, not even its row. */
  forgetRun(runId: string): void {
    this.write(() => this.db.prepare(`DELETE FROM runs WHERE run_id = ? AND node_id IS NULL`).run(runId));
  }

  /** Commits a fork: the node and its branch label. */
  commitFork(node: NodeRow, branch: string, at: string): void {
    this.write(() => {
      if (this.getAlias(branch)) throw new SwarmError('BRANCH_EXISTS', `${branch} already exists`);
      this.insertNode(node);
      this.setAlias(branch, node.node_id, at);
    });
  }

  /** Commits a node produced elsewhere (a remote worker's sealed bundle), optionally named by a label. */
  importNode(node: NodeRow, alias?: { name: string; at: string }): void {
    if (node.kind !== 'import') throw new SwarmError('INTERNAL', `importNode takes nodes of kind import, not ${node.kind}`);
    this.write(() => {
      if (!this.getNode(node.parent_node_id ?? '')) throw new SwarmError('NODE_NOT_FOUND', `the imported node's parent ${node.parent_node_id} is not in this store`);
      this.insertNode(node);
      if (alias) this.setAlias(alias.name, node.node_id, alias.at);
    });
  }

  /**
   * Commits a run executed elsewhere (a GitHub runner), collected and verified: its node, its
   * complete run row and its ledger entry, in one transaction.
   */
  commitRemoteRun(node: NodeRow, run: RunRow, ledger: LedgerRow): void {
    this.write(() => {
      if (!this.getNode(node.parent_node_id ?? '')) throw new SwarmError('NODE_NOT_FOUND', `the collected node's parent ${node.parent_node_id} is not in this store`);
      this.insertNode(node);
      this.db
        .prepare(
          `INSERT INTO runs (run_id, node_id, parent_node_id, operation, status, exit_code, signal, restore_mode, started_at, finished_at, duration_ms, backend, artifact_hash, step_json)
           VALUES (@run_id, @node_id, @parent_node_id, @operation, @status, @exit_code, @signal, @restore_mode, @started_at, @finished_at, @duration_ms, @backend, @artifact_hash, @step_json)`,
        )
        .run(run);
      this.putLedger(ledger);
    });
  }

  /** A node a worker restores from: its parent is not in this (throwaway) store. */
  adoptNode(node: NodeRow): void {
    if (node.kind !== 'import' || node.parent_node_id !== null) throw new SwarmError('INTERNAL', 'adoptNode takes a parentless import node');
    this.write(() => this.insertNode(node));
  }

  getLedger(requestId: string): LedgerRow | undefined {
    return this.db.prepare('SELECT * FROM ledger WHERE request_id = ?').get(requestId) as LedgerRow | undefined;
  }

  /** The ledger entry of a run id (the swarm run id the request carries). */
  findLedgerByRun(runId: string): LedgerRow | undefined {
    return this.db.prepare('SELECT * FROM ledger WHERE run_id = ? ORDER BY updated_at DESC LIMIT 1').get(runId) as LedgerRow | undefined;
  }

  listLedger(): LedgerRow[] {
    return this.db.prepare('SELECT * FROM ledger ORDER BY updated_at, request_id').all() as LedgerRow[];
  }

  /** Writes a ledger entry (atomically, like every catalog write). */
  putLedger(row: LedgerRow): void {
    this.db
      .prepare(
        `INSERT INTO ledger (request_id, run_id, backend, status, entry_json, updated_at) VALUES (@request_id, @run_id, @backend, @status, @entry_json, @updated_at)
         ON CONFLICT(request_id) DO UPDATE SET run_id = excluded.run_id, status = excluded.status, entry_json = excluded.entry_json, updated_at = excluded.updated_at`,
      )
      .run(row);
  }

  getRun(runId: string): RunRow | undefined {
    return this.db.prepare('SELECT * FROM runs WHERE run_id = ?').get(runId) as RunRow | undefined;
  }

  listRuns(): RunRow[] {
    return this.db.prepare('SELECT * FROM runs ORDER BY started_at, run_id').all() as RunRow[];
  }

  /** Links a run to the first run of its restart chain (attempt 0 is the first run itself); a run linked already keeps its link. */
  recordAttempt(row: AttemptRow): void {
    this.write(() => this.db.prepare('INSERT OR IGNORE INTO run_attempts(run_id, first_run_id, attempt, policy, created_at) VALUES (?, ?, ?, ?, ?)').run(row.run_id, row.first_run_id, row.attempt, row.policy, row.created_at));
  }

  /** The attempt a run is of its chain, or undefined for a run that no restart policy started. */
  getAttempt(runId: string): AttemptRow | undefined {
    return this.db.prepare('SELECT * FROM run_attempts WHERE run_id = ?').get(runId) as AttemptRow | undefined;
  }

  listAttempts(): AttemptRow[] {
    return this.db.prepare('SELECT * FROM run_attempts ORDER BY first_run_id, attempt').all() as AttemptRow[];
  }

  listNodes(): NodeRow[] {
    return this.db.prepare('SELECT * FROM nodes ORDER BY ratchet_step, created_at, node_id').all() as NodeRow[];
  }

  setAlias(name: string, nodeId: string, at: string): void {
    this.db
      .prepare('INSERT INTO aliases(name, node_id, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET node_id = excluded.node_id, updated_at = excluded.updated_at')
      .run(name, nodeId, at);
  }

  getAlias(name: string): string | undefined {
    return (this.db.prepare('SELECT node_id FROM aliases WHERE name = ?').get(name) as { node_id: string } | undefined)?.node_id;
  }

  listAliases(): Array<{ name: string; node_id: string; updated_at: string }> {
    return this.db.prepare('SELECT * FROM aliases ORDER BY name').all() as Array<{ name: string; node_id: string; updated_at: string }>;
  }

  referencedObjects(): Set<string> {
    const rows = this.db.prepare('SELECT DISTINCT bundle_sha256, object_sha256 FROM nodes').all() as Array<{ bundle_sha256: string; object_sha256: string | null }>;
    return new Set(rows.flatMap((r) => (r.object_sha256 ? [r.bundle_sha256, r.object_sha256] : [r.bundle_sha256])));
  }
}
