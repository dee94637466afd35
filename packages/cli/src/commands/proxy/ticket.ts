import path from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class ProxyTicketCommand extends BaseCommand {
  static override paths = [['proxy', 'ticket']];

  static override usage = Command.Usage({
    category: 'Egress',
    description: 'Mint a proxy ticket for a run from its net_cap',
    details: `
      Reads the run's net_cap token from standard input or the \`SWARM_NET_CAP\` environment
      variable (never from the command line, where other users could read it), and mints a ticket
      for the broker: a session id derived from the net_cap and the run id, the allowlist, the
      route mode and an expiry, MACed with the broker key (\`--key-file\`, by default
      \`$SWARM_HOME/keys/broker.key\`, created on first use).

      The ticket is printed with its secret left out unless \`--reveal\` is given; \`--out\` writes
      it with the secret to a file readable only by you, for \`swarm proxy provider\` or a client.
      Clients authenticate with \`Proxy-Authorization: Basic base64(user:secret)\`, where \`user\`
      is the session id (for a broker started with \`--ticket\`) or the printed \`proxy_user\`
      (which carries the whole ticket, for any broker with the same key).

      Allowlist entries: \`host\`, \`*.suffix\` (names below the suffix, not the suffix itself) or
      an IP literal, each with an optional \`:port\`. No entries means no egress at all.
    `,
    examples: [
      ['Mint a ticket for run r1 allowing one host', '$0 proxy ticket --run-id r1 --allow-host api.example.com:443 < net_cap.token'],
      ['Write a client_exit ticket for a provider', 'SWARM_NET_CAP=$(cat net_cap.token) $0 proxy ticket --run-id r1 --allow-host "*.example.com" --route-mode client_exit --out r1.ticket'],
    ],
  });

  runId = Option.String('--run-id', { required: true, description: 'The run the ticket is for' });
  allowHost = Option.Array('--allow-host', [], { description: 'Allow egress to this host, *.suffix or IP (optional :port); repeatable' });
  ttl = Option.String('--ttl', '3600', { description: 'Seconds until the ticket expires (default 3600)' });
  routeMode = Option.String('--route-mode', 'direct', { description: 'direct (the broker connects out) or client_exit (a provider does)' });
  keyFile = Option.String('--key-file', { description: 'Broker key file (default $SWARM_HOME/keys/broker.key)' });
  out = Option.String('--out', { description: 'Write the ticket with its secret to this file (mode 0600)' });
  reveal = Option.Boolean('--reveal', false, { description: 'Print the secret too' });

  async run(): Promise<number> {
    const { mintTicketFromNetCap } = await import('@swarm/proxy');
    const ttl = /^[0-9]+$/.test(this.ttl.trim()) ? Number(this.ttl) : Number.NaN;
    const result = await mintTicketFromNetCap({
      runId: this.runId,
      allowHosts: this.allowHost,
      ttlSeconds: ttl,
      routeMode: this.routeMode,
      keyFile: this.keyFile === undefined ? undefined : path.resolve(this.cwd, this.keyFile),
      out: this.out === undefined ? undefined : path.resolve(this.cwd, this.out),
      reveal: this.reveal,
      env: this.env,
      stdin: this.context.stdin,
    });
    if (result.out) this.output.info(`ticket with its secret written to ${result.out} (mode 0600)`);
    this.output.ok(
      `minted ticket for run ${result.ticket.run_id} (session ${result.ticket.session_id})`,
      result,
      JSON.stringify(result.ticket, null, 2),
    );
    return 0;
  }
}
