import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { KeysGenerateCommand } from './generate.js';
import { KeysShowCommand } from './show.js';
import { KeysTrustCommand } from './trust.js';
import { KeysUntrustCommand } from './untrust.js';

/** The `swarm keys …` commands. */
export const keysCommands: Array<CommandClass<SwarmContext>> = [KeysGenerateCommand, KeysShowCommand, KeysTrustCommand, KeysUntrustCommand];
