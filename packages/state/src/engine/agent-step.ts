/**
 * An agent as the step (`--agent claude|codex|gemini --prompt "…"`): its CLI found on the caller's
 * PATH and run by absolute path, its non-interactive command built by its adapter, continuing
 * exactly the conversation of the parent node (by session id, from the parent's state DB), its
 * endpoint added to the allowlist, and its own files under HOME written before it starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SwarmError } from '@swarm/core';
import '../engine-errors.js';
import { AGENTS, isAgentName } from '../agents/index.js';
import { agentHead } from '../agents/ingest.js';
import type { AgentAdapter, AgentEndpoint, AgentName } from '../agents/types.js';
import type { RunPaths } from './run-paths.js';
import type { StepCommand } from './step-command.js';

export interface AgentChoice {
  adapter: AgentAdapter;
  /** For an interactive run: util-linux `script`, which gives the agent a terminal of its own inside the sandbox. */
  pty: string | null;
  /** The CLI's absolute path (as found on PATH, links resolved). */
  bin: string;
  /** The directory the CLI's installation lives in, which the sandbox must let the step read. */
  installDir: string;
}

/** Checks the agent's name and finds its CLI, before anything is written. */
export function chooseAgent(name: string, callerEnv: NodeJS.ProcessEnv, interactive = false): AgentChoice {
  if (!isAgentName(name)) {
    throw new SwarmError('AGENT_UNKNOWN', `unknown agent ${JSON.stringify(name)}`, { hint: `one of: ${Object.keys(AGENTS).join(', ')}` });
  }
  const adapter = AGENTS[name];
  const found = findOnPath(adapter.binName, callerEnv.PATH ?? '');
  if (!found) {
    throw new SwarmError('AGENT_NOT_FOUND', `${adapter.binName} (${adapter.packageName}) is not on PATH`, {
      details: { agent: name, bin: adapter.binName },
      hint: `install it (npm install -g ${adapter.packageName}) or put its directory on PATH`,
    });
  }
  const bin = fs.realpathSync(found);
  let pty: string | null = null;
  if (interactive) {
    pty = findOnPath('script', callerEnv.PATH ?? '');
    if (!pty) {
      throw new SwarmError('AGENT_OPTIONS_INVALID', '--interactive needs util-linux `script` on PATH to give the agent a terminal in the sandbox', {
        hint: 'install util-linux (apt-get install util-linux)',
      });
    }
  }
  return { adapter, bin, installDir: installRoot(bin), pty };
}

function findOnPath(bin: string, pathVar: string): string | null {
  for (const dir of pathVar.split(':')) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, bin);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The outermost node_modules holding the CLI (its dependencies, e.g. a platform binary, sit beside it), else its directory. */
function installRoot(bin: string): string {
  let root: string | null = null;
  for (let dir = path.dirname(bin); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (path.basename(dir) === 'node_modules') root = dir;
  }
  return root ?? path.dirname(bin);
}

/** The session the parent node's run last wrote for this agent, read from the restored state DB. */
export function parentSession(paths: RunPaths, agent: AgentName): string | null {
  let db: Database.Database | undefined;
  try {
    db = new Database(paths.stateDbPath, { readonly: true, fileMustExist: true });
    const id = agentHead(db, agent);
    // The step wrote this DB: an id that is not an id (an option, say) starts a new conversation.
    return id !== null && SESSION_ID.test(id) ? id : null;
  } catch {
    return null;
  } finally {
    db?.close();
  }
}

/** What the three CLIs use as session ids (UUIDs), with room to spare; never an option. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export interface AgentStepInput {
  choice: AgentChoice;
  prompt: string;
  extraArgs: string[];
  resumeSessionId: string | null;
  /** Where the step sees its workspace and HOME. */
  view: { workspace: string; home: string };
  /** What the operator granted the step (base-URL overrides, keys). */
  grantedEnv: Readonly<Record<string, string>>;
  interactive: boolean;
  sandboxed: boolean;
}

export interface AgentStep {
  command: StepCommand;
  endpoint: AgentEndpoint;
  /** Written under the step's HOME before it starts. */
  homeFiles: Array<{ path: string; content: string }>;
}

export const PROMPT_PLACEHOLDER = '<prompt>';

export function agentStep(input: AgentStepInput): AgentStep {
  const { adapter } = input.choice;
  const invocation = {
    bin: input.choice.bin,
    prompt: input.prompt,
    resumeSessionId: input.resumeSessionId,
    extraArgs: input.extraArgs,
    workspace: input.view.workspace,
    home: input.view.home,
    env: input.grantedEnv,
    interactive: input.interactive,
    sandboxed: input.sandboxed,
  };
  const built = adapter.command(invocation);
  // The certificate attests the command without the prompt's text (the policy holds its digest).
  const attestedArgv = adapter.command({ ...invocation, prompt: input.prompt === '' ? '' : PROMPT_PLACEHOLDER }).argv;
  const attested = { agent: adapter.name, argv: [path.basename(attestedArgv[0]!), ...attestedArgv.slice(1)], resume_session: input.resumeSessionId };
  // Interactive: `script` runs the agent on a new pty inside the sandbox, relaying the caller's
  // terminal (the step has no controlling terminal of the caller's to abuse).
  const argv = input.interactive && input.choice.pty ? [input.choice.pty, '-qefc', built.argv.map(shellQuote).join(' '), '/dev/null'] : built.argv;
  return {
    command: { argv, attested: input.interactive ? { ...attested, interactive: true } : attested, env: built.env },
    endpoint: adapter.endpoint(input.grantedEnv),
    homeFiles: built.homeFiles,
  };
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Writes the adapter's files under the run's HOME (never outside it, never through a link). */
export function writeHomeFiles(homeDir: string, files: Array<{ path: string; content: string }>): void {
  for (const file of files) {
    const parts = file.path.split('/');
    if (path.isAbsolute(file.path) || parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new SwarmError('INTERNAL', `agent home file ${JSON.stringify(file.path)} is not a plain relative path`);
    }
    let dir = homeDir;
    for (const part of parts.slice(0, -1)) {
      dir = path.join(dir, part);
      const stat = fs.lstatSync(dir, { throwIfNoEntry: false });
      if (!stat) fs.mkdirSync(dir, { mode: 0o700 });
      else if (!stat.isDirectory()) throw new SwarmError('STATE_DB_INVALID', `the node's home holds ${parts.slice(0, -1).join('/')} as something that is not a directory`);
    }
    const target = path.join(homeDir, ...parts);
    const stat = fs.lstatSync(target, { throwIfNoEntry: false });
    if (stat && !stat.isFile()) throw new SwarmError('STATE_DB_INVALID', `the node's home holds ${file.path} as something that is not a file`);
    fs.rmSync(target, { force: true });
    fs.writeFileSync(target, file.content, { mode: 0o600, flag: 'wx' });
  }
}
