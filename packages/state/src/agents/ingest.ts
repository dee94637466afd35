/**
 * The transcript archive: after the step, the transcripts its agents keep under HOME go into the
 * state DB, one row per provider session and one append-only row per line or record. A line is
 * known by (source path, byte offset, sha256 of the line), so a transcript read again next run —
 * the home travels with the node — adds only what is new; an event repeated on another line (the
 * same message id) is kept but its tokens are not counted twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { sha256Hex } from '@swarm/core';
import { redactText } from '../run/redact.js';
import type { AgentAdapter, AgentName, TranscriptRecord } from './types.js';

export interface SessionSummary {
  agent: AgentName;
  session_id: string;
  model: string | null;
  turns: number;
  tokens_in: number;
  tokens_out: number;
  /** Lines or records this run added. */
  new_events: number;
}

/** What `result.json` says of the agent's work: counts and names only, safe to print in CI logs. */
export interface TranscriptSummary {
  sessions: SessionSummary[];
  /** Tool name → calls, over the sessions this run wrote. */
  tools: Record<string, number>;
  /** Lines or records of a shape the parsers did not know (kept raw). */
  unknown_events: number;
}

/**
 * Replaces every granted secret in the agents' transcript files in place (keeping their times),
 * before they are read or sealed: a key an agent echoed stays out of the node and the archive.
 */
export function redactTranscripts(adapters: readonly AgentAdapter[], homeDir: string, secrets: readonly string[]): void {
  if (secrets.length === 0) return;
  for (const adapter of adapters) {
    for (const file of transcriptsIn(adapter, homeDir)) {
      const text = readPlainFile(file);
      if (text === null) continue;
      const clean = redactText(text.toString('utf8'), [...secrets]);
      if (clean === text.toString('utf8')) continue;
      const stat = fs.lstatSync(file);
      // Replaced, not written through: the new file is swarm's own, in the directory it checked.
      const tmp = `${file}.swarm-redact`;
      fs.writeFileSync(tmp, clean, { flag: 'wx', mode: stat.mode & 0o777 });
      fs.utimesSync(tmp, stat.atime, stat.mtime);
      fs.renameSync(tmp, file);
    }
  }
}

/**
 * The adapter's transcript files that are really inside the step's HOME: the step wrote that
 * directory, and a link (of the file or of a directory on the way) could point swarm, which reads
 * and rewrites these files on the host, at the operator's own files.
 */
function transcriptsIn(adapter: AgentAdapter, homeDir: string): string[] {
  let root: string;
  try {
    root = fs.realpathSync(homeDir);
  } catch {
    return [];
  }
  return adapter.transcriptFiles(homeDir).filter((file) => {
    const rel = path.relative(homeDir, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return false;
    try {
      return fs.realpathSync(file) === path.join(root, rel) && fs.lstatSync(file).isFile();
    } catch {
      return false;
    }
  });
}

/** A regular file's bytes, opened without following a link; null for anything else. */
function readPlainFile(file: string): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : null;
  } finally {
    fs.closeSync(fd);
  }
}

