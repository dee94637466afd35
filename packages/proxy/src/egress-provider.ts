/**
 * core's EgressProvider for local runs: per run, a ticket minted from the run's net_cap, an
 * in-process broker on a Unix socket, a decision log in `<runDir>/egress.log`, and a command
 * prefix that runs the step in a network namespace whose only way out is that broker.
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
  type SandboxKind,
} from '@swarm/core';
import { normalizeAllowlist } from './allowlist.js';
import { createBroker, type BrokerTimeouts } from './broker/broker.js';
import { DecisionLog, summarizeEgressLog } from './decision-log.js';
import { connectProvider, type Provider } from './provider/provider.js';
import { quickProbeSandbox, shortTempDir, type SandboxProbe } from './sandbox/probe.js';
import { sandboxArgv, type SandboxTools } from './sandbox/tools.js';
import { mintTicket } from './ticket.js';
import './errors.js';

export const EGRESS_LOG_FILE = 'egress.log';
const CLOSE_GRACE_MS = 1_000;

export interface EgressProviderOptions {
  /**
   * `auto` (default): sandbox when possible; without one, refuse unless the request allows
   * unsandboxed egress. `require`: always sandbox, or refuse. `off`: never sandbox, so only
   * requests that allow unsandboxed egress can open.
   */
  sandbox?: 'auto' | 'require' | 'off';
  /** The key tickets are MACed with; by default a fresh random key per provider. */
  brokerKey?: Uint8Array;
  /** The clock for ticket times and expiry checks (wall time by default, never SOURCE_DATE_EPOCH). */
  clock?: Clock;
  timeouts?: Partial<BrokerTimeouts>;
  /** Where to look for unshare and ip (PATH); defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  onDiagnostic?: (line: string) => void;
}

/** The proxy variables a step gets; NO_PROXY is empty so nothing bypasses the broker. */
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'] as const;

export function createEgressProvider(options: EgressProviderOptions = {}): EgressProvider {
  const brokerKey = options.brokerKey ?? crypto.randomBytes(32);
  const clock = options.clock ?? systemClock;
  let probe: Promise<SandboxProbe & { tools?: SandboxTools }> | undefined;
  const sandboxProbe = (): Promise<SandboxProbe & { tools?: SandboxTools }> => {
    probe ??= quickProbeSandbox(options.env ?? process.env);
    return probe;
  };

  return {
    async open(request: EgressRequest): Promise<EgressSession> {
      const allowlist = normalizeAllowlist(request.allowlist);
      const now = unixSeconds(clock);
      if (!Number.isInteger(request.expiresAtUnix) || request.expiresAtUnix <= now) {
        throw new SwarmError('TICKET_EXPIRED', 'the egress ticket would already be expired (expiresAtUnix is not in the future)', {
          details: { expires_at_unix: request.expiresAtUnix, now_unix: now },
        });
      }
      const tools = await chooseSandbox(options.sandbox ?? 'auto', request.unsandboxed, sandboxProbe);
      const ticket = mintTicket({
        netCapChainKey: request.netCapChainKey,
        runId: request.runId,
        allowlist,
        routeMode: request.routeMode,
        issuedAtUnix: now,
        expiresAtUnix: request.expiresAtUnix,
        brokerKey,
      });

      const tempDir = fs.mkdtempSync(path.join(shortTempDir(), 'swarm-egress-'));
      const socketPath = path.join(tempDir, 'broker.sock');
      const log = new DecisionLog(path.join(request.runDir, EGRESS_LOG_FILE));
      const broker = createBroker({
        brokerKey,
        clock,
        timeouts: options.timeouts,
        onDecision: log.write,
        onDiagnostic: options.onDiagnostic,
      });
      let provider: Provider | undefined;
      // A process that exits without close() still leaves no socket directory behind.
      const removeTempDir = (): void => fs.rmSync(tempDir, { recursive: true, force: true });
      process.once('exit', removeTempDir);
      const teardown = async (): Promise<void> => {
        try {
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
        if (tools) {
          port = crypto.randomInt(20_000, 60_000);
        } else {
          const address = await broker.listen({ host: '127.0.0.1', port: 0 });
          port = address.kind === 'tcp' ? address.port : 0;
        }
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
      const sandbox: SandboxKind = tools ? 'netns' : 'unsandboxed';
      let summary: Promise<EgressSummary> | undefined;

      return {
        sandbox,
        env,
        secrets: [ticket.secret, authorization, proxyUrl],
        wrap(argv: string[]): string[] {
          if (argv.length === 0) throw new SwarmError('INVALID_ARGUMENT', 'the step command is empty');
          return tools ? sandboxArgv({ tools, socketPath, port, hidePaths: request.hidePaths }, argv) : [...argv];
        },
        close(): Promise<EgressSummary> {
          summary ??= teardown().then(() => summarizeEgressLog(log.file));
          return summary;
        },
      };
    },
  };
}

async function chooseSandbox(
  mode: 'auto' | 'require' | 'off',
  unsandboxedAllowed: boolean,
  probe: () => Promise<SandboxProbe & { tools?: SandboxTools }>,
): Promise<SandboxTools | null> {
  if (mode !== 'require' && unsandboxedAllowed) return null;
  if (mode === 'off') {
    throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', 'the egress sandbox is turned off and unsandboxed egress was not allowed', {
      hint: 'pass --unsandboxed-egress to run without a network sandbox (recorded in the policy and certificate)',
    });
  }
  const result = await probe();
  if (result.ok && result.tools) return result.tools;
  throw new SwarmError('NET_CAP_SANDBOX_UNAVAILABLE', `no egress sandbox can be made here: ${result.detail}`, {
    details: { detail: result.detail },
    hint: result.hint ? `${result.hint}; or pass --unsandboxed-egress` : 'pass --unsandboxed-egress to run without a network sandbox',
  });
}
