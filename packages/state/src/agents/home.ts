/**
 * What of the step's HOME is never sealed: credential stores and environment dumps, of the agent
 * CLIs swarm knows and of the common tools. docs/agents.md lists them. Whatever else the step left
 * in its HOME travels with the node (conversations, settings, caches).
 */

/** Tools' credential files, whatever agent ran: a path relative to HOME, `/` at the end for a directory. */
export const COMMON_HOME_EXCLUSIONS: readonly string[] = [
  '.ssh/',
  '.gnupg/',
  '.aws/',
  '.azure/',
  '.kube/',
  '.docker/config.json',
  '.config/gcloud/',
  '.config/gh/hosts.yml',
  '.git-credentials',
  '.netrc',
  '.npmrc',
  '.pypirc',
];

/** A predicate for the bundle walk: true for a home path under one of `rules`. */
export function homeExclusion(rules: readonly string[]): (rel: string, type: string) => boolean {
  const dirs = rules.filter((rule) => rule.endsWith('/')).map((rule) => rule.slice(0, -1));
  const files = new Set(rules.filter((rule) => !rule.endsWith('/')));
  return (rel) => files.has(rel) || dirs.some((dir) => rel === dir || rel.startsWith(`${dir}/`));
}
