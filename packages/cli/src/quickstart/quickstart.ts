/**
 * The README's main job: the whole engine on a sample agent step in a temporary store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { SwarmError, loadOrCreateSigningKey, swarmHome, type EgressProvider } from '@swarm/core';
import { exportNode, forkNode, launchRun, loadCertificateChain, loadGraph, renderGraph, type LaunchResult } from '@swarm/state';
import '../errors.js';
import { loadEgressProvider } from '../run/options.js';

const AGENT_SCRIPT = `// A stand-in for an agent step: it reads its prompt, edits the workspace and remembers
// how many times it ran in the state DB that swarm carries from node to node.
import fs from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(process.env.QUICKSTART_NODE_MODULES + '/');
const Database = require('better-sqlite3');
const prompt = process.env.SWARM_PROMPT_FILE ? fs.readFileSync(process.env.SWARM_PROMPT_FILE, 'utf8') : '';
const db = new Database(process.env.SWARM_STATE_DB);
db.exec('CREATE TABLE IF NOT EXISTS agent_memory (key TEXT PRIMARY KEY, value INTEGER)');
db.prepare("INSERT INTO agent_memory VALUES ('steps', 1) ON CONFLICT(key) DO UPDATE SET value = value + 1").run();
const steps = db.prepare("SELECT value FROM agent_memory WHERE key = 'steps'").get().value;
db.close();
fs.appendFileSync('notes.md', '- step ' + steps + ' (' + process.env.SWARM_RUN_ID + '): ' + prompt.trim() + '\\n');
console.log('agent: step ' + steps + ' done for ' + process.env.SWARM_RUN_ID);
`;

export interface QuickstartResult {
  store: string | null;
  runs: Array<Pick<LaunchResult, 'run_id' | 'status' | 'node_id' | 'parent_node_id' | 'restore_mode' | 'artifact_hash' | 'sandbox'>>;
  fork: { branch: string; node_id: string };
  notes: { main: string; fork: string };
  verified: Array<{ node: string; ok: boolean; links: number; detail: string }>;
  graph: string;
  summary: string;
}

export async function runQuickstart(options: {
  env: NodeJS.ProcessEnv;
  keep: boolean;
  log: (line: string) => void;
  warn: (line: string) => void;
}): Promise<QuickstartResult> {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-quickstart-'));
  const seed = path.join(project, 'seed');
  fs.mkdirSync(seed);
  fs.writeFileSync(path.join(seed, 'agent.mjs'), AGENT_SCRIPT);
  fs.writeFileSync(path.join(seed, 'notes.md'), '# notes\n');
  const modules = path.dirname(path.dirname(createRequire(import.meta.url).resolve('better-sqlite3')));
  const env = options.env;
  try {
    const egress = await chooseEgress(options);
    const common = {
      cwd: project,
      env,
      egress: egress.provider,
      unsandboxedEgress: egress.unsandboxed,
      // The step's environment is default-deny: the sample agent is granted where its module is.
      grantEnv: { QUICKSTART_NODE_MODULES: modules },
      // The node_modules holding it (and its dependencies), visible even where swarm is installed
      // below /tmp, which the sandbox covers.
      readable: [path.dirname(modules)],
      step: 'node agent.mjs',
      // Show what the sample agent prints, so a failing demo explains itself.
      onOutput: (chunk: Buffer) => options.log(chunk.toString('utf8').trimEnd().replace(/^/gm, '  | ')),
    };
    const runs: LaunchResult[] = [];
    const step = async (label: string, run: Parameters<typeof launchRun>[0]) => {
      options.log(`quickstart: ${label}`);
      const result = await launchRun(run);
      runs.push(result);
      return result;
    };
    await step('launch from root (run qs-1)', { ...common, node: 'root', runId: 'qs-1', workspace: seed, prompt: 'write the plan' });
    await step('resume from run:qs-1 (run qs-2)', { ...common, node: 'run:qs-1', runId: 'qs-2', prompt: 'do the work' });
    options.log('quickstart: fork run:qs-1 as branch:alt');
    const fork = await forkNode({ cwd: project, env, node: 'run:qs-1', label: 'alt' });
    await step('resume from branch:alt (run qs-3)', { ...common, node: 'branch:alt', runId: 'qs-3', prompt: 'try another way' });

    const notes = {
      main: await readNotes(project, env, 'run:qs-2'),
      fork: await readNotes(project, env, 'run:qs-3'),
    };
    options.log('quickstart: verify both chains');
    const verified = [await verifyNode(project, env, 'run:qs-2'), await verifyNode(project, env, 'run:qs-3')];
    const graph = renderGraph(await loadGraph({ cwd: project, env }), 'mermaid');
    const failed = verified.filter((v) => !v.ok);
    if (failed.length > 0) {
      throw new SwarmError('VERIFY_CHAIN_FAILED', `quickstart chain verification failed: ${failed.map((f) => f.detail).join('; ')}`, { details: verified });
    }
    const summary = [
      ...runs.map((r) => `${r.run_id}: ${r.status}, node ${r.node_id} ← ${r.parent_node_id} (${r.restore_mode}, egress ${r.sandbox})`),
      `fork: ${fork.branch} → ${fork.node_id}`,
      '',
      'main branch notes.md (run:qs-2):',
      notes.main.trimEnd(),
      '',
      'fork notes.md (run:qs-3):',
      notes.fork.trimEnd(),
      '',
      ...verified.map((v) => `verify chain ${v.node}: ${v.ok ? 'ok' : 'FAILED'} (${v.detail})`),
      '',
      graph,
      options.keep ? `\nstore kept at ${project} (cd there and try \`swarm run list\`)` : '',
    ].join('\n');
    return {
      store: options.keep ? project : null,
      runs: runs.map((r) => ({ run_id: r.run_id, status: r.status, node_id: r.node_id, parent_node_id: r.parent_node_id, restore_mode: r.restore_mode, artifact_hash: r.artifact_hash, sandbox: r.sandbox })),
      fork: { branch: fork.branch, node_id: fork.node_id },
      notes,
      verified,
      graph,
      summary,
    };
  } finally {
    if (!options.keep) fs.rmSync(project, { recursive: true, force: true });
  }
}

async function chooseEgress(options: { env: NodeJS.ProcessEnv; warn: (line: string) => void }): Promise<{ provider: EgressProvider; unsandboxed: boolean }> {
  const provider = await loadEgressProvider(options.env);
  const { probeSandbox } = await import('@swarm/proxy');
  const probe = await probeSandbox(options.env);
  if (!probe.ok) {
    // The demo's step is swarm's own sample agent, so it may run unfenced; real runs refuse (exit 6).
    options.warn(
      `no step sandbox here: ${probe.detail}${probe.hint ? `\n  to fix: ${probe.hint}` : ''}\n  the demo runs with --unsandboxed-egress, which real runs refuse by default`,
    );
    return { provider, unsandboxed: true };
  }
  return { provider, unsandboxed: false };
}

async function readNotes(cwd: string, env: NodeJS.ProcessEnv, node: string): Promise<string> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-qs-export-'));
  try {
    const exported = await exportNode({ cwd, env, node, out: path.join(out, 'x') });
    return fs.readFileSync(path.join(exported.workspace, 'notes.md'), 'utf8');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

async function verifyNode(cwd: string, env: NodeJS.ProcessEnv, node: string): Promise<{ node: string; ok: boolean; links: number; detail: string }> {
  const links = await loadCertificateChain({ cwd, env, ref: node });
  const { verifyChain } = await import('@swarm/verify');
  // The demo's certificates are signed with this operator's key, so trust exactly that key.
  const publicKey = loadOrCreateSigningKey(swarmHome(env)).publicKey;
  const report = verifyChain(links, { node, trustedKeys: [publicKey], requireSignature: true, requirePolicy: true, home: swarmHome(env) });
  const failed = report.failed.length > 0 ? `failed: ${report.failed.join(', ')}` : 'every certificate, signature, policy and link checked';
  return { node, ok: report.verified, links: links.length, detail: `${links.length} links, ${failed}` };
}
