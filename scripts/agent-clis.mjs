#!/usr/bin/env node
/**
 * The real agent CLIs the tests run, at pinned versions, installed from npm into a cache directory
 * of this checkout (node_modules/.cache/swarm-agent-clis/<name>@<version>). Idempotent: a complete
 * install is kept. `node scripts/agent-clis.mjs` installs them; `--print` prints where each CLI's
 * binary is, as JSON, without installing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE_DIR = process.env.SWARM_AGENT_CLI_CACHE || path.join(root, 'node_modules', '.cache', 'swarm-agent-clis');

/** Versions that run on the project's Node (20.19+). */
export const AGENT_CLIS = [
  { name: 'claude', pkg: '@anthropic-ai/claude-code', version: '2.1.197', bin: 'claude' },
  { name: 'codex', pkg: '@openai/codex', version: '0.171.0', bin: 'codex' },
  { name: 'gemini', pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' },
];

function installDir(cli) {
  return path.join(CACHE_DIR, `${cli.name}@${cli.version}`);
}

/** Where each CLI's binary is (whether or not it is installed yet). */
export function agentBins() {
  return Object.fromEntries(AGENT_CLIS.map((cli) => [cli.name, path.join(installDir(cli), 'node_modules', '.bin', cli.bin)]));
}

function install(cli) {
  const dir = installDir(cli);
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return false;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `swarm-agent-cli-${cli.name}`, private: true }) + '\n');
  process.stderr.write(`agent CLIs: installing ${cli.pkg}@${cli.version}\n`);
  const result = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--no-save', `${cli.pkg}@${cli.version}`], {
    cwd: dir,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 10 * 60 * 1000,
  });
  if (result.status !== 0) throw new Error(`npm install ${cli.pkg}@${cli.version} failed (${result.error?.message ?? `exit ${result.status}`})`);
  if (!fs.existsSync(path.join(dir, 'node_modules', '.bin', cli.bin))) throw new Error(`${cli.pkg}@${cli.version} installed no ${cli.bin} binary`);
  fs.writeFileSync(done, `${cli.pkg}@${cli.version}\n`);
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--print')) {
    process.stdout.write(JSON.stringify(agentBins(), null, 2) + '\n');
  } else {
    for (const cli of AGENT_CLIS) install(cli);
  }
}
