/** The transcript archive on transcripts recorded from the real Claude Code (fixtures), in a real state DB. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createStateDb, recordRunAndCompact } from '../state-db.js';
import { claudeAdapter } from './claude.js';
import { agentHead, ingestTranscripts, redactTranscripts } from './ingest.js';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'test', 'fixtures', 'transcripts', 'claude');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
const FIRST_SESSION = '1c6912ba-fee3-4b9f-ac04-82a0432208d0';

const roots: string[] = [];
afterAll(() => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

let home: string;
let dbFile: string;
beforeEach(() => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-ingest-'));
  roots.push(root);
  home = path.join(root, 'home');
  dbFile = path.join(root, 'state.db');
  createStateDb(dbFile);
});

function place(file: string, content: Buffer | string): string {
  const at = path.join(home, '.claude', 'projects', '-home-user-project', file);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.writeFileSync(at, content);
  return at;
}

function ingest(runId: string) {
  const db = new Database(dbFile);
  try {
    return ingestTranscripts(db, { adapters: [claudeAdapter], homeDir: home, runId });
  } finally {
    db.close();
  }
}

function query<T>(sql: string, ...args: unknown[]): T[] {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

describe('ingesting transcripts', () => {
  it('archives a session, adds only what a resumed run appended, and never counts a line twice', () => {
    place(`${FIRST_SESSION}.jsonl`, fixture('first-session.jsonl'));
    const first = ingest('r1');
    expect(first.sessions).toEqual([expect.objectContaining({ agent: 'claude', session_id: FIRST_SESSION, turns: 1, tokens_out: 9, new_events: 7 })]);

    // The resumed run appended to the same file (the home travelled with the node).
    place(`${FIRST_SESSION}.jsonl`, fixture('resumed-session.jsonl'));
    const second = ingest('r2');
    expect(second.sessions).toEqual([expect.objectContaining({ session_id: FIRST_SESSION, turns: 2, tokens_out: 16, new_events: 6 })]);

    // Read again with nothing new: nothing added, totals unchanged.
    expect(ingest('r3').sessions).toEqual([]);
    const [row] = query<{ events: number; turns: number; tokens_out: number; first_run_id: string; last_run_id: string }>('SELECT * FROM sessions');
    expect(row).toMatchObject({ events: 13, turns: 2, tokens_out: 16, first_run_id: 'r1', last_run_id: 'r2' });
    expect(query('SELECT 1 FROM events')).toHaveLength(13);
  });

  it('counts a message written as several lines once, and the tools it called', () => {
    place('tool-call.jsonl', fixture('tool-call.jsonl'));
    const summary = ingest('r1');
    expect(summary.sessions).toHaveLength(1);
    // msg_fake000003 is two lines (text, then the Write call) with one usage: 27 + 20 + 8.
    expect(summary.sessions[0]!.tokens_out).toBe(55);
    expect(summary.tools).toEqual({ Bash: 1, Write: 1 });
    // Both lines are archived; only one carries the message's tokens.
    const lines = query<{ tokens_out: number | null }>("SELECT tokens_out FROM events WHERE dedupe_key LIKE 'msg_fake000003%' ORDER BY event_id");
    expect(lines.map((l) => l.tokens_out)).toEqual([27, null]);
  });

  it('leaves a truncated last line for the next run, then takes it whole', () => {
    const truncated = fixture('truncated-tail.jsonl');
    expect(truncated.at(-1)).not.toBe(0x0a);
    const session = JSON.parse(truncated.toString('utf8').split('\n')[0]!).sessionId as string;
    place(`${session}.jsonl`, truncated);
    ingest('r1');
    const lines = truncated.toString('utf8').split('\n');
    expect(query('SELECT 1 FROM events')).toHaveLength(lines.length - 1);
    expect(query<{ raw: string }>('SELECT raw FROM events').map((e) => e.raw)).not.toContain(lines.at(-1));
  });

  it('keeps lines of unknown shapes raw, and counts them', () => {
    place('unknown.jsonl', fixture('unknown-event.jsonl'));
    const summary = ingest('r1');
    expect(summary.unknown_events).toBeGreaterThan(0);
    const raw = fixture('unknown-event.jsonl').toString('utf8').split('\n').filter(Boolean);
    expect(query<{ raw: string }>('SELECT raw FROM events ORDER BY source_offset').map((e) => e.raw)).toEqual(raw);
  });

  it('names the session the next run continues, and the state DB keeps it through record', () => {
    place(`${FIRST_SESSION}.jsonl`, fixture('first-session.jsonl'));
    recordRunAndCompact(
      dbFile,
      {
        run_id: 'r1',
        node_id: 'node-r1',
        parent_node_id: 'root',
        operation: 'launch',
        status: 'succeeded',
        exit_code: 0,
        signal: null,
        restore_mode: 'checkpoint',
        step_sha256: `sha256:${'0'.repeat(64)}`,
        prompt_sha256: null,
        output_sha256: `sha256:${'1'.repeat(64)}`,
        started_at: '2026-12-01T00:00:00Z',
        finished_at: '2026-12-01T00:00:01Z',
      },
      (db) => ingestTranscripts(db, { adapters: [claudeAdapter], homeDir: home, runId: 'r1' }),
    );
    const db = new Database(dbFile, { readonly: true });
    try {
      expect(agentHead(db, 'claude')).toBe(FIRST_SESSION);
      expect(agentHead(db, 'codex')).toBeNull();
    } finally {
      db.close();
    }
  });
});

describe('redacting transcripts before they are read or sealed', () => {
  it('replaces a granted value in place and keeps the file time', () => {
    const secret = 'sk-ant-test-4c1d2e3f5a6b';
    const text = fixture('first-session.jsonl').toString('utf8').replace('Say hello to the fixture', `my key is ${secret}`);
    const file = place(`${FIRST_SESSION}.jsonl`, text);
    const when = new Date('2026-11-30T12:00:00Z');
    fs.utimesSync(file, when, when);
    redactTranscripts([claudeAdapter], home, [secret]);
    const after = fs.readFileSync(file, 'utf8');
    expect(after).not.toContain(secret);
    expect(after).toContain('my key is [REDACTED]');
    expect(fs.statSync(file).mtimeMs).toBe(when.getTime());
    ingest('r1');
    expect(query<{ raw: string }>('SELECT raw FROM events').some((e) => e.raw.includes(secret))).toBe(false);
  });
});

describe('transcripts the step could point elsewhere', () => {
  it('neither reads nor rewrites a file reached through a link, of the file or of a directory', () => {
    const secret = 'sk-ant-test-operator-9a8b7c';
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-outside-'));
    roots.push(outside);
    const operatorFile = path.join(outside, `${FIRST_SESSION}.jsonl`);
    const original = fixture('first-session.jsonl').toString('utf8').replace('Say hello to the fixture', `operator text ${secret}`);
    fs.writeFileSync(operatorFile, original);
    // A project directory that is a link to the operator's directory, and a transcript that is a link to the operator's file.
    fs.mkdirSync(path.join(home, '.claude', 'projects'), { recursive: true });
    fs.symlinkSync(outside, path.join(home, '.claude', 'projects', '-linked-dir'));
    fs.mkdirSync(path.join(home, '.claude', 'projects', '-p'));
    fs.symlinkSync(operatorFile, path.join(home, '.claude', 'projects', '-p', 'linked.jsonl'));
    // The adapter's own listing skips links; an adapter that lists them anyway is still not followed.
    expect(claudeAdapter.transcriptFiles(home)).toEqual([]);
    const linked = [path.join(home, '.claude', 'projects', '-linked-dir', `${FIRST_SESSION}.jsonl`), path.join(home, '.claude', 'projects', '-p', 'linked.jsonl')];
    const naive = { ...claudeAdapter, transcriptFiles: () => linked };
    // The control: through the links both files are there to be read.
    for (const file of linked) expect(fs.readFileSync(file, 'utf8')).toBe(original);
    redactTranscripts([naive], home, [secret]);
    expect(fs.readFileSync(operatorFile, 'utf8')).toBe(original);
    const db = new Database(dbFile);
    try {
      expect(ingestTranscripts(db, { adapters: [naive], homeDir: home, runId: 'r1' }).sessions).toEqual([]);
    } finally {
      db.close();
    }
    expect(query('SELECT 1 FROM events')).toHaveLength(0);
  });
});
