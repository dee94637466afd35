/**
 * The seam between the run engine (`state`) and the egress proxy (`proxy`): the engine asks an
 * EgressProvider for a session before it starts the step, and closes it afterwards. The CLI wires
 * the proxy's implementation in, so `state` and `proxy` never import each other.
 */

export type RouteMode = 'direct' | 'client_exit';
/**
 * How a step was fenced: `bwrap` (its own user, PID, mount, network, IPC and UTS namespaces,
 * read-only host, only the broker as a way out); `bwrap-open-network` (the same, but the host's
 * network, by explicit `--unsandboxed-egress`); `unsandboxed` (no sandbox could be made and the
 * operator allowed it). `netns` is what earlier versions recorded (network namespace only).
 */
export type SandboxKind = 'bwrap' | 'bwrap-open-network' | 'unsandboxed' | 'netns';

/** What of the host a step sees. Every path is absolute; the step sees each at the same path. */
export interface SandboxLayout {
  /** Directories the step may write: its workspace, its state DB's directory, its home. */
  writable: string[];
  /** Files the step may read although they lie in a hidden directory (its prompt, its script). */
  readable: string[];
  /** Directories the step must not see at all (the operator's SWARM_HOME, project stores). */
  hidden: string[];
  /**
   * Host paths the step sees at another path (its workspace at the chain's mount path, its state
   * DB and home at fixed places). A hidden directory inside a bind's target is covered by the bind.
   */
  binds?: Array<{ source: string; target: string; writable: boolean }>;
  /** The step's working directory (one of `writable`, or a bind's target). */
  cwd: string;
}

export interface EgressRequest {
  runId: string;
  /** The run directory; the provider writes `egress.log` here. */
  runDir: string;
  allowlist: string[];
  routeMode: RouteMode;
  /** Raw net_cap chain key (hex) of this run, used to mint the ticket; never logged. */
  netCapChainKey: string;
  /** Ticket expiry (Unix seconds). */
  expiresAtUnix: number;
  /**
   * When true, the step may use the host's network (recorded in policy and certificate). Where a
   * sandbox can be made, the step is still fenced in every other way.
   */
  unsandboxed: boolean;
  /** What of the host the step sees; if the sandbox cannot enforce it, the step does not start. */
  layout: SandboxLayout;
  /** Ports of the step to reach from the host's loopback (`--publish`); hostPort 0: a free one. */
  publish?: PublishedPort[];
}

export interface PublishedPort {
  /** The port the step listens on, on 127.0.0.1 inside its sandbox. */
  port: number;
  /** The port on the host's 127.0.0.1 that reaches it (0 in a request: any free one). */
  hostPort: number;
}

export interface EgressSummary {
  requests: number;
  allowed: number;
  denied: number;
  bytes_in: number;
  bytes_out: number;
  hosts: string[];
}

export interface EgressSession {
  sandbox: SandboxKind;
  /** Environment for the step (proxy variables); values may hold the ticket secret and are redacted from logs. */
  env: Record<string, string>;
  /** Secrets the log redactor must hide (ticket secret, Proxy-Authorization values). */
  secrets: string[];
  /** Wraps the step's argv so it runs inside the sandbox. */
  wrap(argv: string[]): SandboxedCommand;
  /** The published ports, with the host ports they got. */
  published?: PublishedPort[];
  close(): Promise<EgressSummary>;
}

export interface EgressProvider {
  open(request: EgressRequest): Promise<EgressSession>;
}

/** A step command line wrapped in its sandbox, and how the engine watches and stops it. */
export interface SandboxedCommand {
  argv: string[];
  /** Extra pipes (file descriptors 3, 4, …) the sandbox reports on; 0 when unsandboxed. */
  controlPipes: number;
  /** Called once with the spawned process's control pipes (in fd order) and its pid. */
  attach?(pipes: NodeJS.ReadableStream[], pid: number): SandboxControl;
  /** A Node IPC channel at this descriptor (after the control pipes): published connections go over it. */
  ipcFd?: number;
  /** Called once with the spawned process when it has an IPC channel. */
  onSpawn?(child: import('node:child_process').ChildProcess): void;
}

export interface SandboxControl {
  /** Resolves true once the step itself is starting, false if the sandbox failed before it. */
  readonly started: Promise<boolean>;
  /**
   * How the step's main process ended, as the sandbox saw it, given the wrapper's own exit code;
   * null when the sandbox did not say, or said something the wrapper's status contradicts.
   */
  ended(wrapperExitCode: number | null): Promise<{ exitCode: number | null; signal: NodeJS.Signals | null } | null>;
  /** Passes a signal to the step (a graceful stop). */
  signal(signal: NodeJS.Signals): void;
  /** Ends every process of the sandbox at once. */
  kill(): void;
  /** Resolves when no process of the sandbox is left (call after the wrapper exited). */
  gone(): Promise<void>;
  /** The coded error for a sandbox that could not be set up, from what it printed. */
  setupError(output: string): Error;
}
