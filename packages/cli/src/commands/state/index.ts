import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';

/** The `swarm state …` commands. */
export const stateCommands: Array<CommandClass<SwarmContext>> = [];
