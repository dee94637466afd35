import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';

/** The `swarm proxy …` commands. */
export const proxyCommands: Array<CommandClass<SwarmContext>> = [];
