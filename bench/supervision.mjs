// Supervision benchmarks: `swarm ps` and the web UI's DAG endpoint on a store of 1,000 nodes
// (targets: under 200 ms and under 100 ms). Baselines in the same run: `swarm --version` (the
// process floor `ps` cannot go below) and a request the UI answers with nothing (the HTTP floor).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fmt, heading, median, timeProcess } from './lib.mjs';

const BIN = fileURLToPath(new URL('../packages/cli/bin/swarm.js', import.meta.url));
const STATE = pathToFileURL(fileURLToPath(new URL('../packages/state/dist/index.js', import.meta.url))).href;
const UI = pathToFileURL(fileURLToPath(new URL('../packages/cli/dist/ui/server.js', import.meta.url))).href;

export async function main({ runs = 200, nodes = 1000, rounds = 11 } = {}) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-bench-supervision-'));
  const env = { ...process.env, SWARM_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  const saved = { ...process.env };
  try {
    heading(`swarm ps and the UI's DAG endpoint, a store of ${nodes} nodes (${runs} runs, the rest forks)`);
    timeProcess(BIN, ['init', '--quiet'], { env, cwd: tmp });
    Object.assign(process.env, env);
    const state = await import(STATE);
    const t0 = performance.now();
    // A chain of runs (each from the one before), then forks spread over them.
    let parent = 'root';
    for (let i = 0; i < runs; i += 1) {
      const r = await state.launchRun({ cwd: tmp, env, node: parent, step: `echo ${i} > n.txt`, runId: `r${i}`, unsandboxedEgress: true });
      parent = `run:${r.run_id}`;
    }
    for (let i = 0; i < nodes - runs - 1; i += 1) await state.forkNode({ cwd: tmp, env, node: `run:r${i % runs}`, label: `b${i}` });
    const graph = await state.loadGraph({ cwd: tmp, env });
    console.log(`store built in ${fmt((performance.now() - t0) / 1000, 1)} s: ${graph.nodes.length} nodes, ${graph.branches.length} branches`);

    const ps = [];
    const version = [];
    for (let i = 0; i < rounds; i += 1) {
      version.push(timeProcess(BIN, ['--version'], { env, cwd: tmp }).ms);
      ps.push(timeProcess(BIN, ['ps', '--json'], { env, cwd: tmp }).ms);
    }
    const psAll = [];
    for (let i = 0; i < 5; i += 1) psAll.push(timeProcess(BIN, ['ps', '--all', '--json'], { env, cwd: tmp }).ms);
    console.log(`swarm --version (floor)   median ${fmt(median(version))} ms`);
    console.log(`swarm ps --json           median ${fmt(median(ps))} ms   (${fmt(median(ps) / median(version), 2)}× the floor; target < 200 ms: ${median(ps) < 200 ? 'met' : 'NOT met'})`);
    console.log(`swarm ps --all --json     median ${fmt(median(psAll))} ms   (all ${runs} runs listed)`);

    const { startUi } = await import(UI);
    const server = await startUi({ cwd: tmp, env });
    try {
      const get = async (p, headers) => {
        const s = performance.now();
        const r = await fetch(`http://127.0.0.1:${server.port}${p}`, { headers });
        await r.arrayBuffer();
        return { ms: performance.now() - s, status: r.status };
      };
      const auth = { 'X-Swarm-Token': server.token };
      await get('/api/graph', auth);
      const dag = [];
      const floor = [];
      for (let i = 0; i < 21; i += 1) {
        floor.push((await get('/api/graph')).ms);
        const r = await get('/api/graph', auth);
        if (r.status !== 200) throw new Error(`/api/graph answered ${r.status}`);
        dag.push(r.ms);
      }
      console.log(`UI, a request refused (floor)  median ${fmt(median(floor), 2)} ms`);
      console.log(`UI, GET /api/graph             median ${fmt(median(dag), 2)} ms   (${fmt(median(dag) / median(floor), 1)}× the floor; target < 100 ms: ${median(dag) < 100 ? 'met' : 'NOT met'})`);
    } finally {
      await server.close();
    }
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
