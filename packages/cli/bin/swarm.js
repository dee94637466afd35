#!/usr/bin/env node
// The only place that calls process.exit: everything else returns an exit code.
import v8 from 'node:v8';
// A larger young generation: a snapshot of a big tree allocates a small object per entry, and
// scavenging them with the default 16 MiB semi-spaces costs more than the work itself.
v8.setFlagsFromString('--max-semi-space-size=32');
const { main } = await import('../dist/bundle/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`swarm: internal error: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
