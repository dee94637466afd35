// The net_cap broker on loopback: bulk CONNECT throughput against a direct transfer of the same
// bytes (and against tinyproxy when it is installed), added latency of small requests, and 200
// concurrent tunnels. The origin, the broker and tinyproxy each run in their own process, like
// in real use; the client runs here. Everything is bounded and stops by itself.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, heading, median, percentile } from './lib.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const proxyDist = pathToFileURL(path.join(root, 'packages/proxy/dist/index.js')).href;

const BULK_BYTES = 256 * 1024 * 1024;
const BULK_ROUNDS = 5;
const LATENCY_REQUESTS = 2000;
const TUNNEL_SETUPS = 300;
const CONCURRENT_TUNNELS = 200;
const DEADLINE_MS = 80_000;

// ---- child processes ----

const ORIGIN_SCRIPT = `
import http from 'node:http';
import net from 'node:net';
const bulk = Buffer.alloc(1024 * 1024, 7);
// /bulk: on connect, send the requested number of bytes (first line of the request) and end.
const blaster = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  let head = '';
  const onData = (chunk) => {
    head += chunk.toString('latin1');
    const nl = head.indexOf('\\n');
    if (nl < 0) return;
    socket.removeListener('data', onData);
    socket.resume();
    let left = Number(head.slice(0, nl));
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, bulk.length);
        left -= n;
        if (!socket.write(n === bulk.length ? bulk : bulk.subarray(0, n))) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  };
  socket.on('data', onData);
});
// Echo: for tunnel round trips and held tunnels.
const echo = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.pipe(socket);
});
const small = Buffer.alloc(100, 120);
const web = http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': small.length });
  res.end(small);
});
web.keepAliveTimeout = 60_000;
let ready = 0;
const done = () => {
  if (++ready === 3) process.stdout.write(JSON.stringify({ bulk: blaster.address().port, echo: echo.address().port, web: web.address().port }) + '\\n');
};
blaster.listen(0, '127.0.0.1', done);
echo.listen(0, '127.0.0.1', done);
web.listen(0, '127.0.0.1', done);
`;

const BROKER_SCRIPT = `
import crypto from 'node:crypto';
import { createBroker, mintTicket } from ${JSON.stringify(proxyDist)};
const allow = JSON.parse(process.argv[1]);
const key = crypto.randomBytes(32);
const broker = createBroker({ brokerKey: key });
const address = await broker.listen({ host: '127.0.0.1', port: 0 });
const now = Math.floor(Date.now() / 1000);
const ticket = mintTicket({ netCapChainKey: crypto.randomBytes(32).toString('hex'), runId: 'bench', allowlist: allow,
  routeMode: 'direct', issuedAtUnix: now, expiresAtUnix: now + 3600, brokerKey: key });
broker.admit(ticket);
process.stdout.write(JSON.stringify({ port: address.port, user: ticket.session_id, secret: ticket.secret }) + '\\n');
`;

