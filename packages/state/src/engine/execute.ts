/**
 * Phase 4, execute: the step in its sandbox, with its environment, its output through the
 * redactor into step.log. Returns only when no process of the step is left, and closes the egress
 * session (its decision summary is part of the outcome).
 */
import fs from 'node:fs';
import type { EgressSession, EgressSummary } from '@swarm/core';
import { executeStep, type StepOutcome } from '../run/execute-step.js';
import type { StepView } from './egress.js';
import type { RunPaths } from './run-paths.js';
import { stepBaseEnv, type GrantedEnvironment } from './step-env.js';
import type { StepCommand } from './step-command.js';

export interface ExecuteInput {
  paths: RunPaths;
  /** Where the step sees its files (egress.ts). */
  view: StepView;
  command: StepCommand;
  session: EgressSession | undefined;
  /** The caller's environment (only the documented base set is taken from it). */
  callerEnv: NodeJS.ProcessEnv;
  granted: GrantedEnvironment;
  ids: { runId: string; nodeId: string; parentNodeId: string };
  prompt: string | undefined;
  /** More values the log must never show (the run's chain keys). */
  secrets: string[];
  timeoutS?: number;
  signal?: AbortSignal;
  onOutput?: (chunk: Buffer) => void;
  /** The step reads the caller's terminal (an interactive agent). */
  interactive?: boolean;
}

export interface Executed {
  outcome: StepOutcome;
  egress: EgressSummary;
}

const EMPTY_EGRESS: EgressSummary = { requests: 0, allowed: 0, denied: 0, bytes_in: 0, bytes_out: 0, hosts: [] };

/** Writes the step's inputs (prompt, script) into the run directory before the sandbox is built. */
export function writeStepInputs(paths: RunPaths, command: StepCommand, prompt: string | undefined): void {
  // Scratch inputs: their digests are in the policy, so they need no fsync.
  if (prompt !== undefined) fs.writeFileSync(paths.promptFile, prompt, { mode: 0o600 });
  if (command.script) fs.writeFileSync(paths.scriptFile, command.script, { mode: 0o600 });
}

export async function execute(input: ExecuteInput): Promise<Executed> {
  const { paths, session } = input;
  const env: Record<string, string> = {
    ...stepBaseEnv(input.callerEnv, input.view.home),
    ...input.command.env,
    ...input.granted.env,
    ...(session?.env ?? {}),
    SWARM_RUN_ID: input.ids.runId,
    SWARM_NODE_ID: input.ids.nodeId,
    SWARM_PARENT_NODE_ID: input.ids.parentNodeId,
    SWARM_STATE_DB: input.view.stateDb,
    SWARM_WORKSPACE: input.view.workspace,
    SWARM_PROMPT_FILE: input.prompt !== undefined ? input.view.prompt : '',
  };
  const argv = input.command.script ? [...input.command.argv, input.view.script] : input.command.argv;
  let egress = EMPTY_EGRESS;
  try {
    const outcome = await executeStep({
      command: session ? session.wrap(argv) : { argv, controlPipes: 0 },
      cwd: paths.workspaceDir,
      env,
      logFile: paths.logFile,
      pidFile: paths.pidFile,
      secrets: [...(session?.secrets ?? []), ...input.granted.secrets, ...input.secrets],
      timeoutMs: input.timeoutS ? Math.round(input.timeoutS * 1000) : undefined,
      signal: input.signal,
      onOutput: input.onOutput,
      stdin: input.interactive ? 'inherit' : 'ignore',
    });
    egress = session ? await session.close() : EMPTY_EGRESS;
    return { outcome, egress };
  } finally {
    // On failure too: the broker must not outlive the step.
    if (session) await session.close().catch(() => undefined);
  }
}
