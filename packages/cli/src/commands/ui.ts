import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';

export class UiCommand extends BaseCommand {
  static override paths = [['ui']];

  static override usage = Command.Usage({
    category: 'Runs',
    description: 'Serve a local web UI of this store on 127.0.0.1',
    details: `
      The DAG of the store (live runs appear and change colour as they go), each node's run, step,
      policy, certificate checks, egress decisions, step log, agent sessions and diff against its
      parent, the runs with stop and kill, and a comparison of two nodes. Listens on 127.0.0.1 only,
      on a free port unless --port; open the printed URL: it carries a token made for this server,
      and nothing is served without it. Runs until interrupted.
    `,
    examples: [['Open the UI', '$0 ui'], ['On a fixed port', '$0 ui --port 8090']],
  });

  port = Option.String('--port', { description: 'Port on 127.0.0.1 (default: a free one)' });

  async run(): Promise<number> {
    const { SwarmError } = await import('@swarm/core');
    const port = this.port === undefined ? 0 : Number(this.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SwarmError('INVALID_ARGUMENT', `--port must be 0 to 65535, not ${JSON.stringify(this.port)}`);
    const { startUi } = await import('../ui/server.js');
    const server = await startUi({ cwd: this.cwd, env: this.env, port });
    this.output.ok(`swarm ui on ${server.url}`, { url: server.url, port: server.port }, `swarm ui: open ${server.url}\n(Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    return 0;
  }
}
