import net from 'node:net';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

/** Resolves when nothing listens on `port` (any interface), rejects naming the port's use otherwise. */
export function assertPortFree(port: number, purpose: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE'
        ? new PortInUseError(`port ${port} (${purpose}) is already in use: stop what listens there or choose another port`)
        : err);
    });
    server.listen({ port, exclusive: true }, () => server.close(() => resolve()));
  });
}

/** A port the OS says is free right now, for tests. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
