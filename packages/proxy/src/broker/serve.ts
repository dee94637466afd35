/** `swarm proxy broker`: a long-running broker until SIGINT/SIGTERM. */
import { SwarmError } from '@swarm/core';
import { DecisionLog, type DecisionEntry } from '../decision-log.js';
import { RevocationList } from '../revocation.js';
import { waitForStop } from '../stop-signal.js';
import { defaultBrokerKeyFile, loadOrCreateBrokerKey, readTicketFile } from '../ticket.js';
import { createBroker, formatAddress, type BrokerTimeouts, type ListenTarget } from './broker.js';
import '../errors.js';

export interface ServeBrokerOptions {
  /** TCP addresses, `host:port` (port 0 picks a free one). */
  listen?: string[];
  /** A Unix socket path. */
  socket?: string;
  /** The broker key file (default: $SWARM_HOME/keys/broker.key, created on first use). */
  keyFile?: string;
  /** Ticket files to admit at start (clients may then authenticate with the bare session id). */
  tickets?: string[];
  /** A revocation file (one session id per line), watched while running. */
  revocationFile?: string;
  /** Append decision lines here. */
  logFile?: string;
  timeouts?: Partial<BrokerTimeouts>;
  env: NodeJS.ProcessEnv;
  onDiagnostic: (line: string) => void;
  /** Stops the broker; without it, SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

export interface ServeBrokerResult {
  addresses: string[];
  requests: number;
  allowed: number;
  denied: number;
}

export async function serveBroker(options: ServeBrokerOptions): Promise<ServeBrokerResult> {
  const targets: ListenTarget[] = (options.listen ?? []).map(parseListenAddress);
  if (options.socket) targets.push({ path: options.socket });
  if (targets.length === 0) {
    throw new SwarmError('INVALID_ARGUMENT', 'give --listen host:port and/or --socket path', {
      hint: 'for example: swarm proxy broker --listen 127.0.0.1:8118',
    });
  }
  const brokerKey = loadOrCreateBrokerKey(options.keyFile ?? defaultBrokerKeyFile(options.env));
  const revocations = new RevocationList(options.revocationFile ? { file: options.revocationFile } : {});
  const log = options.logFile ? new DecisionLog(options.logFile) : null;
  const counts = { requests: 0, allowed: 0, denied: 0 };
  const onDecision = (entry: DecisionEntry): void => {
    counts.requests += 1;
    counts[entry.decision] += 1;
    log?.write(entry);
  };
  const broker = createBroker({
    brokerKey,
    revocations,
    timeouts: options.timeouts,
    onDecision,
    onDiagnostic: options.onDiagnostic,
  });
  try {
    for (const file of options.tickets ?? []) {
      const ticket = broker.admit(readTicketFile(file));
      options.onDiagnostic(`admitted ticket for session ${ticket.session_id} (run ${ticket.run_id})`);
    }
    for (const target of targets) await broker.listen(target);
    revocations.watch();
    await waitForStop(options.signal);
    options.onDiagnostic('broker stopping');
  } finally {
    await broker.close();
    revocations.close();
    await log?.close();
  }
  return { addresses: broker.addresses.map(formatAddress), ...counts };
}

export function parseListenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/]+)):([0-9]{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : -1;
  if (!match || port > 65535) {
    throw new SwarmError('INVALID_ARGUMENT', `--listen must be host:port, got ${JSON.stringify(text)}`, {
      hint: 'for example 127.0.0.1:8118 ([::1]:8118 for IPv6; port 0 picks a free port)',
    });
  }
  return { host: match[1] ?? match[2]!, port };
}
