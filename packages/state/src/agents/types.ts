/**
 * What swarm knows about one agent CLI (Claude Code, Codex, Gemini CLI): how to run it without a
 * terminal and resume a conversation by id, where its endpoint and keys come from, which of its
 * home files must never be sealed, and how to read the transcripts it writes.
 */

export type AgentName = 'claude' | 'codex' | 'gemini';

export interface AgentInvocation {
  /** Absolute path of the CLI, found on the caller's PATH. */
  bin: string;
  prompt: string;
  /** The parent node's provider session id to continue, or null for a new conversation. */
  resumeSessionId: string | null;
  /** Extra CLI arguments the operator gave after `--`, passed last and verbatim. */
  extraArgs: string[];
  /** Where the step sees its workspace and its HOME inside the sandbox. */
  workspace: string;
  home: string;
  /** The environment the operator granted the step (keys, base-URL overrides). */
  env: Readonly<Record<string, string>>;
  /** With a terminal (a pty) for a person, instead of the non-interactive, streaming mode. */
  interactive: boolean;
  /** Whether swarm's sandbox fences the step (false: it runs on the host as it is). */
  sandboxed?: boolean;
}

export interface AgentCommand {
  /** Run directly (no shell); argv[0] is `bin`. */
  argv: string[];
  /** More environment for the step, never secret (say, switching off telemetry). */
  env: Record<string, string>;
  /** Files written under the step's HOME before it starts (path relative to HOME), e.g. a provider config. */
  homeFiles: Array<{ path: string; content: string }>;
}

export interface AgentEndpoint {
  /** The base URL the CLI will use: the override variable's value, else the provider default. */
  baseUrl: string;
  /** The allowlist entry that lets the step reach it (`host` or `host:port`, as `--allow-host` takes). */
  allowHost: string;
}

/** One line (JSONL) or one record (a JSON document's message) of a transcript file. */
export interface TranscriptRecord {
  /** Byte offset of the line in the file (JSONL), or the record's index (a JSON document). */
  offset: number;
  /** The line or the record's JSON, verbatim (without the newline). */
  raw: string;
  event: ParsedEvent;
}

export interface ParsedEvent {
  /** Whether the parser recognised the shape; unknown shapes are kept raw and counted. */
  known: boolean;
  /** user | assistant | system | tool | null */
  role: string | null;
  /** The provider's event type (e.g. `assistant`, `response_item`, `gemini`), or `unknown`. */
  type: string;
  /** Tool name for tool calls and results. */
  tool: string | null;
  /** Readable text of the event (prompt, reply, tool input/output summary), or null. */
  text: string | null;
  /** Tokens this event adds (already de-cumulated where the provider reports running totals). */
  tokensIn: number | null;
  tokensOut: number | null;
  /** ISO time of the event as the transcript says, or null. */
  at: string | null;
  /** A key that marks the same logical event seen twice (e.g. Claude's message id + request id), or null. */
  dedupeKey: string | null;
}

export interface TranscriptSession {
  sessionId: string;
  model: string | null;
  /** The working directory the CLI recorded. */
  cwd: string | null;
  startedAt: string | null;
  endedAt: string | null;
}

export interface ParsedTranscript {
  /** Null when the file names no session (then it is not ingested). */
  session: TranscriptSession | null;
  records: TranscriptRecord[];
  /** Records whose shape the parser did not know (kept raw, counted). */
  unknown: number;
  /** A truncated last line (no newline, not JSON) is left for the next run, not ingested. */
  truncatedTail: boolean;
}

export interface AgentAdapter {
  name: AgentName;
  /** The npm package that provides the CLI (for hints). */
  packageName: string;
  /** The command name looked up on PATH. */
  binName: string;
  /** The variable the CLI reads its base URL from, and the provider's default. */
  baseUrlEnv: string;
  defaultBaseUrl: string;
  /** Variables that usually carry the API key (for hints: grant one with --secret). */
  apiKeyEnv: string[];
  command(invocation: AgentInvocation): AgentCommand;
  endpoint(env: Readonly<Record<string, string>>): AgentEndpoint;
  /**
   * Paths under HOME that are never sealed (credentials, environment dumps): a path relative to
   * HOME, ending in `/` for a whole directory. Documented in docs/agents.md.
   */
  excludedHomePaths: string[];
  /** Transcript files the CLI keeps under `homeDir` (host paths), in a stable order. */
  transcriptFiles(homeDir: string): string[];
  parseTranscript(content: Buffer, sourcePath: string): ParsedTranscript;
  /** One line of the CLI's stdout in its streaming mode as a readable line for a terminal, or null to show nothing. */
  renderLine(line: string): string | null;
}
