// End-to-end against the built binary (build first): "did you mean" suggestions, `swarm help` and
// `swarm version`, `run list` columns, `run rm` / `branch rm`, and the status line on a terminal.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateDocument } from '@swarm/core';
import { isolatedEnv, makeTempDir } from '@swarm/test-utils';

const cliDir = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(cliDir, 'bin', 'swarm.js');
const version = JSON.parse(fs.readFileSync(path.join(cliDir, 'package.json'), 'utf8')).version as string;

let tmp: { dir: string; cleanup(): void };
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  tmp = makeTempDir('swarm-e2e-polish-');
  env = isolatedEnv(tmp.dir, { NO_COLOR: '1' });
});
afterEach(() => tmp.cleanup());

function swarm(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tmp.dir, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Envelope {
  status: string;
  data?: any;
  error?: { code: string; details: any };
}

function json(args: string[]): { code: number | null; envelope: Envelope } {
  const r = swarm([...args, '--json']);
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stdout + r.stderr).toHaveLength(1);
  const envelope = JSON.parse(lines[0]!) as Envelope;
  expect(validateDocument('output', envelope).errors).toEqual([]);
  return { code: r.code, envelope };
}

const launch = (runId: string, node: string, step = 'true') => json(['run', 'launch', '--unsandboxed-egress', '--node', node, '--run-id', runId, '--step', step]);

describe('did you mean', () => {
  it.each([
    [['run', 'lanch'], 'swarm run launch'],
    [['verfy', 'cert'], 'swarm verify cert'],
    [['run', 'launch', '--alow-host', 'example.com', '--step', 'true'], '--allow-host'],
    [['help', 'run', 'lanch'], 'swarm run launch'],
  ])('%j is a USAGE error (exit 2) suggesting %s, in the envelope and the human message', (args, suggestion) => {
    const r = json(args);
    expect(r.code).toBe(2);
    expect(r.envelope.error!.code).toBe('USAGE');
    expect(r.envelope.error!.details.suggestions).toEqual([suggestion]);
    const human = swarm(args);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain(suggestion);
  });

  it('a word close to nothing suggests nothing, and a group alone suggests its commands', () => {
    const none = json(['xyzzy']);
    expect([none.code, none.envelope.error!.code, none.envelope.error!.details.suggestions]).toEqual([2, 'USAGE', []]);
    const group = json(['keys']);
    expect(group.code).toBe(2);
    expect(group.envelope.error!.details.suggestions).toEqual(expect.arrayContaining(['swarm keys generate', 'swarm keys show']));
  });
});

