import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeStaleSocketDirs } from './socket-dirs.js';

let tmp: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-sockdir-test-'));
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function socketDir(pid: number, suffix = 'Ab12Cd'): string {
  const dir = path.join(tmp, `swarm-egress-${pid}-${suffix}`);
  fs.mkdirSync(dir);
  return dir;
}

function deadPid(): number {
  const done = spawnSync('true');
  return done.pid!;
}

async function liveChild(): Promise<number> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid!;
}

function backdate(dir: string): void {
  const hourAgo = new Date(Date.now() - 3600_000);
  fs.utimesSync(dir, hourAgo, hourAgo);
}

describe('removeStaleSocketDirs', () => {
  it('removes the directory of a dead owner and keeps this process\'s own', () => {
    const dead = socketDir(deadPid());
    fs.writeFileSync(path.join(dead, 'broker.sock'), '');
    const mine = socketDir(process.pid);
    const result = removeStaleSocketDirs({ tmpDir: tmp });
    expect(result.removed).toEqual([dead]);
    expect(result.kept).toBe(1);
    expect(fs.existsSync(dead)).toBe(false);
    expect(fs.existsSync(mine)).toBe(true);
  });

  it('keeps the directory of a live owner that started before it was made', async () => {
    const pid = await liveChild();
    const dir = socketDir(pid);
    expect(removeStaleSocketDirs({ tmpDir: tmp })).toEqual({ removed: [], kept: 1 });
    expect(fs.existsSync(dir)).toBe(true);
  });

  it('a live pid that started after the directory was made is a reused pid: removed', async () => {
    const pid = await liveChild();
    const dir = socketDir(pid);
    // Positive control: the same live pid keeps a fresh directory (previous test); backdated, it cannot own it.
    backdate(dir);
    expect(removeStaleSocketDirs({ tmpDir: tmp }).removed).toEqual([dir]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a bound socket in the directory keeps it even when the start times disagree (suspend, clock steps)', async () => {
    const pid = await liveChild();
    const dir = socketDir(pid);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'broker.sock'), resolve));
    try {
      backdate(dir);
      expect(removeStaleSocketDirs({ tmpDir: tmp })).toEqual({ removed: [], kept: 1 });
      expect(fs.existsSync(dir)).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // Control: once the socket is closed the same directory is stale (closing it touched the directory).
    backdate(dir);
    expect(removeStaleSocketDirs({ tmpDir: tmp }).removed).toEqual([dir]);
  });

  it('leaves alone names without an owner pid, symlinks, plain files, and dry runs change nothing', () => {
    const pid = deadPid();
    const oldStyle = path.join(tmp, 'swarm-egress-Ab12Cd');
    fs.mkdirSync(oldStyle);
    const target = path.join(tmp, 'target');
    fs.mkdirSync(target);
    const link = path.join(tmp, `swarm-egress-${pid}-Zz99Yy`);
    fs.symlinkSync(target, link);
    const file = path.join(tmp, `swarm-egress-${pid}-Qq11Ww`);
    fs.writeFileSync(file, '');
    const stale = socketDir(pid);
    expect(removeStaleSocketDirs({ tmpDir: tmp, dryRun: true }).removed).toEqual([stale]);
    expect(fs.existsSync(stale)).toBe(true);
    expect(removeStaleSocketDirs({ tmpDir: tmp }).removed).toEqual([stale]);
    for (const kept of [oldStyle, target, link, file]) expect(fs.existsSync(kept), kept).toBe(true);
  });
});
