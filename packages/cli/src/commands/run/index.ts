import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';

/** The `swarm run …` commands. */
export const runCommands: Array<CommandClass<SwarmContext>> = [];
