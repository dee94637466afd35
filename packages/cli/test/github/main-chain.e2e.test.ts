// The main chain on the github backend, with the real gh against the loopback GitHub and the
// shipped workflow executed by the loopback runner with this checkout's built swarm:
// local launch → github resume → local resume → github resume → github resume (remote parent,
// artifact transport) → verify chain. Then a leak scan of everything GitHub saw.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ACTION, GH_AVAILABLE, REPO, chainKeyForms, expectNoLeak, leakCorpus, standingSecrets, startHarness, type Harness } from './harness.js';

let h: Harness;
const reveals: Array<[string, string[]]> = [];

describe.skipIf(!GH_AVAILABLE)('github backend: a chain that mixes local and remote steps', () => {
  beforeAll(async () => {
    h = await startHarness('main');
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('setup stored the runner key as an environment secret, committed the workflow and tagged the pin', async () => {
    const record = JSON.parse(fs.readFileSync(path.join(h.env.SWARM_HOME!, 'github', 'acme__agents.json'), 'utf8'));
    expect(record.workflow_ref).toMatch(/^acme\/agents\/\.github\/workflows\/swarm-run\.yml@[0-9a-f]{40}$/);
    expect(h.emulator.refSha(REPO, `refs/tags/swarm-pin-${record.pin}`)).toBe(record.pin);
    expect(h.emulator.secretValue(REPO, 'SWARM_RUNNER_KEY', 'swarm')).toBeTruthy();
    expect(h.emulator.secretValue(REPO, 'SWARM_RUNNER_KEY')).toBeUndefined();
    expect(h.emulator.rulesets(REPO)).toEqual([
      expect.objectContaining({ name: 'swarm pin tags', target: 'tag', enforcement: 'active', conditions: { ref_name: { include: ['refs/tags/swarm-pin-*'], exclude: [] } } }),
    ]);
    const trust = JSON.parse(fs.readFileSync(path.join(h.env.SWARM_HOME!, 'keys', 'trusted-keys.json'), 'utf8'));
    expect(JSON.stringify(trust)).toContain(record.runner.signing_key);
  });

  it('runs the chain, each remote step on the runner, and verify chain walks through it', async () => {
    const l1 = await h.swarm(['run', 'launch', '--node', 'root', '--run-id', 'l1', '--reveal', '--step', 'echo one > one.txt']);
    expect(l1.code, l1.stderr).toBe(0);
    h.outputs.splice(-2); // --reveal prints the tokens on purpose; the rest must never show them
    reveals.push(['l1 state cap', chainKeyForms(l1.envelope.data.revealed.state_cap_next, 'state_cap')], ['l1 net cap', chainKeyForms(l1.envelope.data.revealed.net_cap_next, 'net_cap')]);

    const g1 = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:l1', '--run-id', 'g1', '--step', 'cat one.txt > two.txt && echo two >> two.txt']);
    expect(g1.code, g1.stderr + g1.stdout).toBe(0);
    expect(g1.envelope.data).toMatchObject({ run_id: 'g1', node_id: 'node-g1', status: 'succeeded' });

    const l2 = await h.swarm(['run', 'resume', '--node', 'run:g1', '--run-id', 'l2', '--reveal', '--step', 'grep -q two two.txt && echo three > three.txt']);
    expect(l2.code, l2.stderr).toBe(0);
    h.outputs.splice(-2);
    reveals.push(['l2 state cap', chainKeyForms(l2.envelope.data.revealed.state_cap_next, 'state_cap')], ['l2 net cap', chainKeyForms(l2.envelope.data.revealed.net_cap_next, 'net_cap')]);

    const g2 = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:l2', '--run-id', 'g2', '--step', 'cat three.txt > four.txt']);
    expect(g2.code, g2.stderr + g2.stdout).toBe(0);
    // The parent of g3 is a remote node: its bundle reaches the runner as g2's artifact.
    const g3 = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:g2', '--run-id', 'g3', '--step', 'ls > five.txt']);
    expect(g3.code, g3.stderr + g3.stdout).toBe(0);

    const chain = await h.swarm(['verify', 'chain', '--node', 'run:g3']);
    expect(chain.code, chain.stdout).toBe(0);
    expect(chain.envelope.data.verified).toBe(true);
    expect(chain.envelope.data.links.map((l: any) => l.node_id)).toEqual(['node-g3', 'node-g2', 'node-l2', 'node-g1', 'node-l1', 'root']);

    const out = path.join(h.tmp, 'export');
    const exported = await h.swarm(['state', 'export', '--node', 'run:g3', '--out', out]);
    expect(exported.code, exported.stderr).toBe(0);
    const ws = path.join(out, 'workspace');
    expect(fs.readFileSync(path.join(ws, 'two.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(fs.readFileSync(path.join(ws, 'four.txt'), 'utf8')).toBe('three\n');
    expect(fs.readFileSync(path.join(ws, 'five.txt'), 'utf8').split('\n')).toEqual(expect.arrayContaining(['four.txt', 'one.txt', 'three.txt', 'two.txt']));

    const runs = h.emulator.runs(REPO);
    expect(runs.map((r) => r.conclusion)).toEqual(['success', 'success', 'success']);
    // One run per request, and the input transports the design names.
    const dispatches = h.emulator.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/dispatches'));
    expect(dispatches).toHaveLength(3);
    expect(h.emulator.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/git/blobs')).length).toBeGreaterThanOrEqual(2);
    // g3's parent came back from GitHub: the runner fetched it as g2's artifact, with the job's token.
    expect(h.emulator.requests.filter((r) => r.credential === 'job' && /\/actions\/artifacts\/\d+\/zip$/.test(r.path))).toHaveLength(1);
    expect(h.emulator.requests.filter((r) => r.credential === 'job' && /\/git\/blobs\/[0-9a-f]{40}$/.test(r.path)).length).toBeGreaterThanOrEqual(2);
  }, 300_000);

  it('leaves no capability, key or token anywhere GitHub or a log could show it', () => {
    expect(reveals.length).toBe(4);
    const corpus = leakCorpus(h);
    // The scan can find what it looks for: the envelope inputs are in the corpus.
    expect(corpus).toContain('swarm-pin-');
    expectNoLeak(corpus, [...reveals, ...standingSecrets(h)]);
  });

  it('doctor checks the repository, and fails when the pin tag moved', async () => {
    const ok = await h.swarm(['doctor', '--repo', REPO]);
    expect(ok.code, ok.stdout).toBe(0);
    const status = Object.fromEntries(ok.envelope.data.checks.map((c: any) => [c.name, c.status]));
    for (const name of ['github.gh', 'github.auth', 'github.scopes', 'github.setup', 'github.workflow', 'github.pin', 'github.tag', 'github.tags', 'github.secret', 'github.trust']) expect(status[name], name).toBe('ok');
    // gh auth status prints a token prefix; doctor never shows gh's output.
    expect(ok.stdout).not.toContain(h.emulator.token.slice(0, 8));
    const record = JSON.parse(fs.readFileSync(path.join(h.env.SWARM_HOME!, 'github', 'acme__agents.json'), 'utf8'));
    const other = h.emulator.commit(REPO, 'main', { 'README.md': 'moved' });
    h.emulator.moveRef(REPO, `refs/tags/${record.tag}`, other);
    try {
      const bad = await h.swarm(['doctor', '--repo', REPO]);
      expect(bad.code).toBe(4);
      const checks = bad.envelope.error.details.checks;
      expect(checks.find((c: any) => c.name === 'github.tag').status).toBe('fail');
      expect(checks.filter((c: any) => c.status === 'fail').map((c: any) => c.name)).toEqual(['github.tag']);
    } finally {
      h.emulator.moveRef(REPO, `refs/tags/${record.tag}`, record.pin);
    }
  });

  it('a remote step sees no job token, runner key or worker environment, which a same-uid neighbour could read', async () => {
    // The control: a process that holds a token in its environment, and a neighbour of the same
    // uid without swarm's sandbox, which reads it through /proc.
    const holder = spawn('sleep', ['30'], { env: { PATH: process.env.PATH, GITHUB_TOKEN: 'ghs_control_token_value_0123456789' } });
    try {
      const neighbour = fs.readFileSync(`/proc/${holder.pid}/environ`, 'latin1');
      expect(neighbour).toContain('ghs_control_token_value_0123456789');
    } finally {
      holder.kill('SIGKILL');
    }
    // It also prints its egress ticket (in its proxy variables) to its log: redacted there, never on GitHub.
    const attack = "env > env.txt; echo \"$HTTPS_PROXY\" > proxy.txt; echo \"proxy $HTTPS_PROXY\"; for f in /proc/[0-9]*/environ; do cat \"$f\" 2>/dev/null | tr '\\0' '\\n'; done > procenv.txt; ls /proc | grep -c '^[0-9]' > pids.txt; true";
    const r = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:g3', '--run-id', 'g-env', '--step', attack]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const out = path.join(h.tmp, 'export-env');
    expect((await h.swarm(['state', 'export', '--node', 'run:g-env', '--out', out])).code).toBe(0);
    const seen = ['env.txt', 'procenv.txt'].map((f) => fs.readFileSync(path.join(out, 'workspace', f), 'utf8')).join('\n');
    expect(seen).toContain('SWARM_RUN_ID=g-env'); // the step's own environment was captured
    for (const name of ['GITHUB_TOKEN', 'SWARM_RUNNER_KEY', 'SWARM_ENVELOPE', 'ACTIONS_', 'GH_ENTERPRISE_TOKEN', 'RUNNER_TEMP']) expect(seen).not.toContain(name);
    expectNoLeak(seen, standingSecrets(h));
    const ticket = /\/\/([^:@/]+):([^@/]+)@/.exec(fs.readFileSync(path.join(out, 'workspace', 'proxy.txt'), 'utf8'));
    expect(ticket, 'the step saw a ticket in its proxy URL').not.toBeNull();
    const ticketSecret = decodeURIComponent(ticket![2]!);
    expect(ticketSecret.length).toBeGreaterThanOrEqual(16);
    expectNoLeak(leakCorpus(h), [['ticket secret', [ticketSecret]], ...standingSecrets(h)]);
    // Its own PID namespace: only the sandbox's few processes are visible.
    expect(Number(fs.readFileSync(path.join(out, 'workspace', 'pids.txt'), 'utf8'))).toBeLessThan(10);
  }, 120_000);

  it('setup --rotate replaces the runner key; the chain keeps verifying and runs on', async () => {
    const before = JSON.parse(fs.readFileSync(path.join(h.env.SWARM_HOME!, 'github', 'acme__agents.json'), 'utf8'));
    const rotated = await h.swarm(['github', 'setup', '--repo', REPO, '--action', ACTION, '--rotate']);
    expect(rotated.code, JSON.stringify(rotated.envelope)).toBe(0);
    expect(rotated.envelope.data.keys).toBe('rotated');
    expect(rotated.envelope.data.runner_key_id).not.toBe(before.runner.key_id);
    expect(rotated.envelope.data.workflow).toBe('unchanged');
    const again = await h.swarm(['run', 'resume', '--backend', 'github', '--repo', REPO, '--node', 'run:g3', '--run-id', 'g4', '--step', 'echo after > after.txt']);
    expect(again.code, again.stderr + again.stdout).toBe(0);
    const chain = await h.swarm(['verify', 'chain', '--node', 'run:g4']);
    expect(chain.envelope.data.verified, JSON.stringify(chain.envelope).slice(0, 2000)).toBe(true);
    const certificate = JSON.parse(fs.readFileSync(path.join(h.project, '.swarm', 'runs', 'g4', 'certificate.json'), 'utf8'));
    expect(certificate.swarm.signer).toBe(rotated.envelope.data.runner_key_id);
  }, 120_000);

  it('a second run of the same request refuses to run its step', async () => {
    const first = h.emulator.runs(REPO).find((r) => r.display_title.startsWith('swarm g1-'))!;
    expect(first.conclusion).toBe('success');
    // The same dispatch again, as a retried POST would make it: same inputs, same request id.
    const body = JSON.stringify({ ref: first.head_branch, inputs: first.inputs });
    const gh = spawn('gh', ['api', '-X', 'POST', `repos/${REPO}/actions/workflows/swarm-run.yml/dispatches`, '--input', '-'], { env: h.env });
    gh.stdin.end(body);
    expect(await new Promise((resolve) => gh.on('close', resolve))).toBe(0);
    await h.runner.idle();
    const twins = h.emulator.runs(REPO).filter((r) => r.display_title === first.display_title);
    expect(twins).toHaveLength(2);
    const second = twins.find((r) => r.id !== first.id)!;
    expect(second.conclusion).toBe('failure');
    const log = h.emulator.log(second.id).join('\n');
    expect(log).toContain('GH_RUN_AMBIGUOUS');
    expect(log).not.toContain('swarm worker: step');
  }, 60_000);

  it('dispatch, status, collect one at a time', async () => {
    const d = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', 'run:g4', '--run-id', 'g5', '--step', 'echo five > five.txt']);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    expect(d.envelope.data.request_id).toMatch(/^g5-[0-9a-f]{10}$/);
    const pending = await h.swarm(['run', 'status', '--run-id', 'g5']);
    expect(pending.code).toBe(0);
    expect(pending.envelope.data.backend).toBe('github');
    expect(['dispatched', 'running', 'completed']).toContain(pending.envelope.data.status);
    expect(pending.envelope.data.ledger.remote_run_id).toBe(d.envelope.data.remote_run_id);
    const c = await h.swarm(['backend', 'github', 'collect', '--run-id', d.envelope.data.request_id, '--wait']);
    expect(c.code, c.stderr + c.stdout).toBe(0);
    const done = await h.swarm(['run', 'status', '--run-id', 'g5']);
    expect(done.envelope.data).toMatchObject({ run_id: 'g5', node_id: 'node-g5', backend: 'github' });
    const again = await h.swarm(['backend', 'github', 'collect', '--run-id', 'g5']);
    expect(again.code).toBe(2);
    expect(again.envelope.error.code).toBe('RUN_LEDGER_STATE');
  }, 60_000);

  it('a step file runs remotely as it would locally, and collect holds the certificate to the step that was dispatched', async () => {
    fs.writeFileSync(path.join(h.tmp, 'step.sh'), 'echo "from a script" > s.txt\n');
    const d = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', 'run:g5', '--run-id', 'g6', '--allow-host', 'example.com', '--step-file', path.join(h.tmp, 'step.sh')]);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    await h.runner.idle();
    const catalog = path.join(h.project, '.swarm', 'catalog.sqlite');
    const edit = (fn: (entry: any) => void) => {
      const db = new Database(catalog);
      try {
        const row = db.prepare('SELECT entry_json FROM ledger WHERE run_id = ?').get('g6') as { entry_json: string };
        const entry = JSON.parse(row.entry_json);
        fn(entry);
        db.prepare('UPDATE ledger SET entry_json = ? WHERE run_id = ?').run(JSON.stringify(entry), 'g6');
      } finally {
        db.close();
      }
    };
    // As if another step had been asked for (or the runner ran another one): refused, nothing imported.
    let original = '';
    edit((e) => {
      original = e.step.command_sha256;
      e.step.command_sha256 = `sha256:${'0'.repeat(64)}`;
    });
    const refused = await h.swarm(['backend', 'github', 'collect', '--run-id', 'g6']);
    expect(refused.code, refused.stdout).toBe(3);
    expect(refused.envelope.error.details.mismatched).toEqual(['step']);
    expect(fs.existsSync(path.join(h.project, '.swarm', 'runs', 'g6'))).toBe(false);
    edit((e) => {
      e.step.command_sha256 = original;
      e.step.allow_hosts = [];
    });
    const narrower = await h.swarm(['backend', 'github', 'collect', '--run-id', 'g6']);
    expect(narrower.code).toBe(3);
    expect(narrower.envelope.error.details.mismatched).toEqual(['allowlist']);
    edit((e) => {
      e.step.allow_hosts = ['example.com'];
    });
    const ok = await h.swarm(['backend', 'github', 'collect', '--run-id', 'g6']);
    expect(ok.code, ok.stdout).toBe(0);
    const out = path.join(h.tmp, 'export-g6');
    expect((await h.swarm(['state', 'export', '--node', 'run:g6', '--out', out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'workspace', 's.txt'), 'utf8')).toBe('from a script\n');
  }, 120_000);

  it('a chain can start on GitHub: launch from root with --backend github', async () => {
    const r = await h.swarm(['run', 'launch', '--backend', 'github', '--repo', REPO, '--node', 'root', '--run-id', 'groot', '--step', 'echo first > first.txt']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.envelope.data).toMatchObject({ node_id: 'node-groot', status: 'succeeded' });
    const out = path.join(h.tmp, 'export-groot');
    expect((await h.swarm(['state', 'export', '--node', 'run:groot', '--out', out])).code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'workspace', 'first.txt'), 'utf8')).toBe('first\n');
    const chain = await h.swarm(['verify', 'chain', '--node', 'run:groot']);
    expect(chain.envelope.data.verified).toBe(true);
  }, 60_000);

  it('refuses a run id that is not a plain name before anything is sent', async () => {
    const sent = h.emulator.requests.length;
    const r = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', 'run:groot', '--run-id', '../escape', '--step', 'true']);
    expect(r.code).toBe(2);
    expect(r.envelope.error.code).toBe('INVALID_ARGUMENT');
    expect(h.emulator.requests.length).toBe(sent);
  });

  it('a run in flight at a rotation is still collected: its certificate is signed by the key that was replaced', async () => {
    const d = await h.swarm(['backend', 'github', 'dispatch', '--repo', REPO, '--node', 'run:groot', '--run-id', 'g-rot', '--step', 'echo r > r2.txt']);
    expect(d.code, d.stderr + d.stdout).toBe(0);
    await h.runner.idle();
    const rotated = await h.swarm(['github', 'setup', '--repo', REPO, '--action', ACTION, '--rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const c = await h.swarm(['backend', 'github', 'collect', '--run-id', 'g-rot']);
    expect(c.code, c.stdout).toBe(0);
    const certificate = JSON.parse(fs.readFileSync(path.join(h.project, '.swarm', 'runs', 'g-rot', 'certificate.json'), 'utf8'));
    expect(certificate.swarm.signer).not.toBe(rotated.envelope.data.runner_key_id);
  }, 60_000);
});
