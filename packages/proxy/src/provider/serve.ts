/** `swarm proxy provider`: supply the exit for a client_exit session until stopped. */
import { readTicketFile } from '../ticket.js';
import { waitForStop } from '../stop-signal.js';
import { connectProvider, parseBrokerTarget } from './provider.js';

export interface ServeProviderOptions {
  /** `host:port`, `[v6]:port`, or a Unix socket path. */
  broker: string;
  /** A ticket file written by `swarm proxy ticket --out` (it holds the secret). */
  ticketFile: string;
  connectTimeoutMs?: number;
  onDiagnostic: (line: string) => void;
  /** Stops the provider; without it, SIGINT/SIGTERM do. */
  signal?: AbortSignal;
}

export interface ServeProviderResult {
  session_id: string;
  run_id: string;
  tunnels_opened: number;
  tunnels_failed: number;
}

/** Runs until stopped; throws PROVIDER_DISCONNECTED when the broker goes away first. */
export async function serveProvider(options: ServeProviderOptions): Promise<ServeProviderResult> {
  const ticket = readTicketFile(options.ticketFile);
  const provider = await connectProvider({
    broker: parseBrokerTarget(options.broker),
    ticket,
    connectTimeoutMs: options.connectTimeoutMs,
    onDiagnostic: options.onDiagnostic,
  });
  let lost: Error | null = null;
  await waitForStop(
    options.signal,
    provider.closed.then((error) => {
      lost = error;
    }),
  );
  if (lost) throw lost;
  await provider.close();
  const stats = provider.stats();
  return { session_id: provider.sessionId, run_id: provider.runId, tunnels_opened: stats.opened, tunnels_failed: stats.failed };
}