describe('swarm help and swarm version', () => {
  it('`swarm help` lists every command and each global flag once', () => {
    const r = swarm(['help']);
    expect(r.code).toBe(0);
    const text = json(['help']).envelope.data.text as string;
    for (const p of ['run launch', 'run rm', 'branch rm', 'gc', 'help', 'version']) expect(r.stdout).toContain(`swarm ${p}`);
    for (const flag of ['--json', '--quiet', '--verbose', '--no-color', '--profile']) {
      expect(r.stdout.split(flag).length - 1, flag).toBe(1);
    }
    expect(text).toBe(r.stdout);
  });

  it('`swarm help <command>` shows the options with their defaults', () => {
    const r = swarm(['help', 'graph']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').find((l) => l.includes('--format'))).toMatch(/default: mermaid/);
    const launchHelp = swarm(['help', 'run', 'launch']);
    expect(launchHelp.code).toBe(0);
    expect(launchHelp.stdout.split('\n').find((l) => l.trim().startsWith('--node'))).toMatch(/default: root/);
  });

  it('`swarm version` prints the package version, like --version', () => {
    const r = swarm(['version']);
    expect([r.code, r.stdout.trim()]).toEqual([0, version]);
    expect(json(['version']).envelope.data).toEqual({ version });
    expect(swarm(['--version']).stdout.trim()).toBe(version);
  });
});

describe('run list', () => {
  it('sizes its columns from the rows: long generated ids and branch nodes line up, whole', () => {
    const longId = 'r-20261201-213301Z-a1b2c3';
    const label = 'a-branch-label-that-is-rather-long-for-a-column';
    expect(launch(longId, 'root').code).toBe(0);
    expect(json(['run', 'fork', '--node', `run:${longId}`, '--label', label]).code).toBe(0);
    expect(launch('b', `branch:${label}`).code).toBe(0);
    const r = swarm(['run', 'list']);
    expect(r.code).toBe(0);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    const columns = ['STATUS', 'NODE', 'PARENT'].map((name) => header!.indexOf(name));
    expect(rows).toHaveLength(2);
    const cells = rows.map((row) => [row.slice(0, columns[0]).trim(), ...columns.map((at, i) => row.slice(at, columns[i + 1]).trim())]);
    expect(cells).toEqual([
      [longId, 'succeeded', `node-${longId}`, 'root'],
      ['b', 'succeeded', 'node-b', `node-fork-${label}`],
    ]);
    // Every cell starts exactly at its column (a cell that overflows its width pushes the rest right).
    for (const row of rows) for (const at of columns) expect(row[at - 1]).toBe(' ');
    const list = json(['run', 'list']);
    expect(list.envelope.data.runs.map((run: Record<string, unknown>) => Object.keys(run).sort())).toEqual(
      Array(2).fill(['artifact_hash', 'backend', 'duration_ms', 'exit_code', 'finished_at', 'node_id', 'parent_node_id', 'restore_mode', 'run_id', 'signal', 'started_at', 'state', 'status'].sort()),
    );
  });
});

describe('run rm and branch rm', () => {
  it('refuses a run others descend from, removes leaves, and --force removes a subtree with its labels', () => {
    expect(launch('a', 'root', 'echo data > f').code).toBe(0);
    expect(launch('b', 'run:a', 'echo more >> f').code).toBe(0);
    expect(json(['run', 'fork', '--node', 'run:a', '--label', 'x']).code).toBe(0);

    const refused = json(['run', 'rm', 'a']);
    expect([refused.code, refused.envelope.error!.code]).toEqual([2, 'RUN_HAS_DESCENDANTS']);
    expect(refused.envelope.error!.details.children.map((c: { node_id: string }) => c.node_id).sort()).toEqual(['node-b', 'node-fork-x']);
    expect(fs.existsSync(path.join(tmp.dir, '.swarm/runs/a'))).toBe(true);

    const missing = json(['run', 'rm', 'nope']);
    expect([missing.code, missing.envelope.error!.code]).toEqual([2, 'RUN_NOT_FOUND']);

    const leaf = json(['run', 'rm', 'b']);
    expect(leaf.code).toBe(0);
    expect(leaf.envelope.data.removed_runs).toEqual(['b']);
    expect(fs.existsSync(path.join(tmp.dir, '.swarm/runs/b'))).toBe(false);
    expect(json(['run', 'list']).envelope.data.runs.map((r: { run_id: string }) => r.run_id)).toEqual(['a']);
    // b's sealed workspace is referenced by no node any more: gc reclaims it.
    expect(json(['gc']).envelope.data.removed_objects).toHaveLength(1);

    const forced = json(['run', 'rm', 'a', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.envelope.data.removed_branches).toEqual(['branch:x']);
    const graph = json(['graph', '--format', 'json']).envelope.data;
    expect(JSON.stringify(graph)).not.toMatch(/node-a|node-fork-x|branch:x/);
    expect(json(['run', 'status', '--run-id', 'a']).envelope.error!.code).toBe('RUN_NOT_FOUND');
  });

  it('removes a branch label and its unused fork node; an unknown label is BRANCH_NOT_FOUND', () => {
    expect(launch('a', 'root').code).toBe(0);
    expect(json(['run', 'fork', '--node', 'run:a', '--label', 'x']).code).toBe(0);
    const removed = json(['branch', 'rm', 'x']);
    expect(removed.code).toBe(0);
    expect(removed.envelope.data).toMatchObject({ branch: 'branch:x', removed_node: true });
    const again = json(['branch', 'rm', 'x']);
    expect([again.code, again.envelope.error!.code]).toEqual([2, 'BRANCH_NOT_FOUND']);
    // With the label gone, the run it was forked from is a leaf again.
    expect(json(['run', 'rm', 'a']).code).toBe(0);
  });

  it('removes nothing while a run is in progress, and never the live run itself', async () => {
    expect(launch('done', 'root').code).toBe(0);
    const child = spawn(process.execPath, [BIN, 'run', 'launch', '--unsandboxed-egress', '--node', 'run:done', '--run-id', 'live', '--step', 'sleep 30'], {
      cwd: tmp.dir,
      env,
      stdio: 'ignore',
    });
    try {
      const owner = path.join(tmp.dir, '.swarm/runs/live/.owner.pid');
      const until = Date.now() + 20_000;
      while (!fs.existsSync(owner) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(fs.existsSync(owner)).toBe(true);
      const other = json(['run', 'rm', 'done']);
      expect([other.code, other.envelope.error!.code]).toEqual([2, 'RUN_LIVE']);
      expect(other.envelope.error!.details.live_runs).toEqual(['live']);
      const itself = json(['run', 'rm', 'live']);
      expect([itself.code, itself.envelope.error!.code]).toEqual([2, 'RUN_LIVE']);
      expect(json(['run', 'status', '--run-id', 'done']).envelope.data.state).toBe('committed');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('close', r));
    }
  });
});

/** What a terminal shows for bytes written to it: `\r` returns, `ESC[2K` clears the line, colours are dropped. */
function screen(bytes: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  for (let i = 0; i < bytes.length; i += 1) {
    const c = bytes[i]!;
    if (c === '\x1b') {
      const m = /^\x1b\[([0-9;]*)([A-Za-z])/.exec(bytes.slice(i))!;
      if (m[2] === 'K' && m[1] === '2') line = [];
      i += m[0].length - 1;
    } else if (c === '\r') col = 0;
    else if (c === '\n') {
      lines.push(line.join(''));
      line = [];
      col = 0;
    } else {
      line[col] = c;
      col += 1;
    }
  }
  if (line.length > 0) lines.push(line.join(''));
  return lines;
}

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

describe('the status line on a terminal', () => {
  it('the screen model sees a status line left on the output line (positive control)', () => {
    expect(screen('\r\x1b[2Kswarm: running…hello\r\n')).toEqual(['swarm: running…hello']);
    expect(screen('partial\r\x1b[2Kswarm: sealing…\r\x1b[2K')).toEqual([]);
  });

  it.skipIf(!hasScript)('is cleared before the step writes, and never erases a line the step left open', () => {
    const command = [process.execPath, BIN, 'run', 'launch', '--unsandboxed-egress', '--node', 'root', '--run-id', 'tty', '--step', "echo hello; printf partial"]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    // util-linux script(1) gives the command a pseudo-terminal, so stderr.isTTY holds and progress shows.
    const r = spawnSync('script', ['-qfec', command, '/dev/null'], { cwd: tmp.dir, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('swarm: running');
    const shown = screen(r.stdout.replace(/\r\n/g, '\n'));
    expect(shown).toContain('hello');
    expect(shown).toContain('partial');
    expect(shown.filter((l) => l.includes('swarm:') && /hello|partial/.test(l))).toEqual([]);
  });
});
