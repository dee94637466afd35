/**
 * Broker socket directories (`swarm-egress-<pid>-XXXXXX` in the short temp dir) left behind by a
 * swarm process that was SIGKILLed before it could remove them. A directory is stale when the pid
 * in its name is not alive, or is alive but started after the directory was made (a reused pid)
 * and no socket in it is bound (start times shift with suspend and clock steps; a bound socket does not).
 */
import fs from 'node:fs';
import path from 'node:path';
import { shortTempDir } from './sandbox/probe.js';

/** egress-provider.ts makes them with the mkdtemp prefix `swarm-egress-<pid>-`. */
const SOCKET_DIR_RE = /^swarm-egress-(\d+)-[A-Za-z0-9]{6}$/;
/** /proc start times count USER_HZ ticks (100 on every Linux port), from a boot time in whole seconds. */
const USER_HZ = 100;
const START_TIME_SLACK_MS = 2_000;

export interface SocketDirCleanup {
  /** Directories removed (or, with dryRun, that would be). */
  removed: string[];
  /** Socket directories left alone because their owner is alive. */
  kept: number;
}

/** Removes this user's socket directories whose owning process is gone. */
export function removeStaleSocketDirs(options: { tmpDir?: string; dryRun?: boolean } = {}): SocketDirCleanup {
  const tmpDir = options.tmpDir ?? shortTempDir();
  const result: SocketDirCleanup = { removed: [], kept: 0 };
  let names: string[];
  try {
    names = fs.readdirSync(tmpDir);
  } catch {
    return result;
  }
  const uid = process.getuid?.();
  let bound: Set<string> | undefined;
  for (const name of names) {
    const match = SOCKET_DIR_RE.exec(name);
    if (!match) continue;
    const dir = path.join(tmpDir, name);
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(dir);
    } catch {
      continue;
    }
    // Never another user's directory, and never through a symlink.
    if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) continue;
    if (ownerAlive(Number(match[1]), createdMs(stat), () => (bound ??= boundUnixSockets()), dir)) {
      result.kept += 1;
      continue;
    }
    if (!options.dryRun) fs.rmSync(dir, { recursive: true, force: true });
    result.removed.push(dir);
  }
  return result;
}

function createdMs(stat: fs.Stats): number {
  // birthtime is 0 where the file system does not record it; mtime is then the closest we have.
  return stat.birthtimeMs > 0 ? Math.min(stat.birthtimeMs, stat.mtimeMs) : stat.mtimeMs;
}

function ownerAlive(pid: number, dirCreatedMs: number, bound: () => Set<string>, dir: string): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = processStartMs(pid);
  // A process that started after the directory was made cannot have made it: the pid was reused.
  if (started === undefined || started <= dirCreatedMs + START_TIME_SLACK_MS) return true;
  const sockets = bound();
  for (const socket of sockets) if (path.dirname(socket) === dir) return true;
  return false;
}

/** Paths of bound Unix sockets in this network namespace (from /proc/net/unix). */
function boundUnixSockets(): Set<string> {
  const paths = new Set<string>();
  try {
    for (const line of fs.readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length >= 8 && fields[7]!.startsWith('/')) paths.add(fields.slice(7).join(' '));
    }
  } catch {
    // no /proc: the start-time check alone decides
  }
  return paths;
}

/** Start time of a process in epoch milliseconds, from /proc; undefined where that is not available. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const btime = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'));
    if (!Number.isFinite(ticks) || !btime) return undefined;
    return Number(btime[1]) * 1000 + (ticks * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}
