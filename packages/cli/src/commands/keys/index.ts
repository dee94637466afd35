import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';

/** The `swarm keys …` commands. */
export const keysCommands: Array<CommandClass<SwarmContext>> = [];
