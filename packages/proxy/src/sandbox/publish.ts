/**
 * Published ports (`--publish <host-port>:<port>`): a server the step starts on 127.0.0.1:<port>
 * inside its network namespace, reached from the host's 127.0.0.1:<host-port>.
 *
 * swarm accepts each connection on the host and hands the socket itself to swarm-init over Node's
 * IPC channel (the descriptor travels in SCM_RIGHTS); swarm-init connects to 127.0.0.1:<port>
 * inside and relays. No path is involved that the step could swap for another socket, and
 * swarm-init relays only to the ports it was started with. Without a network namespace (no
 * sandbox, or an open network) the step's server is on the host's loopback already: the port is
 * reachable as it is, and asking for another host port is refused.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { SwarmError, type PublishedPort } from '@swarm/core';

export interface Published {
  ports: PublishedPort[];
  /** Starts handing connections to the sandbox's first process. */
  attach(child: ChildProcess): void;
  close(): Promise<void>;
}

export async function listenPublished(requested: PublishedPort[], fenced: boolean): Promise<Published> {
  if (!fenced) {
    for (const p of requested) {
      if (p.hostPort !== 0 && p.hostPort !== p.port) {
        throw new SwarmError('INVALID_ARGUMENT', `--publish ${p.hostPort}:${p.port} needs the network sandbox (without it the step's port ${p.port} is on this machine's loopback as it is)`);
      }
    }
    return { ports: requested.map((p) => ({ port: p.port, hostPort: p.port })), attach: () => undefined, close: async () => undefined };
  }
  const servers: net.Server[] = [];
  const ports: PublishedPort[] = [];
  let child: ChildProcess | undefined;
  const waiting: Array<{ socket: net.Socket; port: number }> = [];
  // Every socket handed over until the run ends: one still waiting for swarm-init's answer when the
  // sandbox goes is destroyed here (Node would keep it open).
  const handed = new Set<net.Socket>();
  const hand = (socket: net.Socket, port: number) => {
    if (!child?.connected) {
      waiting.push({ socket, port });
      return;
    }
    handed.add(socket);
    socket.once('close', () => handed.delete(socket));
    try {
      child.send({ swarm_publish: port }, socket, (error) => {
        if (error) socket.destroy();
      });
    } catch {
      socket.destroy();
    }
  };
  try {
    for (const p of requested) {
      const server = net.createServer({ pauseOnConnect: true }, (socket) => hand(socket, p.port));
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          reject(error.code === 'EADDRINUSE' ? new SwarmError('INVALID_ARGUMENT', `--publish: port ${p.hostPort} is in use on 127.0.0.1`) : error),
        );
        server.listen(p.hostPort, '127.0.0.1', () => resolve());
      });
      // An accept that fails (EMFILE under a flood) costs that connection, not the run.
      server.on('error', () => undefined);
      servers.push(server);
      ports.push({ port: p.port, hostPort: (server.address() as net.AddressInfo).port });
    }
  } catch (error) {
    for (const s of servers) s.close();
    throw error;
  }
  return {
    ports,
    attach(spawned: ChildProcess) {
      child = spawned;
      // The channel must not keep swarm alive, nor fail it when the sandbox ends.
      spawned.channel?.unref();
      spawned.on('error', () => undefined);
      spawned.once('exit', () => {
        for (const s of handed) s.destroy();
        handed.clear();
      });
      for (const w of waiting.splice(0)) hand(w.socket, w.port);
    },
    async close() {
      for (const w of waiting.splice(0)) w.socket.destroy();
      for (const s of handed) s.destroy();
      handed.clear();
      // Not waited for: a server counts the sockets it handed over as its own connections, and
      // would wait for them forever. Closed, it accepts nothing more.
      for (const s of servers) {
        s.close();
        s.unref();
      }
    },
  };
}