export function ingestTranscripts(db: Database.Database, input: { adapters: readonly AgentAdapter[]; homeDir: string; runId: string }): TranscriptSummary {
  const touched = new Map<string, { agent: AgentName; fresh: number; lastEvent: number }>();
  let unknown = 0;
  const insertEvent = db.prepare(
    `INSERT OR IGNORE INTO events (session_id, run_id, source_path, source_offset, line_sha256, raw, known, role, type, tool, text,
       tokens_in, tokens_out, at, dedupe_key, repeat)
     VALUES (@session_id, @run_id, @source_path, @source_offset, @line_sha256, @raw, @known, @role, @type, @tool, @text,
       @tokens_in, @tokens_out, @at, @dedupe_key, @repeat)`,
  );
  const seenKey = db.prepare('SELECT 1 FROM events WHERE session_id = ? AND dedupe_key = ? LIMIT 1');
  const upsertSession = db.prepare(
    `INSERT INTO sessions (session_id, agent, model, cwd, source_path, started_at, ended_at, first_run_id, last_run_id)
     VALUES (@session_id, @agent, @model, @cwd, @source_path, @started_at, @ended_at, @run_id, @run_id)
     ON CONFLICT(session_id) DO UPDATE SET
       model = coalesce(excluded.model, sessions.model),
       cwd = coalesce(excluded.cwd, sessions.cwd),
       source_path = sessions.source_path,
       started_at = coalesce(sessions.started_at, excluded.started_at),
       ended_at = coalesce(excluded.ended_at, sessions.ended_at)`,
  );
  const ingest = db.transaction(() => {
    for (const adapter of input.adapters) {
      for (const file of transcriptsIn(adapter, input.homeDir)) {
        const content = readPlainFile(file);
        if (content === null) continue;
        const sourcePath = path.relative(input.homeDir, file).split(path.sep).join('/');
        const parsed = adapter.parseTranscript(content, sourcePath);
        if (!parsed.session) continue;
        const session = parsed.session;
        upsertSession.run({
          session_id: session.sessionId,
          agent: adapter.name,
          model: session.model,
          cwd: session.cwd,
          source_path: sourcePath,
          started_at: session.startedAt,
          ended_at: session.endedAt,
          run_id: input.runId,
        });
        for (const record of parsed.records) {
          const added = addEvent(record, session.sessionId, sourcePath);
          if (added === null) continue;
          if (!record.event.known) unknown += 1;
          const entry = touched.get(session.sessionId) ?? { agent: adapter.name, fresh: 0, lastEvent: 0 };
          entry.fresh += 1;
          entry.lastEvent = Math.max(entry.lastEvent, added);
          touched.set(session.sessionId, entry);
        }
      }
    }
    for (const [sessionId, { agent, lastEvent }] of touched) {
      refreshTotals(db, sessionId, input.runId);
      const head = db.prepare('SELECT session_id FROM agent_heads WHERE agent = ? AND run_id = ?').get(agent, input.runId) as { session_id: string } | undefined;
      // The session that got the latest event of this run is the one the next run continues.
      const headEvent = head ? (touched.get(head.session_id)?.lastEvent ?? 0) : 0;
      if (!head || lastEvent > headEvent) {
        db.prepare('INSERT INTO agent_heads (agent, session_id, run_id) VALUES (?, ?, ?) ON CONFLICT(agent) DO UPDATE SET session_id = excluded.session_id, run_id = excluded.run_id').run(
          agent,
          sessionId,
          input.runId,
        );
      }
    }
  });

  function addEvent(record: TranscriptRecord, sessionId: string, sourcePath: string): number | null {
    const event = record.event;
    const repeat = event.dedupeKey !== null && seenKey.get(sessionId, event.dedupeKey) !== undefined;
    const info = insertEvent.run({
      session_id: sessionId,
      run_id: input.runId,
      source_path: sourcePath,
      source_offset: record.offset,
      line_sha256: sha256Hex(record.raw),
      raw: record.raw,
      known: event.known ? 1 : 0,
      role: event.role,
      type: event.type,
      tool: event.tool,
      text: event.text,
      tokens_in: event.tokensIn,
      tokens_out: event.tokensOut,
      at: event.at,
      dedupe_key: event.dedupeKey,
      repeat: repeat ? 1 : 0,
    });
    return info.changes === 1 ? Number(info.lastInsertRowid) : null;
  }

  ingest();
  return summarize(db, [...touched.keys()], touched, unknown);
}

/** Totals from the events themselves, so they stay right however often a file is read. */
function refreshTotals(db: Database.Database, sessionId: string, runId: string): void {
  db.prepare(
    `UPDATE sessions SET
       events = (SELECT count(*) FROM events WHERE session_id = @id),
       unknown_events = (SELECT count(*) FROM events WHERE session_id = @id AND known = 0),
       turns = (SELECT count(*) FROM events WHERE session_id = @id AND role = 'user' AND tool IS NULL AND text IS NOT NULL AND repeat = 0),
       tokens_in = (SELECT coalesce(sum(tokens_in), 0) FROM events WHERE session_id = @id AND repeat = 0),
       tokens_out = (SELECT coalesce(sum(tokens_out), 0) FROM events WHERE session_id = @id AND repeat = 0),
       started_at = coalesce(started_at, (SELECT min(at) FROM events WHERE session_id = @id)),
       ended_at = coalesce((SELECT max(at) FROM events WHERE session_id = @id), ended_at),
       last_run_id = @run
     WHERE session_id = @id`,
  ).run({ id: sessionId, run: runId });
}

function summarize(db: Database.Database, ids: string[], touched: Map<string, { fresh: number }>, unknown: number): TranscriptSummary {
  const sessions: SessionSummary[] = [];
  const tools: Record<string, number> = {};
  for (const id of ids) {
    const row = db.prepare('SELECT agent, session_id, model, turns, tokens_in, tokens_out FROM sessions WHERE session_id = ?').get(id) as Omit<SessionSummary, 'new_events'>;
    sessions.push({ ...row, new_events: touched.get(id)?.fresh ?? 0 });
    const used = db.prepare("SELECT tool, count(*) AS n FROM events WHERE session_id = ? AND tool IS NOT NULL AND role = 'assistant' AND repeat = 0 GROUP BY tool").all(id) as Array<{ tool: string; n: number }>;
    for (const { tool, n } of used) tools[tool] = (tools[tool] ?? 0) + n;
  }
  sessions.sort((a, b) => a.session_id.localeCompare(b.session_id));
  return { sessions, tools: Object.fromEntries(Object.entries(tools).sort(([a], [b]) => a.localeCompare(b))), unknown_events: unknown };
}

/** The session an agent continues from this state DB (the one its last run wrote), or null. */
export function agentHead(db: Database.Database, agent: AgentName): string | null {
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agent_heads'").get();
  if (!hasTable) return null;
  const row = db.prepare('SELECT session_id FROM agent_heads WHERE agent = ?').get(agent) as { session_id: string } | undefined;
  return row?.session_id ?? null;
}
