/**
 * Reading the transcript archive (`swarm sessions`). A node's state DB holds every session of its
 * ancestry (each run carries its parent's DB forward), so one node answers for its whole line of
 * the DAG. Across the store a session is read from its last holders: the nodes that name it with
 * no descendant that names it too — one per branch it went on in, since branches diverge under one
 * session id. They are found from the public summaries in the runs' result.json files, without
 * opening any bundle.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';
import { extractNodeStateDb } from '../chunks/node-content.js';
import '../engine-errors.js';
import { withStore, type StoreCall } from '../run/queries.js';
import { emptyArchive } from '../state-db.js';
import type { NodeRow } from '../store/catalog.js';
import { runDir } from '../store/paths.js';
import type { Store } from '../store/store.js';

export interface SessionRow {
  session_id: string;
  agent: string;
  model: string | null;
  cwd: string | null;
  source_path: string;
  started_at: string | null;
  ended_at: string | null;
  turns: number;
  tokens_in: number;
  tokens_out: number;
  events: number;
  unknown_events: number;
  first_run_id: string;
  last_run_id: string;
  /** The node it was read from (the latest holding it, or the one asked for). */
  node_id: string;
}

export interface EventRow {
  event_id: number;
  run_id: string;
  source_offset: number;
  known: number;
  role: string | null;
  type: string;
  tool: string | null;
  text: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  at: string | null;
  repeat: number;
  raw: string;
}

