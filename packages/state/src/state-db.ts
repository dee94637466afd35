/**
 * The state DB carried from node to node: a SQLite database the step can read and write through
 * SWARM_STATE_DB. swarm keeps its run history here, and leaves room for agent sessions/events.
 */
import fs from 'node:fs';
import './engine-errors.js';
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';

export const STATE_DB_SCHEMA_VERSION = 'loom-state-v1';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS swarm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_history (
  seq INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL UNIQUE,
  node_id TEXT NOT NULL,
  parent_node_id TEXT NOT NULL,
  operation TEXT NOT NULL,
  status TEXT NOT NULL,
  exit_code INTEGER,
  signal TEXT,
  restore_mode TEXT NOT NULL,
  step_sha256 TEXT NOT NULL,
  prompt_sha256 TEXT,
  output_sha256 TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  agent TEXT NOT NULL,
  source_path TEXT NOT NULL,
  run_id TEXT,
  first_seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  event_id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(session_id),
  source_path TEXT NOT NULL,
  source_offset INTEGER NOT NULL,
  line_sha256 TEXT NOT NULL,
  raw TEXT NOT NULL,
  kind TEXT,
  at TEXT,
  UNIQUE (source_path, source_offset, line_sha256)
);
`;

export interface RunHistoryEntry {
  run_id: string;
  node_id: string;
  parent_node_id: string;
  operation: string;
  status: string;
  exit_code: number | null;
  signal: string | null;
  restore_mode: string;
  step_sha256: string;
  prompt_sha256: string | null;
  output_sha256: string;
  started_at: string;
  finished_at: string;
}

function open(file: string): Database.Database {
  try {
    const db = new Database(file);
    db.pragma('journal_mode = DELETE');
    return db;
  } catch (cause) {
    throw new SwarmError('STATE_DB_INVALID', `the state DB cannot be opened: ${(cause as Error).message}`, { cause });
  }
}

/** Creates an empty state DB with swarm's tables. */
export function createStateDb(file: string): void {
  fs.rmSync(file, { force: true });
  const db = open(file);
  try {
    db.exec(SCHEMA);
    db.prepare('INSERT INTO swarm_meta(key, value) VALUES (?, ?)').run('schema_version', STATE_DB_SCHEMA_VERSION);
  } finally {
    db.close();
  }
}

/**
 * Appends the run to the history and rewrites the file from a serialized image, so the bytes that
 * go into the bundle are one self-contained database (no WAL or journal beside it).
 */
export function recordRunAndCompact(file: string, entry: RunHistoryEntry): void {
  const db = open(file);
  let image: Buffer;
  try {
    db.exec(SCHEMA); // a step may have dropped tables; swarm's own must exist
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('journal_mode = DELETE');
    db.prepare(
      `INSERT INTO run_history (run_id, node_id, parent_node_id, operation, status, exit_code, signal, restore_mode,
         step_sha256, prompt_sha256, output_sha256, started_at, finished_at)
       VALUES (@run_id, @node_id, @parent_node_id, @operation, @status, @exit_code, @signal, @restore_mode,
         @step_sha256, @prompt_sha256, @output_sha256, @started_at, @finished_at)`,
    ).run(entry);
    db.exec('VACUUM');
    image = db.serialize();
  } catch (cause) {
    if (cause instanceof SwarmError) throw cause;
    throw new SwarmError('STATE_DB_INVALID', `the state DB cannot be updated: ${(cause as Error).message}`, { cause });
  } finally {
    db.close();
  }
  for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(file + suffix, { force: true });
  fs.writeFileSync(file, image);
}

export function readRunHistory(file: string): RunHistoryEntry[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT * FROM run_history ORDER BY seq').all() as RunHistoryEntry[];
  } finally {
    db.close();
  }
}

/** Table names and row counts, for `swarm state inspect`. */
export function describeStateDb(file: string): Array<{ table: string; rows: number }> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
    return tables.map(({ name }) => ({
      table: name,
      rows: (db.prepare(`SELECT count(*) AS n FROM "${name.replace(/"/g, '""')}"`).get() as { n: number }).n,
    }));
  } finally {
    db.close();
  }
}
