import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { AuditListCommand } from './list.js';
import { AuditVerifyCommand } from './verify.js';

/** The `swarm audit …` commands. */
export const auditCommands: Array<CommandClass<SwarmContext>> = [AuditListCommand, AuditVerifyCommand];
