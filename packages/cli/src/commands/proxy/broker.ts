import path from 'node:path';
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../../base-command.js';

export class ProxyBrokerCommand extends BaseCommand {
  static override paths = [['proxy', 'broker']];

  static override usage = Command.Usage({
    category: 'Egress',
    description: 'Run the net_cap egress broker (an HTTP proxy) until stopped',
    details: `
      Serves plain HTTP (absolute-form) requests and \`CONNECT\` tunnels for clients holding a
      ticket minted with the same broker key, and registers \`client_exit\` providers. Every
      request gets an explicit answer: 407 for missing or bad credentials, 403 for a host outside
      the ticket's allowlist or an expired or revoked ticket, 400 for a malformed request, 502/504
      when the destination fails. With \`--log\` one JSON decision line per request is appended.

      Prints the addresses it listens on to stderr and stops cleanly on SIGINT or SIGTERM.
      Sessions listed in the \`--revocations\` file (one session id per line) are refused from
      the moment the line is added.
    `,
    examples: [
      ['Listen on loopback', '$0 proxy broker --listen 127.0.0.1:8118'],
      ['Listen on a Unix socket and log decisions', '$0 proxy broker --socket /tmp/swarm-broker.sock --log egress.log'],
    ],
  });

  listen = Option.Array('--listen', [], { description: 'Listen on host:port (port 0 picks one); repeatable' });
  socket = Option.String('--socket', { description: 'Listen on this Unix socket path' });
  keyFile = Option.String('--key-file', { description: 'Broker key file (default $SWARM_HOME/keys/broker.key)' });
  ticket = Option.Array('--ticket', [], { description: 'Admit this ticket file at start (clients may then use the bare session id); repeatable' });
  revocations = Option.String('--revocations', { description: 'File of revoked session ids, one per line, watched while running' });
  log = Option.String('--log', { description: 'Append one JSON decision line per request to this file' });

  async run(): Promise<number> {
    const { serveBroker } = await import('@swarm/proxy');
    const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(this.cwd, file));
    const result = await serveBroker({
      listen: this.listen,
      socket: resolve(this.socket),
      keyFile: resolve(this.keyFile),
      tickets: this.ticket.map((file) => path.resolve(this.cwd, file)),
      revocationFile: resolve(this.revocations),
      logFile: resolve(this.log),
      env: this.env,
      onDiagnostic: (line) => this.output.info(line),
    });
    this.output.ok(
      `broker stopped after ${result.requests} request(s): ${result.allowed} allowed, ${result.denied} denied`,
      result,
    );
    return 0;
  }
}
