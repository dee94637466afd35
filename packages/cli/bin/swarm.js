#!/bin/sh
':' //; SWARM_DEFERRED_CA_CERTS="${NODE_EXTRA_CA_CERTS-}"; export SWARM_DEFERRED_CA_CERTS; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// The only place that calls process.exit: everything else returns an exit code.
// CommonJS (bin/package.json): Node's ESM loader would cost a start about 11 ms more.
//
// Started by its path (swarm on PATH, npx swarm), this file is first a POSIX shell script: the
// second line, to JavaScript a string and a comment, starts Node on this file without
// NODE_EXTRA_CA_CERTS, which Node would otherwise parse at every start (tens of ms for a system
// bundle), and passes its value on under another name. It is put back below, before anything
// runs, so every process swarm starts inherits it as it was, and swarm's own HTTPS requests read
// the file when they first need it (@swarm/core tls-trust.ts). Run as `node bin/swarm.js`, Node
// has read the file itself and nothing is deferred.
'use strict';
// Deferred only where the second line did unset it: a variable left over from elsewhere is dropped.
let deferredCaCerts = process.env.SWARM_DEFERRED_CA_CERTS;
delete process.env.SWARM_DEFERRED_CA_CERTS;
if (process.env.NODE_EXTRA_CA_CERTS !== undefined) deferredCaCerts = undefined;
else if (deferredCaCerts) process.env.NODE_EXTRA_CA_CERTS = deferredCaCerts;
const path = require('node:path');
const v8 = require('node:v8');
const { loadBundle } = require('./code-cache.js');
// A larger young generation: a snapshot of a big tree allocates a small object per entry, and
// scavenging them with the default 16 MiB semi-spaces costs more than the work itself.
v8.setFlagsFromString('--max-semi-space-size=32');
const argv = process.argv.slice(2);
const bundle = loadBundle(path.join(__dirname, '..', 'dist', 'bundle', 'swarm.cjs'), argv);

if (deferredCaCerts) bundle.exports.deferExtraCaCerts(deferredCaCerts);

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
