/**
 * Which process owns a live run. The owner file holds `pid:starttime` (start time from
 * /proc/<pid>/stat where available), so a reused pid or a number a step wrote into the file is
 * never mistaken for the owner, and swarm never signals pid 0, 1 or a negative pid.
 */
import fs from 'node:fs';
import path from 'node:path';

export const OWNER_FILE = '.owner.pid';

/** Fields of /proc/<pid>/stat after the parenthesised command name (state first); null where unreadable. */
function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function startTime(pid: number): string {
  // Field 22 (starttime).
  return statFields(pid)?.[19] ?? '';
}

export function writeOwnerFile(dir: string): void {
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${process.pid}:${startTime(process.pid)}`, { mode: 0o600 });
}

/** The owner's pid if the file names a live process that really is the owner; else undefined. */
export function liveOwner(dir: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const match = /^(\d+):(\d*)$/.exec(text.trim());
  if (!match) return undefined;
  const pid = Number(match[1]);
  if (!Number.isSafeInteger(pid) || pid <= 1) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive but another user's; treat it as live so nobody removes its run.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  // A killed owner that nobody has reaped yet is a zombie: gone, whatever kill(0) says.
  if (statFields(pid)?.[0] === 'Z') return undefined;
  const recorded = match[2] ?? '';
  if (recorded !== '' && startTime(pid) !== '' && startTime(pid) !== recorded) return undefined;
  return pid;
}
