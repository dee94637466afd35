/**
 * `swarm ui`: a local web app over this store, served on 127.0.0.1 only.
 *
 * - A token of 32 random bytes is made at start and printed in the URL. Without it there is no
 *   data: every request needs it in the `X-Swarm-Token` header (`?token=` only for the page and
 *   its event stream, which cannot send headers), and a request without it gets a bare 401.
 * - Requests that change something (stop, kill) take the token only in the header, so a page of
 *   another origin cannot make the browser send them; a foreign `Origin` is refused too.
 * - The Host header must name this server (127.0.0.1 or localhost and its port): a DNS name
 *   rebound to 127.0.0.1 gets nothing.
 * - Nothing secret is served: no capability, key or secret value; step logs are the redacted
 *   step.log swarm wrote.
 * - The page and its script are built with the CLI (esbuild) and served from here: no CDN.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwarmError, isSwarmError, isValidName } from '@swarm/core';

export interface UiOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** 0 (default): a free port. */
  port?: number;
  /** How often live views are checked for changes (ms). */
  pollMs?: number;
}

export interface UiServer {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const LOG_TAIL = 256 * 1024;

/** Where the built page lives: dist/web, beside this module's directory in dist. */
function assetDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, '..', 'web'), path.resolve(here, '../../dist/web')]) {
    if (fs.existsSync(path.join(candidate, 'app.js'))) return candidate;
  }
  throw new SwarmError('INTERNAL', 'the web UI is not built (run `npm run build`)');
}

/** A run id from a URL, checked before it names any path. */
function validRunId(id: string): string {
  if (!isValidName(id)) throw new SwarmError('INVALID_ARGUMENT', `invalid run id ${JSON.stringify(id)}`);
  return id;
}

/** Up to `max` bytes of a file from `offset`, cut back to whole UTF-8 characters; eof when they reach its end. */
function readFrom(file: string, offset: number, max: number): { bytes: Buffer; eof: boolean } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return { bytes: Buffer.alloc(0), eof: true };
  }
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(Math.max(0, Math.min(max, size - offset)));
    const n = buf.length > 0 ? fs.readSync(fd, buf, 0, buf.length, offset) : 0;
    let end = n;
    // Back off over a character whose last bytes are not written yet (or not in this read).
    for (let back = 1; back <= Math.min(3, n); back += 1) {
      const byte = buf[n - back]!;
      if ((byte & 0xc0) === 0x80) continue;
      const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
      if (need > back) end = n - back;
      break;
    }
    return { bytes: buf.subarray(0, end), eof: offset + end >= size };
  } finally {
    fs.closeSync(fd);
  }
}

