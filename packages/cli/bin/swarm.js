#!/usr/bin/env node
// The only place that calls process.exit: everything else returns an exit code.
// CommonJS (bin/package.json): Node's ESM loader would cost a start about 11 ms more.
'use strict';
const path = require('node:path');
const v8 = require('node:v8');
const { loadBundle } = require('./code-cache.js');
// A larger young generation: a snapshot of a big tree allocates a small object per entry, and
// scavenging them with the default 16 MiB semi-spaces costs more than the work itself.
v8.setFlagsFromString('--max-semi-space-size=32');
const argv = process.argv.slice(2);
const bundle = loadBundle(path.join(__dirname, '..', 'dist', 'bundle', 'swarm.cjs'), argv);

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
