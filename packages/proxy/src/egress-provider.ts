/**
 * core's EgressProvider for local runs: per run, a ticket minted from the run's net_cap, an
 * in-process broker on a Unix socket, a decision log in `<runDir>/egress.log`, and the step's
 * bubblewrap sandbox whose only way out is that broker.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  SwarmError,
  systemClock,
  unixSeconds,
  type Clock,
  type EgressProvider,
  type EgressRequest,
  type EgressSession,
  type EgressSummary,
  type SandboxedCommand,
  type SandboxKind,
} from '@swarm/core';
import { normalizeAllowlist } from './allowlist.js';
import { createBroker, type BrokerTimeouts } from './broker/broker.js';
import { DecisionLog, summarizeEgressLog } from './decision-log.js';
import { connectProvider, type Provider } from './provider/provider.js';
import { bwrapArgv, INFO_FD, PUBLISH_FD, REPORT_FD } from './sandbox/bwrap.js';
import { listenPublished, type Published } from './sandbox/publish.js';
import { attachBwrapControl } from './sandbox/control.js';
import { locateSandbox, shortTempDir, type SandboxProbe } from './sandbox/probe.js';
import type { SandboxTools } from './sandbox/tools.js';
import { mintTicket } from './ticket.js';
import './errors.js';

export const EGRESS_LOG_FILE = 'egress.log';
const CLOSE_GRACE_MS = 1_000;

export interface EgressProviderOptions {
  /**
   * `auto` (default): always sandbox the step; a request that allows unsandboxed egress gets the
   * host's network inside an otherwise full sandbox, or no sandbox where none can be made.
   * `require`: the full sandbox, network included, or refuse. `off`: never sandbox, so only
   * requests that allow unsandboxed egress can open.
   */
  sandbox?: 'auto' | 'require' | 'off';
  /** The key tickets are MACed with; by default a fresh random key per provider. */
  brokerKey?: Uint8Array;
  /** The clock for ticket times and expiry checks (wall time by default, never SOURCE_DATE_EPOCH). */
  clock?: Clock;
  timeouts?: Partial<BrokerTimeouts>;
  /** An HTTP proxy the broker's own outbound connections go through (see resolveUpstreamProxy). */
  upstreamProxy?: string;
  /** Where to look for bwrap (PATH, SWARM_BWRAP); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  onDiagnostic?: (line: string) => void;
}

/** The proxy variables a step gets; NO_PROXY is empty so nothing bypasses the broker. */
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'] as const;

