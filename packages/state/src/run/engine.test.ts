import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SwarmError, fixedClock } from '@swarm/core';
import { Store } from '../store/store.js';
import { forkNode } from './fork.js';
import { exportNode, inspectNode, loadCertificateChain } from './queries.js';
import { launchRun, type LaunchOptions } from './launch.js';

// A step that edits the workspace and the state DB the way an agent would: it appends its run id
// to a file and to a table, and records what it saw of its parent.
const STEP = `python3 - <<'PY'
import os, sqlite3
run = os.environ['SWARM_RUN_ID']
seen = open('log.txt').read() if os.path.exists('log.txt') else ''
open('seen-by-' + run + '.txt', 'w').write(seen)
open('log.txt', 'a').write(run + '\\n')
db = sqlite3.connect(os.environ['SWARM_STATE_DB'])
db.execute('CREATE TABLE IF NOT EXISTS memory (run TEXT)')
db.execute('INSERT INTO memory VALUES (?)', (run,))
db.commit()
print('rows', db.execute('SELECT count(*) FROM memory').fetchone()[0])
PY`;

let tmp: string;
let home: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-engine-'));
  home = path.join(tmp, 'home');
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function projectDir(name: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// The engine's own behaviour, without a sandbox (state cannot import proxy; the sandboxed runs
// are tested end to end in cli and proxy).
function run(cwd: string, node: string, runId: string, extra: Partial<LaunchOptions> = {}) {
  return launchRun({
    cwd,
    node,
    runId,
    step: STEP,
    home,
    env: { ...process.env, SWARM_HOME: home },
    clock: fixedClock(1_700_000_000_000),
    unsandboxedEgress: true,
    ...extra,
  });
}

async function workspaceOf(cwd: string, node: string): Promise<{ files: Record<string, string>; memory: string[] }> {
  const out = fs.mkdtempSync(path.join(tmp, 'export-'));
  const exported = await exportNode({ cwd, node, out: path.join(out, 'x'), home, env: { ...process.env, SWARM_HOME: home } });
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(exported.workspace).sort()) files[name] = fs.readFileSync(path.join(exported.workspace, name), 'utf8');
  const rows = execFileSync('python3', ['-c', `import sqlite3,sys\nfor r in sqlite3.connect(sys.argv[1]).execute('SELECT run FROM memory'): print(r[0])`, exported.state_db])
    .toString()
    .trim()
    .split('\n')
    .filter(Boolean);
  return { files, memory: rows };
}

