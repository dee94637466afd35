/**
 * The egress decision log: one JSON line per proxy request, appended to the run's `egress.log`.
 * Lines never hold a secret or a Proxy-Authorization value. `bytes_out` counts payload bytes sent
 * towards the destination, `bytes_in` payload bytes received from it (tunnel bytes for CONNECT,
 * body bytes for plain HTTP).
 */
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { SwarmError, type EgressSummary } from '@swarm/core';

export type Decision = 'allowed' | 'denied';

export interface DecisionEntry {
  time: string;
  run_id: string | null;
  session_id: string | null;
  host: string | null;
  port: number | null;
  /** Direct mode: the address a name resolved to and was connected to (or refused). */
  address?: string;
  method: string | null;
  decision: Decision;
  /** `allowed`, or why not / what went wrong (see docs/egress.md). */
  reason: string;
  status: number;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
}

export type DecisionSink = (entry: DecisionEntry) => void;

/** Appends decision lines to a file (0600), buffering writes; `close()` flushes. */
export class DecisionLog {
  private readonly stream: fs.WriteStream;
  private failure: Error | undefined;
  private closed = false;

  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.stream = fs.createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.stream.on('error', (error) => {
      this.failure = error;
    });
  }

  readonly write: DecisionSink = (entry) => {
    if (this.closed || this.failure) return;
    this.stream.write(`${JSON.stringify(entry)}\n`);
  };

  /** The first write error, if any (the broker keeps serving; the caller reports it). */
  get error(): Error | undefined {
    return this.failure;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }
}

/** Sums a decision log into the `egress` block of result.json. A missing file is an empty log. */
export async function summarizeEgressLog(file: string): Promise<EgressSummary> {
  const summary: EgressSummary = { requests: 0, allowed: 0, denied: 0, bytes_in: 0, bytes_out: 0, hosts: [] };
  let input: fs.ReadStream;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
    input = fs.createReadStream(file, { encoding: 'utf8' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return summary;
    throw new SwarmError('IO_READ_FAILED', `cannot read egress log ${file}`, { details: { path: file }, cause });
  }
  const hosts = new Set<string>();
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    const entry = parseLine(line);
    if (!entry) continue;
    summary.requests += 1;
    if (entry.decision === 'allowed') {
      summary.allowed += 1;
      if (entry.host !== null && entry.port !== null) hosts.add(formatHost(entry.host, entry.port));
    } else {
      summary.denied += 1;
    }
    summary.bytes_in += entry.bytes_in;
    summary.bytes_out += entry.bytes_out;
  }
  summary.hosts = [...hosts].sort();
  return summary;
}

/** A line that is not a decision (a torn last line after a crash) is skipped, not fatal. */
function parseLine(line: string): DecisionEntry | null {
  if (line.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  const entry = value as Partial<DecisionEntry>;
  if (typeof entry !== 'object' || entry === null) return null;
  if (entry.decision !== 'allowed' && entry.decision !== 'denied') return null;
  if (!isCount(entry.bytes_in) || !isCount(entry.bytes_out)) return null;
  return entry as DecisionEntry;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function formatHost(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
