import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../base-command.js';
import { ApplyCommand } from './apply.js';
import { auditCommands } from './audit/index.js';
import { branchCommands } from './branch/index.js';
import { ConfigSetCommand } from './config/set.js';
import { ConfigShowCommand } from './config/show.js';
import { DiffCommand } from './diff.js';
import { DoctorCommand } from './doctor.js';
import { GcCommand } from './gc.js';
import { githubCommands } from './github/index.js';
import { GraphCommand } from './graph.js';
import { HelpCommand } from './help.js';
import { QuickstartCommand } from './quickstart.js';
import { InitCommand } from './init.js';
import { keysCommands } from './keys/index.js';
import { proxyCommands } from './proxy/index.js';
import { PsCommand } from './ps.js';
import { UiCommand } from './ui.js';
import { runCommands } from './run/index.js';
import { SchemaValidateCommand } from './schema/validate.js';
import { secretCommands } from './secret/index.js';
import { sessionsCommands } from './sessions/index.js';
import { stateCommands } from './state/index.js';
import { verifyCommands } from './verify/index.js';
import { VersionCommand } from './version.js';

/** Every swarm command. Each area keeps its own list in `commands/<area>/index.ts`. */
export const commands: Array<CommandClass<SwarmContext>> = [
  HelpCommand,
  VersionCommand,
  InitCommand,
  DoctorCommand,
  QuickstartCommand,
  ConfigShowCommand,
  ConfigSetCommand,
  SchemaValidateCommand,
  ...runCommands,
  PsCommand,
  UiCommand,
  ...branchCommands,
  GraphCommand,
  DiffCommand,
  ApplyCommand,
  GcCommand,
  ...stateCommands,
  ...sessionsCommands,
  ...verifyCommands,
  ...keysCommands,
  ...secretCommands,
  ...auditCommands,
  ...proxyCommands,
  ...githubCommands,
];
