/**
 * The seam between the run engine (`state`) and the egress proxy (`proxy`): the engine asks an
 * EgressProvider for a session before it starts the step, and closes it afterwards. The CLI wires
 * the proxy's implementation in, so `state` and `proxy` never import each other.
 */

export type RouteMode = 'direct' | 'client_exit';
export type SandboxKind = 'netns' | 'unsandboxed';

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
  /** When true, run without a network sandbox (recorded in policy and certificate). */
  unsandboxed: boolean;
  /**
   * Directories the step must not see (the operator's keys). Inside the sandbox each is covered
   * by an empty, unreadable tmpfs; if that cannot be done the step does not start.
   */
  hidePaths?: string[];
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
  wrap(argv: string[]): string[];
  close(): Promise<EgressSummary>;
}

export interface EgressProvider {
  open(request: EgressRequest): Promise<EgressSession>;
}
