#!/usr/bin/env node
// The only place that calls process.exit: everything else returns an exit code.
import { main } from '../dist/bundle/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`swarm: internal error: ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
