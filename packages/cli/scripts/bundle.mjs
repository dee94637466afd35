// Bundles the CLI's modules into a few files so start-up does not pay Node's per-module ESM
// resolution cost (about 40 ms on a small machine). Lazily imported command code becomes
// separate chunks that load only when a command needs them. @swarm/core and @swarm/proxy stay
// external: core must be one module instance (error classes and code registry), and the proxy
// starts its sandbox launcher from a file next to its own module.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const cli = path.resolve(here, '..');

// Chunks of an earlier build would linger beside the new ones (and be loaded by whatever globs them).
fs.rmSync(path.join(cli, 'dist/bundle'), { recursive: true, force: true });

await build({
  entryPoints: [path.join(cli, 'dist/main.js')],
  outdir: path.join(cli, 'dist/bundle'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@swarm/core', '@swarm/proxy', 'better-sqlite3'],
  banner: { js: "import { createRequire as __swarmCreateRequire } from 'node:module'; const require = __swarmCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