export function createEgressProvider(options: EgressProviderOptions = {}): EgressProvider {
  const brokerKey = options.brokerKey ?? crypto.randomBytes(32);
  const clock = options.clock ?? systemClock;
  let located: SandboxProbe | undefined;
  const sandboxTools = (): SandboxProbe => (located ??= locateSandbox(options.env ?? process.env));

  return {
    async open(request: EgressRequest): Promise<EgressSession> {
      const allowlist = normalizeAllowlist(request.allowlist);
      const now = unixSeconds(clock);
      if (!Number.isInteger(request.expiresAtUnix) || request.expiresAtUnix <= now) {
        throw new SwarmError('TICKET_EXPIRED', 'the egress ticket would already be expired (expiresAtUnix is not in the future)', {
          details: { expires_at_unix: request.expiresAtUnix, now_unix: now },
        });
      }
      const choice = chooseSandbox(options.sandbox ?? 'auto', request.unsandboxed, sandboxTools);
      const tools = choice.tools;
      const fenced = choice.kind === 'bwrap';
      const ticket = mintTicket({
        netCapChainKey: request.netCapChainKey,
        runId: request.runId,
        allowlist,
        routeMode: request.routeMode,
        issuedAtUnix: now,
        expiresAtUnix: request.expiresAtUnix,
        brokerKey,
      });

      const tempDir = fs.mkdtempSync(path.join(shortTempDir(), `swarm-egress-${process.pid}-`));
      const socketPath = path.join(tempDir, 'broker.sock');
      const log = new DecisionLog(path.join(request.runDir, EGRESS_LOG_FILE));
      const broker = createBroker({
        brokerKey,
        clock,
        timeouts: options.timeouts,
        upstreamProxy: options.upstreamProxy,
        onDecision: log.write,
        onDiagnostic: options.onDiagnostic,
      });
      let provider: Provider | undefined;
      // A process that exits without close() still leaves no socket directory behind.
      const removeTempDir = (): void => fs.rmSync(tempDir, { recursive: true, force: true });
      process.once('exit', removeTempDir);
      let published: Published | undefined;
      const teardown = async (): Promise<void> => {
        try {
          await published?.close();
          // The step has ended; let its last requests finish (and be logged) before cutting them.
          await broker.close({ graceMs: CLOSE_GRACE_MS });
          await provider?.close();
          await log.close();
        } finally {
          process.removeListener('exit', removeTempDir);
          removeTempDir();
        }
      };
      let port: number;
      try {
        await broker.listen({ path: socketPath });
        broker.admit(ticket);
        if (fenced) {
          // Inside its own network namespace, so any port is free but the step's published ones.
          const taken = new Set((request.publish ?? []).map((p) => p.port));
          do port = crypto.randomInt(20_000, 60_000);
          while (taken.has(port));
        } else {
          const address = await broker.listen({ host: '127.0.0.1', port: 0 });
          port = address.kind === 'tcp' ? address.port : 0;
        }
        published = await listenPublished(request.publish ?? [], fenced);
        if (request.routeMode === 'client_exit') {
          // A local run's exit is this machine: an in-process provider supplies it.
          provider = await connectProvider({ broker: { path: socketPath }, ticket, clock, onDiagnostic: options.onDiagnostic });
        }
      } catch (error) {
        await teardown();
        throw error;
      }

      const proxyUrl = `http://${ticket.session_id}:${ticket.secret}@127.0.0.1:${port}`;
      const env: Record<string, string> = { NO_PROXY: '', no_proxy: '' };
      for (const name of PROXY_VARIABLES) env[name] = proxyUrl;
      const authorization = Buffer.from(`${ticket.session_id}:${ticket.secret}`).toString('base64');
      const sandbox: SandboxKind = choice.kind;
      let summary: Promise<EgressSummary> | undefined;

      return {
        sandbox,
        env,
        secrets: [ticket.secret, authorization, proxyUrl],
        published: published?.ports ?? [],
        wrap(argv: string[]): SandboxedCommand {
          if (argv.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'the step command is empty');
          if (!tools) return { argv: [...argv], controlPipes: 0 };
          const bridge = fenced ? { socketPath, port } : null;
          const relayed = fenced && published && published.ports.length > 0 ? published : undefined;
          return {
            argv: bwrapArgv({ tools, layout: request.layout, bridge, publish: relayed?.ports.map((p) => p.port) }, argv),
            controlPipes: Math.max(INFO_FD, REPORT_FD) - 2,
            attach: (pipes) => attachBwrapControl(pipes),
            ...(relayed ? { ipcFd: PUBLISH_FD, onSpawn: (child) => relayed.attach(child) } : {}),
          };
        },
        close(): Promise<EgressSummary> {
          summary ??= teardown().then(() => summarizeEgressLog(log.file));
          return summary;
        },
      };
    },
  };
}

/** Which sandbox a request gets; never a weaker one than it asked for while a stronger one exists. */
function chooseSandbox(
  mode: 'auto' | 'require' | 'off',
  unsandboxedAllowed: boolean,
  locate: () => SandboxProbe,
): { kind: SandboxKind; tools: SandboxTools | null } {
  if (mode === 'off') {
    if (unsandboxedAllowed) return { kind: 'unsandboxed', tools: null };
    throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', 'the step sandbox is turned off (egress.sandbox = off) and unsandboxed egress was not allowed', {
      hint: 'set egress.sandbox to auto, or pass --unsandboxed-egress to run with no sandbox (recorded in the policy and certificate)',
    });
  }
  const found = locate();
  if (found.ok && found.tools) return { kind: unsandboxedAllowed && mode !== 'require' ? 'bwrap-open-network' : 'bwrap', tools: found.tools };
  if (unsandboxedAllowed && mode !== 'require') return { kind: 'unsandboxed', tools: null };
  throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', `no step sandbox can be made here: ${found.detail}`, {
    details: { detail: found.detail },
    hint: found.hint ?? 'pass --unsandboxed-egress to run with no sandbox (recorded in the policy and certificate)',
  });
}
