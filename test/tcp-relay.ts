import net from 'node:net';

/**
 * A TCP relay to a database port: tests point a service at it, then `cut()` it to take the
 * database away (every connection dropped, new ones refused) and `restore()` to bring it back.
 */
export interface Relay {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number, targetHost = '127.0.0.1'): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const stop = (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    cut: stop,
    restore: () => listen(port),
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

/** A relay to the server of `databaseUrl`, and the same URL through it. */
export async function relayTo(databaseUrl: string): Promise<{ relay: Relay; url: string }> {
  const target = new URL(databaseUrl);
  const relay = await startRelay(Number(target.port || 5432), target.hostname);
  target.port = String(relay.port);
  return { relay, url: target.href };
}
