/** The agent CLIs swarm knows, by name, and what of a step's HOME is never sealed because of them. */
import { claudeAdapter } from './claude.js';
import { codexAdapter } from './codex.js';
import { geminiAdapter } from './gemini.js';
import { COMMON_HOME_EXCLUSIONS } from './home.js';
import type { AgentAdapter, AgentName } from './types.js';

export const AGENTS: Readonly<Record<AgentName, AgentAdapter>> = { claude: claudeAdapter, codex: codexAdapter, gemini: geminiAdapter };
export const ALL_AGENTS: readonly AgentAdapter[] = Object.values(AGENTS);

export function isAgentName(name: string): name is AgentName {
  return Object.hasOwn(AGENTS, name);
}

/** Never sealed, whatever ran: the common tools' credentials and every known agent's. */
export const HOME_EXCLUSIONS: readonly string[] = [...COMMON_HOME_EXCLUSIONS, ...ALL_AGENTS.flatMap((agent) => agent.excludedHomePaths)];
