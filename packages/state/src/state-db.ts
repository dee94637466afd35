/**
 * The state DB carried from node to node: a SQLite database the step can read and write through
 * SWARM_STATE_DB. swarm keeps its run history here, and the agents' transcripts (sessions, events).
 */
import fs from 'node:fs';
import './engine-errors.js';
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';

export const STATE_DB_SCHEMA_VERSION = 'loom-state-v1';

/** An empty archive, for reading a node sealed before transcripts were archived. */
export function emptyArchive(): Database.Database {
  const db = new Database(':memory:');
  db.exec(SCHEMA);
  return db;
}

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
  model TEXT,
  cwd TEXT,
  -- The transcript file, relative to the step's HOME.
  source_path TEXT NOT NULL,
  started_at TEXT,
  ended_at TEXT,
  turns INTEGER NOT NULL DEFAULT 0,
  tokens_in INTEGER NOT NULL DEFAULT 0,
  tokens_out INTEGER NOT NULL DEFAULT 0,
  events INTEGER NOT NULL DEFAULT 0,
  unknown_events INTEGER NOT NULL DEFAULT 0,
  first_run_id TEXT NOT NULL,
  last_run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  event_id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(session_id),
  run_id TEXT NOT NULL,
  source_path TEXT NOT NULL,
  source_offset INTEGER NOT NULL,
  line_sha256 TEXT NOT NULL,
  -- The line as the agent wrote it (secrets granted to the step redacted).
  raw TEXT NOT NULL,
  known INTEGER NOT NULL,
  role TEXT,
  type TEXT NOT NULL,
  tool TEXT,
  text TEXT,
  tokens_in INTEGER,
  tokens_out INTEGER,
  at TEXT,
  dedupe_key TEXT,
  -- 1 when an earlier line already carried this event (its tokens are not counted again).
  repeat INTEGER NOT NULL DEFAULT 0,
  UNIQUE (source_path, source_offset, line_sha256)
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session_id, event_id);
-- The conversation each agent continues in the next run: the session this node's run last wrote.
CREATE TABLE IF NOT EXISTS agent_heads (
  agent TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  run_id TEXT NOT NULL
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
 * The first state DBs had placeholder `sessions`/`events` tables that nothing wrote: replaced by
 * the real ones (kept under another name should a step have filled them).
 */
function migrate(db: Database.Database): void {
  const columns = db.prepare("SELECT name FROM pragma_table_info('sessions')").all() as Array<{ name: string }>;
  if (columns.length === 0 || columns.some((c) => c.name === 'last_run_id')) return;
  for (const table of ['events', 'sessions']) {
    const rows = (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    db.exec(rows === 0 ? `DROP TABLE ${table}` : `ALTER TABLE ${table} RENAME TO ${table}_v1`);
  }
}

/**
 * Appends the run to the history (and whatever `also` adds, such as the transcripts the run's
 * agent wrote) and rewrites the file from a serialized image, so the bytes that go into the bundle
 * are one self-contained database (no WAL or journal beside it).
 */
export function recordRunAndCompact(file: string, entry: RunHistoryEntry, also?: (db: Database.Database) => void): void {
  // The step had this directory: swarm writes only a regular file it finds there, never through a
  // link, and leaves a journal beside it only when it is a real one.
  const stat = fs.lstatSync(file, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new SwarmError('STATE_DB_INVALID', 'the step replaced its state DB with something that is not a regular file');
  for (const suffix of ['-wal', '-shm', '-journal']) {
    if (fs.lstatSync(file + suffix, { throwIfNoEntry: false })?.isFile() === false) fs.rmSync(file + suffix, { force: true });
  }
  const db = open(file);
  let image: Buffer;
  try {
    // The file is replaced by the image serialized below: none of these writes needs to reach the
    // disk, and SQLite's own syncs (the insert's commit, VACUUM's) cost a small run milliseconds.
    db.pragma('synchronous = OFF');
    migrate(db);
    // A step's trigger could fail swarm's writes with a message of its choosing (or change them).
    for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'").all() as Array<{ name: string }>) {
      db.exec(`DROP TRIGGER "${name.replace(/"/g, '""')}"`);
    }
    db.exec(SCHEMA); // a step may have dropped tables; swarm's own must exist
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('journal_mode = DELETE');
    db.prepare(
      `INSERT INTO run_history (run_id, node_id, parent_node_id, operation, status, exit_code, signal, restore_mode,
         step_sha256, prompt_sha256, output_sha256, started_at, finished_at)
       VALUES (@run_id, @node_id, @parent_node_id, @operation, @status, @exit_code, @signal, @restore_mode,
         @step_sha256, @prompt_sha256, @output_sha256, @started_at, @finished_at)`,
    ).run(entry);
    also?.(db);
    db.exec('VACUUM');
    image = db.serialize();
  } catch (cause) {
    if (cause instanceof SwarmError) throw cause;
    throw new SwarmError('STATE_DB_INVALID', `the state DB cannot be updated: ${(cause as Error).message}`, { cause });
  } finally {
    db.close();
  }
  for (const suffix of ['-wal', '-shm', '-journal']) fs.rmSync(file + suffix, { force: true });
  const tmp = `${file}.swarm-image`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, image, { flag: 'wx', mode: 0o600 });
  fs.renameSync(tmp, file);
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
