/** Where a run's files live in its run directory (the same layout in every engine phase). */
import path from 'node:path';

export interface RunPaths {
  dir: string;
  workspaceDir: string;
  /** The state DB sits in a directory of its own, so SQLite's journal beside it lands where the step may write. */
  stateDir: string;
  stateDbPath: string;
  /** The step's private HOME: restored from the parent node and sealed with the new one (less what is never sealed). */
  homeDir: string;
  promptFile: string;
  scriptFile: string;
  logFile: string;
  pidFile: string;
  partialBundle: string;
  pendingObject: string;
}

export function runPaths(dir: string): RunPaths {
  const stateDir = path.join(dir, 'state');
  return {
    dir,
    workspaceDir: path.join(dir, 'workspace'),
    stateDir,
    stateDbPath: path.join(stateDir, 'state.db'),
    homeDir: path.join(dir, 'home'),
    promptFile: path.join(dir, 'prompt.txt'),
    scriptFile: path.join(dir, 'step.sh'),
    logFile: path.join(dir, 'step.log'),
    pidFile: path.join(dir, '.step.pgid'),
    partialBundle: path.join(dir, '.bundle.partial'),
    pendingObject: path.join(dir, '.pending-object'),
  };
}
