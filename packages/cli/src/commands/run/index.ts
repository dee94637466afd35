import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { RunCancelCommand } from './cancel.js';
import { RunForkCommand } from './fork.js';
import { RunKillCommand } from './kill.js';
import { RunLaunchCommand } from './launch.js';
import { RunListCommand } from './list.js';
import { RunLogsCommand } from './logs.js';
import { RunResumeCommand } from './resume.js';
import { RunRmCommand } from './rm.js';
import { RunStatusCommand } from './status.js';
import { RunStopCommand } from './stop.js';

/** The `swarm run …` commands. */
export const runCommands: Array<CommandClass<SwarmContext>> = [
  RunLaunchCommand,
  RunResumeCommand,
  RunForkCommand,
  RunStatusCommand,
  RunLogsCommand,
  RunListCommand,
  RunCancelCommand,
  RunStopCommand,
  RunKillCommand,
  RunRmCommand,
];
