import path from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class ProxyProviderCommand extends BaseCommand {
  static override paths = [['proxy', 'provider']];

  static override usage = Command.Usage({
    category: 'Egress',
    description: 'Supply the exit for a client_exit session from this machine',
    details: `
      Connects out to a broker, registers for the session of the given ticket (minted with
      \`--route-mode client_exit\` and written with \`swarm proxy ticket --out\`), and opens the
      tunnels the broker asks for from this machine, one outbound connection per tunnel. The
      provider applies the ticket's allowlist itself as well, so a broker cannot make it reach a
      host the ticket does not allow.

      Runs until SIGINT or SIGTERM; exits 4 (\`PROVIDER_DISCONNECTED\`) when the broker goes away
      and 6 (\`PROVIDER_REJECTED\`) when the broker refuses the ticket.
    `,
    examples: [
      ['Provide the exit for a remote broker', '$0 proxy provider --broker broker.example.net:8118 --ticket r1.ticket'],
      ['Provide the exit over a local Unix socket', '$0 proxy provider --broker /tmp/swarm-broker.sock --ticket r1.ticket'],
    ],
  });

  broker = Option.String('--broker', { required: true, description: 'The broker: host:port or a Unix socket path' });
  ticket = Option.String('--ticket', { required: true, description: 'Ticket file with its secret (from swarm proxy ticket --out)' });

  async run(): Promise<number> {
    const { serveProvider } = await import('@swarm/proxy');
    const broker = this.broker.includes('/') ? path.resolve(this.cwd, this.broker) : this.broker;
    const result = await serveProvider({
      broker,
      ticketFile: path.resolve(this.cwd, this.ticket),
      onDiagnostic: (line) => this.output.info(line),
    });
    this.output.ok(
      `provider stopped after ${result.tunnels_opened} tunnel(s) (${result.tunnels_failed} failed)`,
      result,
    );
    return 0;
  }
}
