/** Kept equal to packages/cli/package.json by a test; read without touching the file system at start-up. */
export const SWARM_VERSION = '0.1.0';