/** Opens a node's state DB (only that, from its sealed bundle) read-only for `fn`. */
async function withNodeDb<T>(store: Store, node: NodeRow, fn: (db: Database.Database) => T): Promise<T> {
  const tmp = store.objects.tempDir('sessions');
  try {
    const file = path.join(tmp, 'state.db');
    const keys = store.keys.chainKeys(node);
    await extractNodeStateDb(store, node, store.keys.dataKey(node, keys.state), file);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    const hasArchive = db.prepare("SELECT 1 FROM pragma_table_info('sessions') WHERE name = 'last_run_id'").get() !== undefined;
    const source = hasArchive ? db : emptyArchive();
    try {
      return fn(source);
    } finally {
      if (source !== db) source.close();
      db.close();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Session id → its last holders (see above), latest first. */
function sessionHolders(store: Store): Map<string, NodeRow[]> {
  const named = new Map<string, Map<string, NodeRow>>();
  const nodes = store.catalog.listNodes().filter((n) => n.run_id !== null);
  const byId = new Map(store.catalog.listNodes().map((n) => [n.node_id, n]));
  for (const node of nodes) {
    const file = path.join(runDir(store.paths, node.run_id!), 'result.json');
    let result: { agent?: { sessions?: Array<{ session_id?: unknown }> } };
    try {
      result = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    for (const session of result.agent?.sessions ?? []) {
      if (typeof session.session_id !== 'string') continue;
      const holders = named.get(session.session_id) ?? new Map<string, NodeRow>();
      holders.set(node.node_id, node);
      named.set(session.session_id, holders);
    }
  }
  const last = new Map<string, NodeRow[]>();
  for (const [id, holders] of named) {
    const leaves = new Map(holders);
    for (const holder of holders.values()) {
      const seen = new Set<string>();
      for (let up = holder.parent_node_id; up && !seen.has(up); up = byId.get(up)?.parent_node_id ?? null) {
        seen.add(up);
        leaves.delete(up);
      }
    }
    last.set(id, [...leaves.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)));
  }
  return last;
}

/** Node → the sessions to read from it, over every session's last holders. */
function holderNodes(store: Store): Map<string, { node: NodeRow; ids: Set<string> }> {
  const byNode = new Map<string, { node: NodeRow; ids: Set<string> }>();
  for (const [id, nodes] of sessionHolders(store)) {
    for (const node of nodes) {
      const entry = byNode.get(node.node_id) ?? { node, ids: new Set<string>() };
      entry.ids.add(id);
      byNode.set(node.node_id, entry);
    }
  }
  return byNode;
}

function sessionsOf(db: Database.Database, nodeId: string): SessionRow[] {
  const rows = db.prepare('SELECT session_id, agent, model, cwd, source_path, started_at, ended_at, turns, tokens_in, tokens_out, events, unknown_events, first_run_id, last_run_id FROM sessions ORDER BY coalesce(started_at, \'\'), session_id').all() as Omit<SessionRow, 'node_id'>[];
  return rows.map((row) => ({ ...row, node_id: nodeId }));
}

export async function listSessions(options: StoreCall & { node?: string }): Promise<SessionRow[]> {
  return withStore(options, async (store) => {
    if (options.node !== undefined) {
      const node = await store.resolve(options.node);
      return withNodeDb(store, node, (db) => sessionsOf(db, node.node_id));
    }
    const out: SessionRow[] = [];
    for (const { node, ids } of holderNodes(store).values()) {
      out.push(...(await withNodeDb(store, node, (db) => sessionsOf(db, node.node_id).filter((s) => ids.has(s.session_id)))));
    }
    return out.sort((a, b) => (a.started_at ?? '').localeCompare(b.started_at ?? '') || a.session_id.localeCompare(b.session_id));
  });
}

async function holderOf(store: Store, id: string, nodeRef: string | undefined): Promise<NodeRow> {
  if (nodeRef !== undefined) return store.resolve(nodeRef);
  const matches = [...sessionHolders(store).entries()].filter(([sessionId]) => sessionId === id || sessionId.startsWith(id));
  // On several branches: the latest; `--node` picks another.
  if (matches.length === 1) return matches[0]![1][0]!;
  if (matches.length > 1) {
    throw new SwarmError('INVALID_ARGUMENT', `session ${JSON.stringify(id)} is ambiguous: ${matches.map(([s]) => s).join(', ')}`, { hint: 'give more of the id' });
  }
  throw new SwarmError('SESSION_NOT_FOUND', `no node of this store holds session ${JSON.stringify(id)}`, { hint: 'list them with `swarm sessions list`' });
}

export interface SessionDetail {
  session: SessionRow;
  events: EventRow[];
}

export async function showSession(options: StoreCall & { id: string; node?: string }): Promise<SessionDetail> {
  return withStore(options, async (store) => {
    const node = await holderOf(store, options.id, options.node);
    return withNodeDb(store, node, (db) => {
      const session = sessionsOf(db, node.node_id).find((s) => s.session_id === options.id || s.session_id.startsWith(options.id));
      if (!session) throw new SwarmError('SESSION_NOT_FOUND', `node ${node.node_id} holds no session ${JSON.stringify(options.id)}`);
      const events = db
        .prepare('SELECT event_id, run_id, source_offset, known, role, type, tool, text, tokens_in, tokens_out, at, repeat, raw FROM events WHERE session_id = ? ORDER BY event_id')
        .all(session.session_id) as EventRow[];
      return { session, events };
    });
  });
}

export interface SearchHit {
  session_id: string;
  agent: string;
  node_id: string;
  event_id: number;
  role: string | null;
  type: string;
  at: string | null;
  /** The matching text, shortened around the match. */
  snippet: string;
}

export async function searchSessions(options: StoreCall & { text: string; node?: string; limit?: number }): Promise<SearchHit[]> {
  if (options.text.trim() === '') throw new SwarmError('INVALID_ARGUMENT', 'give some text to search for');
  return withStore(options, async (store) => {
    let targets: Map<string, { node: NodeRow; ids: Set<string> | null }>;
    if (options.node !== undefined) {
      const node = await store.resolve(options.node);
      targets = new Map([[node.node_id, { node, ids: null }]]);
    } else {
      targets = holderNodes(store);
    }
    const hits: SearchHit[] = [];
    // Branches share the turns before they diverged: each line is one hit.
    const seen = new Set<string>();
    const needle = options.text.toLowerCase();
    for (const { node, ids } of targets.values()) {
      const found = await withNodeDb(store, node, (db) =>
        db
          .prepare(
            `SELECT e.session_id, s.agent, e.event_id, e.role, e.type, e.at, e.text, e.line_sha256 FROM events e JOIN sessions s USING (session_id)
             WHERE e.repeat = 0 AND e.text IS NOT NULL AND instr(lower(e.text), ?) > 0 ORDER BY e.session_id, e.event_id`,
          )
          .all(needle) as Array<Omit<SearchHit, 'snippet' | 'node_id'> & { text: string; line_sha256: string }>,
      );
      for (const hit of found) {
        if (ids && !ids.has(hit.session_id)) continue;
        const { text, line_sha256, ...rest } = hit;
        if (seen.has(`${hit.session_id}:${line_sha256}`)) continue;
        seen.add(`${hit.session_id}:${line_sha256}`);
        hits.push({ ...rest, node_id: node.node_id, snippet: snippet(text, needle) });
      }
    }
    return hits.slice(0, options.limit ?? 100);
  });
}

function snippet(text: string, needle: string): string {
  const flat = text.replace(/\s+/g, ' ');
  const at = flat.toLowerCase().indexOf(needle);
  const from = Math.max(0, at - 40);
  const to = Math.min(flat.length, at + needle.length + 40);
  return `${from > 0 ? '…' : ''}${flat.slice(from, to)}${to < flat.length ? '…' : ''}`;
}

/** A session as the agent wrote it (`jsonl`: its lines in order, lossless) or as a readable document (`md`). */
export function renderSessionExport(detail: SessionDetail, format: 'jsonl' | 'md'): string {
  if (format === 'jsonl') return detail.events.map((e) => `${e.raw}\n`).join('');
  const s = detail.session;
  const lines = [
    `# ${s.agent} session ${s.session_id}`,
    '',
    `- model: ${s.model ?? 'unknown'}`,
    `- started: ${s.started_at ?? 'unknown'}, ended: ${s.ended_at ?? 'unknown'}`,
    `- turns: ${s.turns}, tokens in/out: ${s.tokens_in}/${s.tokens_out}`,
    `- node: ${s.node_id}`,
    '',
  ];
  for (const e of detail.events) {
    if (e.repeat || e.text === null) continue;
    const who = e.tool ? `${e.role ?? 'tool'} · ${e.tool}` : (e.role ?? e.type);
    lines.push(`## ${who}${e.at ? ` (${e.at})` : ''}`, '', e.text, '');
  }
  return `${lines.join('\n')}\n`;
}
