import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { BranchRmCommand } from './rm.js';

/** The `swarm branch …` commands. */
export const branchCommands: Array<CommandClass<SwarmContext>> = [BranchRmCommand];
