/**
 * The egress sandbox launcher. It runs as the first process inside a fresh user + network
 * namespace (started by `unshare`, which execs it, so it keeps the caller's pid and process
 * group), where the only interface is loopback:
 *
 * 1. bring up loopback;
 * 2. listen on 127.0.0.1:<port> and forward every connection to the broker's Unix socket (file
 *    system sockets are not network-namespaced, so this is the one way out);
 * 3. run the step in the same process group, pass SIGINT/SIGTERM/SIGHUP/SIGQUIT on to it, and
 *    exit with its status (re-raising its signal).
 *
 * With `--self-test <port>` it instead checks the bridge and that the host's loopback port is
 * unreachable, for `probeSandbox`. Only Node built-ins are used, to start fast.
 */
import { existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { createFastReader } from '../fast-read.js';
import { splice } from '../splice.js';

/** Exit status when the sandbox itself could not be set up (the step never ran). */
const SETUP_FAILED = 125;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

interface LauncherArgs {
  socket: string;
  port: number;
  ip?: string;
  ifconfig?: string;
  unshare?: string;
  mapUser?: string;
  mapGroup?: string;
  selfTest?: number;
  nonce?: string;
  argv: string[];
  hide: string[];
  mountBin?: string;
}

function parseArgs(args: string[]): LauncherArgs {
  const out: Partial<LauncherArgs> & { argv: string[]; hide: string[] } = { argv: [], hide: [] };
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === '--') {
      out.argv = args.slice(i + 1);
      break;
    }
    const value = args[i + 1];
    if (value === undefined) die(`missing value for ${arg}`);
    i += 1;
    switch (arg) {
      case '--socket':
        out.socket = value;
        break;
      case '--port':
        out.port = Number(value);
        break;
      case '--ip':
        out.ip = value;
        break;
      case '--ifconfig':
        out.ifconfig = value;
        break;
      case '--unshare':
        out.unshare = value;
        break;
      case '--map-user':
        out.mapUser = value;
        break;
      case '--map-group':
        out.mapGroup = value;
        break;
      case '--self-test':
        out.selfTest = Number(value);
        break;
      case '--nonce':
        out.nonce = value;
        break;
      case '--hide':
        out.hide.push(value);
        break;
      case '--mount-bin':
        out.mountBin = value;
        break;
      default:
        die(`unknown option ${arg}`);
    }
  }
  if (!out.socket || out.port === undefined || !Number.isInteger(out.port)) die('usage: launcher --socket <path> --port <n> -- <step…>');
  return out as LauncherArgs;
}

function die(message: string): never {
  process.stderr.write(`swarm sandbox: ${message}\n`);
  process.exit(SETUP_FAILED);
}

/** Covers each path with an empty tmpfs nobody may read; fails closed. */
function hidePaths(args: LauncherArgs): void {
  for (const target of args.hide) {
    if (!existsSync(target)) continue;
    if (!args.mountBin) die(`cannot hide ${target}: no mount tool`);
    const result = spawnSync(args.mountBin, ['-t', 'tmpfs', '-o', 'size=4k,mode=000', 'swarm-hidden', target], {
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (result.status !== 0) die(`cannot hide ${target}: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`);
  }
}

function bringUpLoopback(args: LauncherArgs): void {
  const command = args.ip ? [args.ip, 'link', 'set', 'lo', 'up'] : args.ifconfig ? [args.ifconfig, 'lo', 'up'] : null;
  if (!command) die('no tool to bring up loopback (need ip or ifconfig)');
  const result = spawnSync(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (result.status !== 0) {
    die(`cannot bring up loopback: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim()}`);
  }
}

/** Forwards each connection on 127.0.0.1:port to the broker's Unix socket. */
function startForwarder(socketPath: string, port: number): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    client.on('error', () => {});
    const reader = createFastReader();
    const broker = net.connect({ path: socketPath, allowHalfOpen: true, onread: reader.onread });
    broker.on('error', () => {});
    broker.once('connect', () => void splice(client, broker, { idleMs: 0, farReader: reader }));
    broker.once('error', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function runStep(args: LauncherArgs, server: net.Server): void {
  if (args.argv.length === 0) die('no step command given');
  const command =
    args.unshare && args.mapUser !== undefined
      ? [args.unshare, '--user', '--mount', `--map-user=${args.mapUser}`, `--map-group=${args.mapGroup ?? args.mapUser}`, '--', ...args.argv]
      : args.argv;
  const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  child.once('error', (error: NodeJS.ErrnoException) => {
    process.stderr.write(`swarm sandbox: cannot start ${args.argv[0]}: ${error.code ?? error.message}\n`);
    process.exit(error.code === 'ENOENT' ? 127 : 126);
  });
  child.once('exit', (code, signal) => {
    server.close();
    if (signal) {
      for (const s of FORWARDED_SIGNALS) process.removeListener(s, forward);
      process.kill(process.pid, signal);
      // Signals this process does not die of (or that are blocked) still give the shell's status.
      setTimeout(() => process.exit(128 + signalNumber(signal)), 100).unref();
      return;
    }
    process.exit(code ?? 1);
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}

/** Probe mode: the bridge must echo the nonce, and the host's loopback port must be unreachable. */
async function selfTest(args: LauncherArgs, server: net.Server): Promise<void> {
  const port = (server.address() as net.AddressInfo).port;
  const bridge = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 3_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes(`echo:${args.nonce}`)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(true);
      }
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    socket.write(`${args.nonce}\n`);
  });
  const escaped = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: args.selfTest! });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 2_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  server.close();
  process.stdout.write(`${JSON.stringify({ bridge, isolated: !escaped })}\n`);
  process.exit(bridge && !escaped ? 0 : 1);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  bringUpLoopback(args);
  hidePaths(args);
  let server: net.Server;
  try {
    server = await startForwarder(args.socket, args.selfTest !== undefined ? 0 : args.port);
  } catch (error) {
    die(`cannot listen on 127.0.0.1:${args.port}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (args.selfTest !== undefined) await selfTest(args, server);
  else runStep(args, server);
}

void main();
