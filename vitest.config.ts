import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const pkg = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Unit tests run on sources; end-to-end tests run the built binary in packages/cli/bin.
export default defineConfig({
  resolve: {
    alias: {
      '@swarm/core': pkg('core'),
      '@swarm/state': pkg('state'),
      '@swarm/verify': pkg('verify'),
      '@swarm/proxy': pkg('proxy'),
      '@swarm/github': pkg('github'),
      '@swarm/test-utils': pkg('test-utils'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'conformance/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
