import type { CommandClass } from 'clipanion';
import type { SwarmContext } from '../../base-command.js';
import { BackendCancelCommand, BackendCollectCommand, BackendDispatchCommand, BackendWatchCommand } from '../backend/github.js';
import { WorkerRunCommand } from '../worker/run.js';
import { GithubSetupCommand } from './setup.js';

/** `swarm github setup`, `swarm backend github …` and `swarm worker run`. */
export const githubCommands: Array<CommandClass<SwarmContext>> = [GithubSetupCommand, BackendDispatchCommand, BackendWatchCommand, BackendCollectCommand, BackendCancelCommand, WorkerRunCommand];
