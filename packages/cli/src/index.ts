export { main, createCli } from './main.js';
export { BaseCommand, toSwarmError, type SwarmContext } from './base-command.js';
export { Output, type Envelope } from './output.js';
export { SWARM_VERSION } from './version.js';
