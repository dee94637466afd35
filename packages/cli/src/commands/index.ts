import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../base-command.js';
import { ConfigSetCommand } from './config/set.js';
import { ConfigShowCommand } from './config/show.js';
import { DoctorCommand } from './doctor.js';
import { InitCommand } from './init.js';
import { SchemaValidateCommand } from './schema/validate.js';

/** Every swarm command, in the order `--help` lists them. */
export const commands: Array<CommandClass<SwarmContext>> = [
  InitCommand,
  DoctorCommand,
  ConfigShowCommand,
  ConfigSetCommand,
  SchemaValidateCommand,
];
