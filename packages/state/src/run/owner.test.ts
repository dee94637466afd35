import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OWNER_FILE, liveOwner } from './owner.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function ownerFileFor(pid: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-owner-'));
  dirs.push(dir);
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  fs.writeFileSync(path.join(dir, OWNER_FILE), `${pid}:${start}`);
  return dir;
}

describe('the owner of a run', () => {
  it('is live while its process runs, and gone once it is a zombie nobody has reaped (a SIGKILLed swarm)', async () => {
    // `sleep 5` never waits for the child it inherits, so that child stays a zombie while it runs.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const zombie = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    try {
      const liveDir = ownerFileFor(parent.pid!);
      const zombieDir = ownerFileFor(zombie);
      const deadline = Date.now() + 5_000;
      const state = () => fs.readFileSync(`/proc/${zombie}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
      while (state() !== 'Z' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(state()).toBe('Z');
      // kill(0) still finds a zombie: the positive control for what liveOwner must see through.
      expect(() => process.kill(zombie, 0)).not.toThrow();
      expect(liveOwner(zombieDir)).toBeUndefined();
      expect(liveOwner(liveDir)).toBe(parent.pid);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