function startChild(command, args, label) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    if (stderr.length < 4096) stderr += c;
  });
  const line = new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${label} exited (${code}): ${stderr.trim()}`)));
  });
  return { child, line };
}

function startNodeScript(script, args, label) {
  return startChild(process.execPath, ['--input-type=module', '-e', script, ...args], label);
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startTinyproxy(dir) {
  if (spawnSync('tinyproxy', ['-v']).status !== 0) return null;
  const port = await freePort();
  const conf = path.join(dir, 'tinyproxy.conf');
  fs.writeFileSync(
    conf,
    [`Port ${port}`, 'Listen 127.0.0.1', 'Timeout 600', 'MaxClients 400', 'Allow 127.0.0.1', 'LogLevel Critical', `LogFile "${path.join(dir, 'tinyproxy.log')}"`, 'DisableViaHeader Yes', ''].join('\n'),
  );
  const child = spawn('tinyproxy', ['-d', '-c', conf], { stdio: 'ignore' });
  // tinyproxy prints nothing when ready: wait until its port answers.
  for (let i = 0; i < 100; i += 1) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return { child, port };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  return null;
}

// ---- clients ----

/** Opens a TCP connection, through a proxy with CONNECT when `via` is given. Resolves after the 200. */
function openStream(target, via) {
  return new Promise((resolve, reject) => {
    const scratch = Buffer.allocUnsafe(1024 * 1024);
    const state = { bytes: 0, onBytes: null, socket: null };
    let headDone = !via;
    let head = '';
    const socket = net.connect({
      host: '127.0.0.1',
      port: via ? via.port : target,
      allowHalfOpen: true,
      // A cheap reader (one reused buffer), so the client is not what limits the figures.
      onread: {
        buffer: scratch,
        callback: (n, buf) => {
          if (!headDone) {
            head += buf.subarray(0, n).toString('latin1');
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) return true;
            headDone = true;
            if (!/^HTTP\/1\.[01] 200/.test(head)) {
              socket.destroy();
              reject(new Error(`CONNECT answered ${head.split('\r\n')[0]}`));
              return false;
            }
            const rest = head.length - end - 4;
            state.bytes += rest;
            resolve(state);
            state.onBytes?.(rest);
            return true;
          }
          state.bytes += n;
          state.onBytes?.(n);
          return true;
        },
      },
    });
    state.socket = socket;
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.setNoDelay(true);
      if (via) {
        socket.write(`CONNECT 127.0.0.1:${target} HTTP/1.1\r\nHost: 127.0.0.1:${target}\r\n${via.auth ? `Proxy-Authorization: ${via.auth}\r\n` : ''}\r\n`);
      } else {
        resolve(state);
      }
    });
  });
}

async function bulkTransfer(target, via) {
  const started = process.hrtime.bigint();
  const stream = await openStream(target, via);
  const done = new Promise((resolve, reject) => {
    stream.socket.on('end', resolve);
    stream.socket.on('error', reject);
  });
  stream.socket.write(`${BULK_BYTES}\n`);
  await done;
  stream.socket.destroy();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (stream.bytes !== BULK_BYTES) throw new Error(`bulk transfer got ${stream.bytes} of ${BULK_BYTES} bytes`);
  return BULK_BYTES / seconds / 1e6;
}

async function smallRequests(origin, via, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const once = () =>
    new Promise((resolve, reject) => {
      const started = process.hrtime.bigint();
      const options = via
        ? { host: '127.0.0.1', port: via.port, path: `http://127.0.0.1:${origin}/small`, headers: { 'proxy-authorization': via.auth }, agent }
        : { host: '127.0.0.1', port: origin, path: '/small', agent };
      const req = http.get(options, (res) => {
        if (res.statusCode !== 200) reject(new Error(`small request answered ${res.statusCode}`));
        res.resume();
        res.on('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
      });
      req.on('error', reject);
    });
  for (let i = 0; i < 500; i += 1) await once();
  const times = [];
  for (let i = 0; i < count; i += 1) times.push(await once());
  agent.destroy();
  return times;
}

/** Opening a tunnel and one 64-byte round trip, against a new direct connection and the same round trip. */
async function tunnelSetups(echoPort, via, count) {
  const payload = Buffer.alloc(64, 97);
  const once = async () => {
    const started = process.hrtime.bigint();
    const stream = await openStream(echoPort, via);
    await new Promise((resolve, reject) => {
      stream.onBytes = () => {
        if (stream.bytes >= payload.length) resolve();
      };
      stream.socket.on('error', reject);
      stream.socket.write(payload);
    });
    stream.socket.destroy();
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  for (let i = 0; i < 30; i += 1) await once();
  const times = [];
  for (let i = 0; i < count; i += 1) times.push(await once());
  return times;
}

async function concurrentTunnels(echoPort, via, count) {
  const started = Date.now();
  const results = await Promise.allSettled(Array.from({ length: count }, () => openStream(echoPort, via)));
  const open = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  let errors = results.length - open.length;
  // With every tunnel open at once, each carries 4 KiB both ways.
  const payload = Buffer.alloc(4096, 98);
  const echoed = await Promise.allSettled(
    open.map(
      (stream) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('echo timed out')), 15_000);
          stream.onBytes = () => {
            if (stream.bytes >= payload.length) {
              clearTimeout(timer);
              resolve();
            }
          };
          stream.socket.on('error', reject);
          stream.socket.write(payload);
        }),
    ),
  );
  errors += echoed.filter((r) => r.status === 'rejected').length;
  for (const stream of open) stream.socket.destroy();
  return { opened: open.length, errors, ms: Date.now() - started };
}

// ---- the benchmark ----