export async function startUi(options: UiOptions): Promise<UiServer> {
  const state = await import('@swarm/state');
  const root = state.findProjectRoot(options.cwd);
  if (!root) throw new SwarmError('STORE_NOT_FOUND', 'no swarm store here; run `swarm init` first');
  const assets = assetDir();
  const token = crypto.randomBytes(32).toString('hex');
  const tokenBytes = Buffer.from(token);
  const call = { cwd: options.cwd, env: options.env };
  let port = 0;

  const tokenOk = (given: string | null | undefined) => {
    if (!given) return false;
    const b = Buffer.from(given);
    return b.length === tokenBytes.length && crypto.timingSafeEqual(b, tokenBytes);
  };
  const hostOk = (host: string | undefined) => host === `127.0.0.1:${port}` || host === `localhost:${port}`;

  const graph = async () => {
    const [g, runs] = await Promise.all([state.loadGraph(call), state.psRuns({ ...call, recent: 50 })]);
    return { ...g, runs };
  };

  const nodeDetail = async (ref: string) => {
    const g = await state.loadGraph(call);
    const node = g.nodes.find((n) => n.node_id === ref) ?? g.nodes.find((n) => n.run_id === ref.replace(/^run:/, ''));
    if (!node) throw new SwarmError('NODE_NOT_FOUND', `no node ${ref}`);
    const runId = node.run_id;
    const dir = runId ? state.runDir(state.storePaths(root), runId) : null;
    const read = (name: string) => (dir && fs.existsSync(path.join(dir, name)) ? fs.readFileSync(path.join(dir, name), 'utf8') : null);
    const json = (name: string) => {
      const text = read(name);
      try {
        return text === null ? null : (JSON.parse(text) as unknown);
      } catch {
        return null;
      }
    };
    let checks = null;
    const certificate = dir ? path.join(dir, 'certificate.json') : null;
    if (certificate && fs.existsSync(certificate)) {
      const verify = await import('@swarm/verify');
      checks = verify.verifyCertificateFile({ certificate, cwd: options.cwd, env: options.env });
    }
    const log = read('step.log');
    const egress = (read('egress.log') ?? '')
      .split('\n')
      .filter(Boolean)
      .slice(-500)
      .map((line) => {
        try {
          const e = JSON.parse(line) as Record<string, unknown>;
          return { time: e.time, host: e.host, port: e.port, method: e.method, decision: e.decision, reason: e.reason, status: e.status };
        } catch {
          return null;
        }
      })
      .filter(Boolean);
    let sessions: unknown[] = [];
    try {
      sessions = await state.listSessions({ ...call, node: node.node_id });
    } catch {
      // no archive for this node
    }
    let diff = null;
    if (node.parent_node_id) {
      try {
        const d = await state.diffNodes({ ...call, node: node.node_id });
        diff = { base: d.base_node_id, files: d.files.map((f) => ({ path: f.path, status: f.status, added: f.additions, removed: f.deletions })), patch: d.patch.length > LOG_TAIL ? `${d.patch.slice(0, LOG_TAIL)}\n…` : d.patch };
      } catch (error) {
        diff = { error: isSwarmError(error) ? error.message : String(error) };
      }
    }
    return {
      node,
      run: runId ? ((await state.psRuns({ ...call, all: true })).find((r) => r.run_id === runId) ?? null) : null,
      result: json('result.json'),
      policy: json('policy.json'),
      certificate: checks,
      egress,
      log: log === null ? null : log.length > LOG_TAIL ? log.slice(-LOG_TAIL) : log,
      sessions,
      diff,
    };
  };

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(text);
  };

  const errorStatus = (error: unknown) => {
    if (!isSwarmError(error)) return 500;
    return error.category === 'input' ? (/NOT_FOUND/.test(error.code) ? 404 : 400) : 500;
  };

  const streams = new Set<http.ServerResponse>();
  let broadcasts = 0;
  let lastDigest = '';
  const poll = setInterval(async () => {
    if (streams.size === 0) return;
    try {
      const g = await graph();
      // What changes every tick by itself (a live run's uptime) is no news: it is left out.
      const digest = crypto.createHash('sha256').update(JSON.stringify({ ...g, runs: g.runs.map((r) => ({ ...r, uptime_ms: null })) })).digest('hex');
      if (digest === lastDigest) return;
      lastDigest = digest;
      broadcasts += 1;
      for (const res of streams) res.write(`event: graph\ndata: ${JSON.stringify(g)}\n\n`);
    } catch {
      // the next tick tries again
    }
  }, options.pollMs ?? 500);

  const server = http.createServer(async (req, res) => {
    try {
      if (!hostOk(req.headers.host)) return send(res, 403, 'forbidden');
      const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
      const headerToken = req.headers['x-swarm-token'];
      // The URL's token only where a browser cannot send a header: the page itself and its event stream.
      const queryTokenOk = req.method === 'GET' && (url.pathname === '/' || url.pathname === '/api/events') && tokenOk(url.searchParams.get('token'));
      const authorized = tokenOk(typeof headerToken === 'string' ? headerToken : null) || queryTokenOk;
      if (req.method === 'GET' && url.pathname === '/app.js') {
        res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
        return res.end(fs.readFileSync(path.join(assets, 'app.js')));
      }
      if (!authorized) return send(res, 401, '');
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, {
          'Content-Type': 'text/html; charset=utf-8',
          'Cache-Control': 'no-store',
          'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
          'Referrer-Policy': 'no-referrer',
        });
        return res.end(fs.readFileSync(path.join(assets, 'index.html')));
      }
      if (req.method === 'GET' && url.pathname === '/api/graph') return send(res, 200, await graph());
      if (req.method === 'GET' && url.pathname === '/api/runs') return send(res, 200, { runs: await state.psRuns({ ...call, all: url.searchParams.get('all') === '1' }) });
      if (req.method === 'GET' && url.pathname.startsWith('/api/node/')) return send(res, 200, await nodeDetail(decodeURIComponent(url.pathname.slice('/api/node/'.length))));
      if (req.method === 'GET' && url.pathname.startsWith('/api/log/')) {
        const runId = validRunId(decodeURIComponent(url.pathname.slice('/api/log/'.length)));
        const { file } = await state.runLogPath({ ...call, runId });
        const offset = Math.max(0, Math.floor(Number(url.searchParams.get('offset') ?? 0)) || 0);
        const finished = await state.runFinished({ ...call, runId });
        const { bytes, eof } = readFrom(file, offset, LOG_TAIL);
        return send(res, 200, { run_id: runId, offset: offset + bytes.length, text: bytes.toString('utf8'), finished: finished && eof });
      }
      if (req.method === 'GET' && url.pathname === '/api/diff') {
        const a = url.searchParams.get('a');
        const b = url.searchParams.get('b');
        if (!a || !b) throw new SwarmError('INVALID_ARGUMENT', 'compare needs a and b');
        const d = await state.diffNodes({ ...call, node: b, base: a });
        return send(res, 200, { base: a, node: b, files: d.files.map((f) => ({ path: f.path, status: f.status, added: f.additions, removed: f.deletions })), patch: d.patch });
      }
      if (req.method === 'GET' && url.pathname === '/api/events') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
        // Registered before the first await: a client gone meanwhile must not stay in the set.
        streams.add(res);
        res.on('close', () => streams.delete(res));
        const sent = broadcasts;
        let first;
        try {
          first = await graph();
        } catch {
          streams.delete(res);
          res.end();
          return undefined;
        }
        // A push that went out meanwhile is newer than this first picture.
        if (!res.destroyed && broadcasts === sent) res.write(`event: graph\ndata: ${JSON.stringify(first)}\n\n`);
        return undefined;
      }
      const action = /^\/api\/runs\/([^/]+)\/(stop|kill)$/.exec(url.pathname);
      if (req.method === 'POST' && action) {
        // The header, not the URL: a page elsewhere can make a browser send a URL, not a header.
        if (!tokenOk(typeof headerToken === 'string' ? headerToken : null)) return send(res, 401, '');
        const origin = req.headers.origin;
        if (origin !== undefined && origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`) return send(res, 403, 'forbidden');
        const result = await state.signalRun({ ...call, runId: validRunId(decodeURIComponent(action[1]!)), how: action[2] === 'stop' ? 'stop' : 'kill' });
        return send(res, 200, result);
      }
      return send(res, 404, 'not found');
    } catch (error) {
      return send(res, errorStatus(error), { error: isSwarmError(error) ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: 'internal error' } });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new SwarmError('INVALID_ARGUMENT', `port ${options.port} is in use on 127.0.0.1`) : error),
    );
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: async () => {
      clearInterval(poll);
      for (const res of streams) res.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
