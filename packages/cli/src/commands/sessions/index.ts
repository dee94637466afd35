import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { SessionsExportCommand } from './export.js';
import { SessionsListCommand } from './list.js';
import { SessionsSearchCommand } from './search.js';
import { SessionsShowCommand } from './show.js';

/** The `swarm sessions …` commands: the agents' transcript archive. */
export const sessionsCommands: Array<CommandClass<SwarmContext>> = [SessionsListCommand, SessionsShowCommand, SessionsSearchCommand, SessionsExportCommand];
