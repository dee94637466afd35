#!/usr/bin/env node
// The only place that calls process.exit: everything else returns an exit code.
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { loadBundle } from './code-cache.js';
// A larger young generation: a snapshot of a big tree allocates a small object per entry, and
// scavenging them with the default 16 MiB semi-spaces costs more than the work itself.
v8.setFlagsFromString('--max-semi-space-size=32');
const argv = process.argv.slice(2);
const bundle = loadBundle(fileURLToPath(new URL('../dist/bundle/swarm.cjs', import.meta.url)), argv);

bundle.exports.main(argv).then(
  (code) => {
    process.exitCode = code;
    if (code === 0) bundle.save(bundle.exports.codeCacheKey?.(argv));
  },
  (error) => {
    process.stderr.write(`swarm: internal error: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