describe('a chain root → launch → resume → fork → resume-from-fork', () => {
  it('gives each run exactly its parent workspace and state, and branches diverge', async () => {
    const cwd = projectDir('p');
    const a = await run(cwd, 'root', 'a');
    expect(a.status).toBe('succeeded');
    expect(a.restore_mode).toBe('checkpoint');
    const b = await run(cwd, 'run:a', 'b');
    const fork = await forkNode({ cwd, node: 'run:a', label: 'alt', home, env: { ...process.env, SWARM_HOME: home } });
    expect(fork.bundle_sha256).toBe(a.bundle_sha256);
    const c = await run(cwd, 'branch:alt', 'c');
    expect(c.parent_node_id).toBe(fork.node_id);

    const atB = await workspaceOf(cwd, 'run:b');
    const atC = await workspaceOf(cwd, 'run:c');
    // b and c both saw exactly a's log; neither saw the other.
    expect(atB.files['seen-by-b.txt']).toBe('a\n');
    expect(atC.files['seen-by-c.txt']).toBe('a\n');
    expect(atB.files['log.txt']).toBe('a\nb\n');
    expect(atC.files['log.txt']).toBe('a\nc\n');
    expect(atB.files['seen-by-c.txt']).toBeUndefined();
    expect(atC.files['seen-by-b.txt']).toBeUndefined();
    expect(atB.memory).toEqual(['a', 'b']);
    expect(atC.memory).toEqual(['a', 'c']);

    const inspected = await inspectNode({ cwd, node: 'run:c', home, env: { ...process.env, SWARM_HOME: home } });
    const history = inspected.state_db.run_history as Array<{ run_id: string }>;
    expect(history.map((h) => h.run_id)).toEqual(['a', 'c']);

    const chain = await loadCertificateChain({ cwd, ref: 'run:c', home, env: { ...process.env, SWARM_HOME: home } });
    expect(chain.map((l) => l.kind)).toEqual(['run', 'fork', 'run', 'root']);
    const cert = JSON.parse(chain[0]!.certificate!.toString('utf8'));
    expect(cert.parent_state).toEqual(chain[1]!.state);
    expect(cert.result.new_state.bundle_sha256).toBe(chain[0]!.state.bundle_sha256);
  });

  it('records a failed step as an inspectable, resumable node', async () => {
    const cwd = projectDir('p');
    const failed = await run(cwd, 'root', 'bad', { step: 'echo partial > partial.txt; exit 3' }).catch((e: SwarmError) => e);
    expect(failed).toBeInstanceOf(SwarmError);
    expect((failed as SwarmError).code).toBe('STEP_FAILED');
    const details = (failed as SwarmError).details as { node_id: string; exit_code: number; status: string };
    expect(details.status).toBe('failed');
    expect(details.exit_code).toBe(3);
    const next = await run(cwd, 'run:bad', 'after');
    expect(next.status).toBe('succeeded');
    expect((await workspaceOf(cwd, 'run:after')).files['partial.txt']).toBe('partial\n');
  });

  it('kills the whole process group on timeout', async () => {
    const cwd = projectDir('p');
    const marker = path.join(tmp, 'grandchild-survived');
    const started = Date.now();
    const error = await run(cwd, 'root', 'slow', { step: `(sleep 3; touch ${marker}) & sleep 30`, timeoutS: 0.5 }).catch((e: SwarmError) => e);
    expect((error as SwarmError).code).toBe('STEP_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(15_000);
    await new Promise((r) => setTimeout(r, 3500));
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe('restore', () => {
  it('fails with exit 5 on an unrestorable node unless cold start is allowed, and says so truthfully', async () => {
    const cwd = projectDir('p');
    const a = await run(cwd, 'root', 'a');
    const store = Store.open(cwd, { home });
    fs.rmSync(store.objects.file(a.bundle_sha256!));
    store.close();
    const error = await run(cwd, 'run:a', 'b').catch((e: SwarmError) => e);
    expect((error as SwarmError).code).toBe('RESTORE_FAILED');
    expect((error as SwarmError).exitCode).toBe(5);
    const cold = await run(cwd, 'run:a', 'b2', { allowColdStart: true });
    expect(cold.restore_mode).toBe('cold_start');
    expect(cold.restore_reason).toMatch(/STATE_BUNDLE_NOT_FOUND|STATE_/);
    const result = JSON.parse(fs.readFileSync(path.join(cold.run_dir, 'result.json'), 'utf8'));
    expect(result.restore_mode).toBe('cold_start');
  });

  it('opens state N with key N only: key N+1 and key N-1 fail, and branch keys do not cross', async () => {
    const cwd = projectDir('p');
    await run(cwd, 'root', 'a');
    await run(cwd, 'run:a', 'b');
    await forkNode({ cwd, node: 'run:a', label: 'x', home, env: { ...process.env, SWARM_HOME: home } });
    await forkNode({ cwd, node: 'run:a', label: 'y', home, env: { ...process.env, SWARM_HOME: home } });
    const store = Store.open(cwd, { home });
    try {
      const a = await store.resolve('run:a');
      const b = await store.resolve('run:b');
      const x = await store.resolve('branch:x');
      const y = await store.resolve('branch:y');
      const keyA = store.keys.chainKeys(a).state;
      const keyB = store.keys.chainKeys(b).state;
      expect(() => store.keys.dataKey(a, keyA)).not.toThrow();
      expect(() => store.keys.dataKey(b, keyB)).not.toThrow();
      const code = (fn: () => unknown) => {
        try {
          fn();
          return 'opened';
        } catch (e) {
          return (e as SwarmError).code;
        }
      };
      expect(code(() => store.keys.dataKey(b, keyA))).toBe('STATE_KEY_MISMATCH');
      expect(code(() => store.keys.dataKey(a, keyB))).toBe('STATE_KEY_MISMATCH');
      expect(code(() => store.keys.dataKey(y, store.keys.chainKeys(x).state))).toBe('STATE_KEY_MISMATCH');
      expect(code(() => store.keys.dataKey(x, store.keys.chainKeys(y).state))).toBe('STATE_KEY_MISMATCH');
    } finally {
      store.close();
    }
  });
});

describe('determinism and secrecy', () => {
  it('gives byte-identical manifests, bundles, certificates and results for the same chain in two directories', async () => {
    const files = async (name: string) => {
      const cwd = projectDir(name);
      const workspace = path.join(tmp, `${name}-seed`);
      fs.mkdirSync(workspace);
      fs.writeFileSync(path.join(workspace, 'README'), 'seed\n');
      const a = await run(cwd, 'root', 'a', { workspace });
      const b = await run(cwd, 'run:a', 'b');
      const store = Store.open(cwd, { home });
      const objects = [a, b].map((r) => fs.readFileSync(store.objects.file(r.bundle_sha256!)));
      const manifests = [await store.resolve('run:a'), await store.resolve('run:b')].map((n) => n.manifest_sha256);
      store.close();
      const contract = (r: typeof a, f: string) => fs.readFileSync(path.join(r.run_dir, f));
      return {
        objects,
        manifests,
        contracts: [a, b].flatMap((r) => ['certificate.json', 'certificate.dsse.json', 'result.json', 'policy.json', 'next_tokens.json'].map((f) => contract(r, f))),
      };
    };
    const one = await files('one');
    const two = await files('two');
    expect(one.manifests).toEqual(two.manifests);
    expect(Buffer.concat(one.objects).equals(Buffer.concat(two.objects))).toBe(true);
    one.contracts.forEach((bytes, i) => expect(bytes.equals(two.contracts[i]!)).toBe(true));
  });

  it('never writes a raw capability or chain key into the store, logs or output', async () => {
    const cwd = projectDir('p');
    const output: Buffer[] = [];
    const a = await run(cwd, 'root', 'a', { step: 'env; echo done', onOutput: (c) => output.push(c) });
    await run(cwd, 'run:a', 'b', { step: 'env', onOutput: (c) => output.push(c) });
    await forkNode({ cwd, node: 'run:b', label: 'f', home, env: { ...process.env, SWARM_HOME: home } });
    const store = Store.open(cwd, { home });
    const secrets: string[] = [];
    for (const ref of ['root', 'run:a', 'run:b', 'branch:f']) {
      const node = await store.resolve(ref);
      const keys = store.keys.chainKeys(node);
      secrets.push(keys.state.toString('hex'), keys.net.toString('hex'));
      secrets.push(store.keys.revealCapability(node, 'state_cap'), store.keys.revealCapability(node, 'net_cap'));
    }
    const dataKeys = [await store.resolve('run:a')].map((n) => store.keys.dataKey(n, store.keys.chainKeys(n).state).toString('hex'));
    store.close();
    const haystacks: Array<[string, Buffer]> = [['output', Buffer.concat(output)]];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else haystacks.push([p, fs.readFileSync(p)]);
      }
    };
    walk(path.join(cwd, '.swarm'));
    // The plaintext of a bundle: export it and read every file back.
    const exported = await exportNode({ cwd, node: 'run:b', out: path.join(tmp, 'plain'), home, env: { ...process.env, SWARM_HOME: home } });
    walk(path.dirname(exported.workspace));
    for (const [where, bytes] of haystacks) {
      for (const secret of [...secrets, ...dataKeys]) {
        expect(bytes.includes(Buffer.from(secret)), `${secret.slice(0, 8)}… found in ${where}`).toBe(false);
      }
    }
    expect(a.status).toBe('succeeded');
  });
});

describe('step processes', () => {
  it('does not hang on a background process the step leaves behind', async () => {
    const cwd = projectDir('p');
    const started = Date.now();
    const r = await run(cwd, 'root', 'daemon', { step: 'sleep 60 & echo left-a-daemon' });
    expect(r.status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fs.readFileSync(path.join(r.run_dir, 'step.log'), 'utf8')).toBe('left-a-daemon\n');
  });

  it('reports a step that cannot be started', async () => {
    const cwd = projectDir('p');
    const r = await run(cwd, 'root', 'missing', { step: 'definitely-not-a-command-xyz' }).catch((e: SwarmError) => e);
    expect((r as SwarmError).code).toBe('STEP_FAILED');
    expect(((r as SwarmError).details as { exit_code: number }).exit_code).toBe(127);
  });
});

describe('workspace entries a bundle cannot carry', () => {
  it('reports a fifo and an absolute symlink as skipped, and the run still succeeds', async () => {
    const cwd = projectDir('p');
    const r = await run(cwd, 'root', 'odd', { step: 'mkfifo pipe && ln -s /etc/hostname abs-link && echo kept > kept.txt' });
    expect(r.status).toBe('succeeded');
    expect(r.skipped.map((e) => e.path).sort()).toEqual(['workspace/abs-link', 'workspace/pipe']);
    const result = JSON.parse(fs.readFileSync(path.join(r.run_dir, 'result.json'), 'utf8'));
    expect(result.swarm.skipped_entries).toHaveLength(2);
    const exported = await exportNode({ cwd, node: 'run:odd', out: path.join(tmp, 'odd'), home, env: { ...process.env, SWARM_HOME: home } });
    expect(fs.readdirSync(exported.workspace)).toEqual(['kept.txt']);
  });
});

describe('concurrency', () => {
  it('lets exactly one of two concurrent launches with the same run id win, and keeps the winner intact', async () => {
    const cwd = projectDir('p');
    await run(cwd, 'root', 'seed');
    const results = await Promise.allSettled([run(cwd, 'run:seed', 'race', { step: 'sleep 0.3; echo one' }), run(cwd, 'run:seed', 'race', { step: 'sleep 0.3; echo two' })]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as SwarmError).code)).toEqual(['RUN_ID_EXISTS']);
    const chain = await loadCertificateChain({ cwd, ref: 'run:race', home, env: { ...process.env, SWARM_HOME: home } });
    expect(chain[0]!.certificate).not.toBeNull();
  });

  it('refuses to run a step without a sandbox unless unsandboxed egress is allowed, and leaves no run behind', async () => {
    const cwd = projectDir('p');
    const refused = await run(cwd, 'root', 'closed', { unsandboxedEgress: false }).catch((error: unknown) => error);
    expect((refused as SwarmError).code).toBe('NET_CAP_SANDBOX_UNAVAILABLE');
    expect((refused as SwarmError).exitCode).toBe(6);
    expect(fs.existsSync(path.join(cwd, '.swarm', 'runs', 'closed'))).toBe(false);
    // The positive control: the same run with the explicit override goes ahead.
    expect((await run(cwd, 'root', 'open')).status).toBe('succeeded');
  });

  it('gives the step a default-deny environment: granted and passed variables only, passed values redacted', async () => {
    const cwd = projectDir('p');
    const env = { ...process.env, SWARM_HOME: home, CALLER_TOKEN: 'caller-secret-1234', PASSED_KEY: 'passed-secret-5678' };
    const r = await run(cwd, 'root', 'envs', {
      env,
      grantEnv: { GRANTED: 'visible-value' },
      passEnv: ['PASSED_KEY'],
      step: 'echo "[$CALLER_TOKEN][$GRANTED][$PASSED_KEY][$HOME]"',
    });
    const log = fs.readFileSync(path.join(r.run_dir, 'step.log'), 'utf8');
    expect(log).not.toContain('caller-secret-1234');
    expect(log).not.toContain('passed-secret-5678');
    expect(log).toContain('[][visible-value][');
    expect(log).toContain(`[${path.join(r.run_dir, 'home')}]`);
    const policy = JSON.parse(fs.readFileSync(path.join(r.run_dir, 'policy.json'), 'utf8'));
    expect(policy.env).toEqual({ granted: ['GRANTED'], passed: ['PASSED_KEY'], secrets: [] });
    expect(JSON.stringify(policy)).not.toContain('-secret-');
    expect(JSON.stringify(policy)).not.toContain('visible-value');
    const reserved = await run(cwd, 'root', 'bad-env', { grantEnv: { SWARM_HOME: '/x' } }).catch((error: unknown) => error);
    expect((reserved as SwarmError).code).toBe('INVALID_ARGUMENT');
  });

  it('never lets the step see SWARM_HOME', async () => {
    const cwd = projectDir('p');
    const r = await run(cwd, 'root', 'env', { step: 'echo "[$SWARM_HOME]"' });
    expect(fs.readFileSync(path.join(r.run_dir, 'step.log'), 'utf8')).toBe('[]\n');
  });

  it('attests a step file by its content, so the same script in two places gives the same policy', async () => {
    const cwd = projectDir('p');
    for (const where of ['a', 'b']) {
      fs.mkdirSync(path.join(tmp, where));
      fs.writeFileSync(path.join(tmp, where, 'step.sh'), 'echo from-file\n');
    }
    const a = await run(cwd, 'root', 'fa', { step: undefined, stepFile: path.join(tmp, 'a', 'step.sh') });
    const b = await run(cwd, 'root', 'fb', { step: undefined, stepFile: path.join(tmp, 'b', 'step.sh') });
    const policy = (r: typeof a) => JSON.parse(fs.readFileSync(path.join(r.run_dir, 'policy.json'), 'utf8')).step.command_sha256;
    expect(policy(a)).toBe(policy(b));
    expect(fs.readFileSync(path.join(a.run_dir, 'step.log'), 'utf8')).toBe('from-file\n');
    fs.writeFileSync(path.join(tmp, 'b', 'step.sh'), 'echo changed\n');
    const c = await run(cwd, 'root', 'fc', { step: undefined, stepFile: path.join(tmp, 'b', 'step.sh') });
    expect(policy(c)).not.toBe(policy(a));
  });
});
