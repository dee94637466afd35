/**
 * The step's HOME travels with the node, through the built binary and the real sandbox: a resume
 * sees what its parent's run left in HOME, sibling branches diverge, credential files and
 * environment dumps never reach the node, and a granted secret is never sealed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/swarm.js', import.meta.url));

let tmp: string;
let project: string;
let env: NodeJS.ProcessEnv;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-e2e-home-'));
  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  env = { ...process.env, SWARM_HOME: path.join(tmp, 'swarm-home'), NO_COLOR: '1', HOME: tmp };
  delete env.SOURCE_DATE_EPOCH;
  expect(swarm(['init']).code).toBe(0);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function swarm(args: string[], input?: string): { code: number | null; envelope: any; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--json'], { cwd: project, env, encoding: 'utf8', timeout: 120_000, input });
  return { code: r.status, envelope: r.stdout.trim() ? JSON.parse(r.stdout.trim()) : null, stderr: r.stderr };
}

function log(runId: string): string {
  return fs.readFileSync(path.join(project, '.swarm', 'runs', runId, 'step.log'), 'utf8');
}

describe('an agent home per node', () => {
  it('carries HOME from node to node, and each branch keeps its own', () => {
    const first = swarm(['run', 'launch', '--run-id', 'first', '--step', 'mkdir -p "$HOME/.conv" && echo turn-1 >> "$HOME/.conv/log"']);
    expect(first.code, first.stderr).toBe(0);
    const resumed = swarm(['run', 'resume', '--node', 'run:first', '--run-id', 'second', '--step', 'echo turn-2 >> "$HOME/.conv/log"; cat "$HOME/.conv/log"']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(log('second')).toBe('turn-1\nturn-2\n');

    expect(swarm(['run', 'fork', '--node', 'run:second', '--label', 'a']).code).toBe(0);
    expect(swarm(['run', 'fork', '--node', 'run:second', '--label', 'b']).code).toBe(0);
    expect(swarm(['run', 'resume', '--node', 'branch:a', '--run-id', 'on-a', '--step', 'echo turn-a >> "$HOME/.conv/log"']).code).toBe(0);
    expect(swarm(['run', 'resume', '--node', 'branch:b', '--run-id', 'on-b', '--step', 'echo turn-b >> "$HOME/.conv/log"']).code).toBe(0);
    expect(swarm(['run', 'resume', '--node', 'run:on-a', '--run-id', 'after-a', '--step', 'cat "$HOME/.conv/log"']).code).toBe(0);
    expect(swarm(['run', 'resume', '--node', 'run:on-b', '--run-id', 'after-b', '--step', 'cat "$HOME/.conv/log"']).code).toBe(0);
    expect(log('after-a')).toBe('turn-1\nturn-2\nturn-a\n');
    expect(log('after-b')).toBe('turn-1\nturn-2\nturn-b\n');
  });

  it('never seals credential files or environment dumps, though the rest of HOME travels', () => {
    const plant = [
      'mkdir -p "$HOME/.codex/shell_snapshots" "$HOME/.claude" "$HOME/.ssh" "$HOME/.codex/sessions"',
      'env > "$HOME/.codex/shell_snapshots/snapshot.sh"',
      'echo token > "$HOME/.codex/auth.json"',
      'echo token > "$HOME/.claude/.credentials.json"',
      'echo key > "$HOME/.ssh/id_ed25519"',
      'echo kept > "$HOME/.codex/sessions/kept.jsonl"',
    ].join(' && ');
    const first = swarm(['run', 'launch', '--run-id', 'plant', '--step', plant]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.envelope.data.home_excluded).toEqual(expect.arrayContaining(['home/.codex/auth.json', 'home/.codex/shell_snapshots', 'home/.claude/.credentials.json', 'home/.ssh']));
    const look = swarm(['run', 'resume', '--node', 'run:plant', '--run-id', 'look', '--step', 'cd "$HOME" && find . -type f | sort']);
    expect(look.code, look.stderr).toBe(0);
    expect(log('look').trim().split('\n')).toEqual(['./.codex/sessions/kept.jsonl']);
    // Not in the exported node either.
    expect(swarm(['state', 'export', '--node', 'run:plant', '--out', path.join(tmp, 'out')]).code).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'out', 'home', '.codex', 'auth.json'))).toBe(false);
    expect(fs.readFileSync(path.join(tmp, 'out', 'home', '.codex', 'sessions', 'kept.jsonl'), 'utf8')).toBe('kept\n');
  });
});

describe('a granted secret is never sealed', () => {
  const value = 'sk-e2e-secret-0123456789';

  it('refuses to seal a workspace that holds the value of a --pass-env grant, and redacts it from the log', () => {
    env.TEST_API_KEY = value;
    // The control: the same value given as a plain --env (not a secret) is sealed like any file.
    const plain = swarm(['run', 'launch', '--run-id', 'plain', '--env', `TEST_API_KEY=${value}`, '--step', 'echo "$TEST_API_KEY" > key.txt']);
    expect(plain.code, plain.stderr).toBe(0);
    const leak = swarm(['run', 'launch', '--run-id', 'leak', '--pass-env', 'TEST_API_KEY', '--step', 'echo "$TEST_API_KEY" > key.txt']);
    expect(leak.code).toBe(6);
    expect(leak.envelope.error.code).toBe('STATE_SNAPSHOT_HOLDS_SECRET');
    expect(JSON.stringify(leak.envelope)).not.toContain(value);
    expect(swarm(['run', 'status', '--run-id', 'leak']).envelope.data).toMatchObject({ node_id: null, state: 'abandoned' });
    const echoed = swarm(['run', 'launch', '--run-id', 'echoed', '--pass-env', 'TEST_API_KEY', '--step', 'echo "key is $TEST_API_KEY"']);
    expect(echoed.code, echoed.stderr).toBe(0);
    expect(log('echoed')).toBe('key is [REDACTED]\n');
  });
});

describe('what the step leaves where swarm writes after it', () => {
  it('a state DB replaced by a link to a host file: swarm refuses it and writes nothing through it', () => {
    const target = path.join(tmp, 'operator-file');
    fs.writeFileSync(target, 'operator data\n');
    // The control: the file is swarm's user's to write, so a write through the link would land.
    fs.accessSync(target, fs.constants.W_OK);
    const r = swarm(['run', 'launch', '--run-id', 'swap-db', '--step', `rm -f "$SWARM_STATE_DB" && ln -s ${target} "$SWARM_STATE_DB"`]);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('STATE_DB_INVALID');
    expect(fs.readFileSync(target, 'utf8')).toBe('operator data\n');
  });

  it('a trigger in the state DB cannot put a granted value into swarm\'s error', () => {
    const value = 'sk-e2e-trigger-0123456789';
    env.TEST_API_KEY = value;
    // The step's shell puts the granted value into the trigger; the command line holds only its name.
    // (python3's sqlite3: the step sees the host's /usr, wherever this checkout is.)
    const step = `python3 -c "import os, sqlite3; sqlite3.connect(os.environ['SWARM_STATE_DB']).executescript(\\"CREATE TRIGGER t BEFORE INSERT ON run_history BEGIN SELECT RAISE(ABORT, '$TEST_API_KEY'); END;\\")"`;
    const r = swarm(['run', 'launch', '--run-id', 'trigger', '--pass-env', 'TEST_API_KEY', '--step', step]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.stringify(r.envelope)).not.toContain(value);
  });
});
