import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';

/** The `swarm verify …` commands. */
export const verifyCommands: Array<CommandClass<SwarmContext>> = [];