export async function main() {
  const deadline = setTimeout(() => {
    console.error('proxy bench: deadline reached, stopping');
    process.exit(1);
  }, DEADLINE_MS);
  deadline.unref();
  if (!fs.existsSync(fileURLToPath(proxyDist))) throw new Error('build first: npm run build');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-proxy-'));
  const children = [];
  try {
    const origin = startNodeScript(ORIGIN_SCRIPT, [], 'origin');
    children.push(origin.child);
    const ports = JSON.parse(await origin.line);
    const allow = [`127.0.0.1:${ports.bulk}`, `127.0.0.1:${ports.echo}`, `127.0.0.1:${ports.web}`];
    const broker = startNodeScript(BROKER_SCRIPT, [JSON.stringify(allow)], 'broker');
    children.push(broker.child);
    const b = JSON.parse(await broker.line);
    const viaBroker = { port: b.port, auth: `Basic ${Buffer.from(`${b.user}:${b.secret}`).toString('base64')}` };
    const tiny = await startTinyproxy(dir);
    if (tiny) children.push(tiny.child);
    const viaTiny = tiny ? { port: tiny.port, auth: null } : null;

    heading(`bulk CONNECT throughput (${BULK_BYTES / 1024 / 1024} MiB per transfer, ${BULK_ROUNDS} rounds, interleaved)`);
    const bulk = { direct: [], broker: [], tinyproxy: [] };
    await bulkTransfer(ports.bulk, null);
    await bulkTransfer(ports.bulk, viaBroker);
    for (let round = 0; round < BULK_ROUNDS; round += 1) {
      bulk.direct.push(await bulkTransfer(ports.bulk, null));
      bulk.broker.push(await bulkTransfer(ports.bulk, viaBroker));
      if (viaTiny) bulk.tinyproxy.push(await bulkTransfer(ports.bulk, viaTiny));
    }
    const direct = median(bulk.direct);
    const brokered = median(bulk.broker);
    console.log(`direct loopback     median ${fmt(direct, 0)} MB/s`);
    console.log(`through the broker  median ${fmt(brokered, 0)} MB/s   ratio to direct ${fmt(brokered / direct, 2)} (target >= 0.80)`);
    if (viaTiny) {
      const t = median(bulk.tinyproxy);
      console.log(`through tinyproxy   median ${fmt(t, 0)} MB/s   ratio to direct ${fmt(t / direct, 2)}; broker/tinyproxy ${fmt(brokered / t, 2)}`);
    } else {
      console.log('tinyproxy is not installed: skipped (apt-get install tinyproxy)');
    }

    heading(`small requests (100-byte responses, keep-alive, ${LATENCY_REQUESTS} sequential)`);
    const plainDirect = await smallRequests(ports.web, null, LATENCY_REQUESTS);
    const plainBroker = await smallRequests(ports.web, viaBroker, LATENCY_REQUESTS);
    const added = median(plainBroker) - median(plainDirect);
    console.log(`direct              median ${fmt(median(plainDirect), 3)} ms  p99 ${fmt(percentile(plainDirect, 99), 3)} ms`);
    console.log(`through the broker  median ${fmt(median(plainBroker), 3)} ms  p99 ${fmt(percentile(plainBroker, 99), 3)} ms`);
    console.log(`added latency       median ${fmt(added, 3)} ms (target < 1 ms)  p99 ${fmt(percentile(plainBroker, 99) - percentile(plainDirect, 99), 3)} ms`);

    heading(`new tunnel + one 64-byte round trip (${TUNNEL_SETUPS} sequential)`);
    const setupDirect = await tunnelSetups(ports.echo, null, TUNNEL_SETUPS);
    const setupBroker = await tunnelSetups(ports.echo, viaBroker, TUNNEL_SETUPS);
    console.log(`direct connection   median ${fmt(median(setupDirect), 3)} ms  p99 ${fmt(percentile(setupDirect, 99), 3)} ms`);
    console.log(`CONNECT via broker  median ${fmt(median(setupBroker), 3)} ms  p99 ${fmt(percentile(setupBroker, 99), 3)} ms  added median ${fmt(median(setupBroker) - median(setupDirect), 3)} ms`);
    if (viaTiny) {
      // tinyproxy closes client connections after each request, so it is compared on new tunnels only.
      const setupTiny = await tunnelSetups(ports.echo, viaTiny, TUNNEL_SETUPS);
      console.log(`CONNECT via tinyproxy median ${fmt(median(setupTiny), 3)} ms  p99 ${fmt(percentile(setupTiny, 99), 3)} ms  added median ${fmt(median(setupTiny) - median(setupDirect), 3)} ms`);
    }

    heading(`${CONCURRENT_TUNNELS} concurrent tunnels`);
    const held = await concurrentTunnels(ports.echo, viaBroker, CONCURRENT_TUNNELS);
    console.log(`opened ${held.opened}/${CONCURRENT_TUNNELS} at once, 4 KiB echoed on each, errors ${held.errors}, ${held.ms} ms`);

    return {
      bulk_mb_s: { direct, broker: brokered, tinyproxy: viaTiny ? median(bulk.tinyproxy) : null, ratio: brokered / direct },
      small_request_ms: { direct_median: median(plainDirect), broker_median: median(plainBroker), added_median: added, broker_p99: percentile(plainBroker, 99) },
      concurrent_tunnels: held,
    };
  } finally {
    for (const child of children) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    clearTimeout(deadline);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
