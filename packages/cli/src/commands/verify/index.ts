import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { VerifyCertCommand } from './cert.js';
import { VerifyChainCommand } from './chain.js';
import { VerifyProofCommand } from './proof.js';

/** The `swarm verify …` commands. */
export const verifyCommands: Array<CommandClass<SwarmContext>> = [VerifyCertCommand, VerifyChainCommand, VerifyProofCommand];
