import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { ProxyBrokerCommand } from './broker.js';
import { ProxyProviderCommand } from './provider.js';
import { ProxyTicketCommand } from './ticket.js';

/** The `swarm proxy …` commands. */
export const proxyCommands: Array<CommandClass<SwarmContext>> = [ProxyBrokerCommand, ProxyProviderCommand, ProxyTicketCommand];
