import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { writeOwnerFile } from './owner.js';
import { collectGarbage } from './queries.js';

let tmp: string;
let home: string;
let project: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-gc-'));
  home = path.join(tmp, 'home');
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  Store.open(project, { home }).close();
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function runDirOf(runId: string): string {
  const dir = path.join(project, '.swarm', 'runs', runId);
  fs.mkdirSync(path.join(dir, 'workspace'), { recursive: true });
  return dir;
}

/** A step process group (leader = pid) whose cwd is `cwd`, like the one a run leaves running. */
async function stepGroup(cwd: string): Promise<{ child: ChildProcess; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn('sleep', ['60'], { cwd, detached: true, stdio: 'ignore' });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return { child, exited };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('gc of an abandoned run', () => {
  it('kills the step group it left in its own workspace (positive control)', async () => {
    const v = runDirOf('v');
    const step = await stepGroup(path.join(v, 'workspace'));
    fs.writeFileSync(path.join(v, '.step.pgid'), String(step.child.pid));
    const result = await collectGarbage({ cwd: project, home, env: { ...process.env, SWARM_HOME: home } });
    expect(result.removed_runs).toEqual(['v']);
    expect(await step.exited).toBe('SIGKILL');
  });

  it('gc with the leftovers of run v never touches live run v2 (no prefix match)', async () => {
    const v = runDirOf('v');
    const v2 = runDirOf('v2');
    writeOwnerFile(v2);
    const live = await stepGroup(path.join(v2, 'workspace'));
    // v's pgid file names v2's step group: a reused pid, or one a step wrote there.
    fs.writeFileSync(path.join(v, '.step.pgid'), String(live.child.pid));
    const result = await collectGarbage({ cwd: project, home, env: { ...process.env, SWARM_HOME: home } });
    expect(result.removed_runs).toEqual(['v']);
    await settle(200);
    expect(live.child.exitCode).toBeNull();
    expect(live.child.signalCode).toBeNull();
    expect(fs.existsSync(path.join(v2, 'workspace'))).toBe(true);
    expect(fs.existsSync(v)).toBe(false);
  });
});
