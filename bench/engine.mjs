// Engine benchmarks: CLI start-up, a whole `swarm run launch` with a no-op step and swarm's own
// share of it, and fork time for a small vs a 1 GiB workspace.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, heading, median, timeProcess } from './lib.mjs';

const BIN = fileURLToPath(new URL('../packages/cli/bin/swarm.js', import.meta.url));

export async function main({ rounds = 15, bigMiB = 1024 } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-engine-'));
  const env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  try {
    heading('CLI start-up: swarm --version (target < 150 ms)');
    const node = [];
    const swarm = [];
    for (let i = 0; i < rounds; i += 1) {
      node.push(timeProcess(process.execPath, ['-e', '0']).ms);
      swarm.push(timeProcess(process.execPath, [BIN, '--version'], { env }).ms);
    }
    console.log(`node -e 0 (baseline)  median ${fmt(median(node))} ms`);
    console.log(`swarm --version       median ${fmt(median(swarm))} ms   (swarm's own: ${fmt(median(swarm) - median(node))} ms over bare node)`);

    heading('swarm run launch, no-op step, small workspace (target: whole < 250 ms, swarm share < 50 ms)');
    const project = path.join(tmp, 'project');
    const seed = path.join(tmp, 'seed');
    fs.mkdirSync(project);
    fs.mkdirSync(seed);
    for (let i = 0; i < 20; i += 1) fs.writeFileSync(path.join(seed, `file-${i}.txt`), crypto.randomBytes(2048).toString('hex'));
    timeProcess(process.execPath, [BIN, 'init', '--quiet'], { env, cwd: project });
    timeProcess(process.execPath, [BIN, 'run', 'launch', '--node', 'root', '--workspace', seed, '--run-id', 'seed', '--step', 'true', '--quiet', '--unsandboxed-egress'], { env, cwd: project });
    // Interleaved, one round of each in turn, so drift on a shared machine hits every series alike.
    const configs = [
      // The baseline has no sandbox at all: bubblewrap made unavailable, and unsandboxed egress allowed.
      { label: 'no sandbox', extra: ['--unsandboxed-egress'], env: { SWARM_BWRAP: path.join(tmp, 'no-bwrap') } },
      { label: 'sandboxed (bwrap)', extra: [], env: {} },
      { label: 'bwrap, open network', extra: ['--unsandboxed-egress'], env: {} },
    ].map((c) => ({ ...c, whole: [], own: [], step: [], phases: {} }));
    for (let i = 0; i < rounds; i += 1) {
      for (const c of configs) {
        const runId = `${c.label.replace(/[^a-z]+/g, '-')}-${i}`;
        const r = timeProcess(process.execPath, [BIN, 'run', 'resume', '--node', 'run:seed', '--run-id', runId, '--step', 'true', '--json', ...c.extra], {
          env: { ...env, ...c.env },
          cwd: project,
        });
        const data = JSON.parse(r.stdout).data;
        c.whole.push(r.ms);
        const t = data.timings_ms;
        c.own.push(['restore', 'record', 'seal', 'adopt', 'certify', 'write', 'commit'].reduce((a, k) => a + (t[k] ?? 0), 0));
        c.step.push(data.duration_ms);
        for (const [k, v] of Object.entries(t)) (c.phases[k] ??= []).push(v);
      }
    }
    for (const c of configs) {
      console.log(`${c.label}: whole process median ${fmt(median(c.whole))} ms; swarm's own work (restore + record + seal + certify + write + commit) median ${fmt(median(c.own))} ms; step incl. sandbox start median ${fmt(median(c.step))} ms`);
      console.log(`  phases (median ms): ${Object.entries(c.phases).map(([k, v]) => `${k} ${fmt(median(v), 2)}`).join(', ')}`);
    }
    const [bare, boxed, open] = configs.map((c) => median(c.whole));
    const [bareStep, boxedStep] = configs.map((c) => median(c.step));
    console.log(
      `CLI start-up share ~${fmt(median(swarm))} ms; the sandbox adds ${fmt(boxed - bare)} ms per whole run (ratio ${fmt(boxed / bare, 3)}; target < 40 ms), ` +
        `${fmt(boxedStep - bareStep)} ms to the step itself; ${fmt(open - bare)} ms without its network namespace`,
    );

    heading("the sandbox's own start cost: a no-op step spawned directly vs in bubblewrap with swarm-init as PID 1");
    await sandboxStartCost(tmp, Math.max(rounds, 25));

    heading(`fork time: small workspace vs ${bigMiB} MiB workspace (target: the same)`);
    const bigSeed = path.join(tmp, 'big-seed');
    fs.mkdirSync(bigSeed);
    const chunk = crypto.randomBytes(16 << 20);
    for (let i = 0; i < bigMiB / 16; i += 1) fs.writeFileSync(path.join(bigSeed, `blob-${i}.bin`), chunk.subarray(0, (16 << 20) - i));
    const bigProject = path.join(tmp, 'big');
    fs.mkdirSync(bigProject);
    const t0 = Date.now();
    timeProcess(process.execPath, [BIN, 'run', 'launch', '--node', 'root', '--workspace', bigSeed, '--run-id', 'big', '--step', 'true', '--quiet', '--unsandboxed-egress'], { env, cwd: bigProject });
    console.log(`(sealing the ${bigMiB} MiB workspace once took ${Date.now() - t0} ms)`);
    fs.rmSync(bigSeed, { recursive: true, force: true });
    const forkSmall = [];
    const forkBig = [];
    for (let i = 0; i < Math.min(rounds, 9); i += 1) {
      forkSmall.push(JSON.parse(timeProcess(process.execPath, [BIN, 'run', 'fork', '--node', 'run:seed', '--label', `s${i}`, '--json'], { env, cwd: project }).stdout).data.duration_ms);
      forkBig.push(JSON.parse(timeProcess(process.execPath, [BIN, 'run', 'fork', '--node', 'run:big', '--label', `b${i}`, '--json'], { env, cwd: bigProject }).stdout).data.duration_ms);
    }
    const objectsBefore = fs.readdirSync(path.join(bigProject, '.swarm/objects/sha256')).length;
    console.log(`fork, small workspace   median ${fmt(median(forkSmall), 2)} ms`);
    console.log(`fork, ${bigMiB} MiB workspace median ${fmt(median(forkBig), 2)} ms   ratio big/small ${fmt(median(forkBig) / median(forkSmall), 2)}`);
    console.log(`objects in the big store after ${forkBig.length} forks: ${objectsBefore} (forks add no bundle bytes)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** `true` spawned directly, in the full sandbox (network namespace + bridge), and as a bare Node process for scale. */
function sandboxStartCost(tmp, rounds) {
  const dist = (file) => pathToFileURL(path.resolve(path.dirname(BIN), '../../proxy/dist/sandbox', file)).href;
  return Promise.all([import(dist('bwrap.js')), import(dist('tools.js'))]).then(([{ bwrapArgv }, { findSandboxTools }]) => {
    const tools = findSandboxTools(process.env);
    if (typeof tools === 'string') {
      console.log(`(skipped: ${tools} not available)`);
      return;
    }
    const work = path.join(tmp, 'sandbox-work');
    const bridgeDir = path.join(tmp, 'bridge');
    fs.mkdirSync(work, { recursive: true });
    fs.mkdirSync(bridgeDir, { recursive: true });
    const socketPath = path.join(bridgeDir, 'b.sock');
    fs.writeFileSync(socketPath, '');
    const layout = { writable: [work], readable: [], hidden: [path.join(tmp, 'home')], cwd: work };
    const boxed = bwrapArgv({ tools, layout, bridge: { socketPath, port: 40_000 } }, ['true']);
    const stdio = ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'];
    const direct = [];
    const sandboxed = [];
    const nodeStart = [];
    for (let i = 0; i < rounds; i += 1) {
      direct.push(timeProcess('true', []).ms);
      sandboxed.push(timeProcess(boxed[0], boxed.slice(1), { stdio }).ms);
      nodeStart.push(timeProcess(process.execPath, ['-e', '0']).ms);
    }
    console.log(`true, direct                   median ${fmt(median(direct), 2)} ms`);
    console.log(`true, in the sandbox           median ${fmt(median(sandboxed), 2)} ms   (the sandbox's start: ${fmt(median(sandboxed) - median(direct), 2)} ms)`);
    console.log(`node -e 0 (a Node launcher's floor) median ${fmt(median(nodeStart), 2)} ms`);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await main({ rounds: Number(process.env.BENCH_ROUNDS ?? 15), bigMiB: Number(process.env.BENCH_BIG_MIB ?? 1024) });
}
