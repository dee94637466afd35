import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { StateBundleCommand } from './bundle.js';
import { StateExportCommand } from './export.js';
import { StateInspectCommand } from './inspect.js';

/** The `swarm state …` commands. */
export const stateCommands: Array<CommandClass<SwarmContext>> = [StateInspectCommand, StateExportCommand, StateBundleCommand];
