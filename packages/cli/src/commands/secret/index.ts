import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { SecretListCommand } from './list.js';
import { SecretRmCommand } from './rm.js';
import { SecretSetCommand } from './set.js';

/** The `swarm secret …` commands. */
export const secretCommands: Array<CommandClass<SwarmContext>> = [SecretSetCommand, SecretListCommand, SecretRmCommand];
