import { readFileSync } from 'node:fs';
import net from 'node:net';
import { TributaryError } from '../errors';

export class PortInUseError extends TributaryError {
  constructor(message: string) {
    super('port_in_use', message);
    this.name = 'PortInUseError';
  }
}

/** Resolves when nothing listens on `port` (any interface), rejects naming the port's use otherwise. */
export function assertPortFree(port: number, purpose: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(
              `port ${port} (${purpose}) is already in use: stop what listens there or choose another port`,
            )
          : err,
      );
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

/** The range the OS takes outgoing connections' local ports from (Linux's setting; else IANA's). */
export function ephemeralPortRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low! <= high!) return { low: low!, high: high! };
  } catch {
    // not Linux
  }
  return { low: 49152, high: 65535 };
}

const LOWEST_PICKED = 20_000;

/**
 * A base port for `span` consecutive ports, picked at random outside the ephemeral range, for a
 * service that is stopped and started again on the same ports. A port the OS hands out for
 * listening (`freePort`) lies inside that range, so while the service is down the local end of
 * any outgoing connection on the machine may take it, and the restart then fails with "port in
 * use" (a restarted test broker met this in CI). Whether the ports are free is for the caller's
 * bind to find out; undefined when the range leaves no room outside it.
 */
export function portOutsideEphemeralRange(
  span: number,
  range = ephemeralPortRange(),
  random = Math.random,
): number | undefined {
  const spans: Array<[number, number]> = [
    [LOWEST_PICKED, range.low - span],
    [range.high + 1, 65_536 - span],
  ];
  const open = spans.filter(([from, to]) => to > from);
  const room = open.reduce((n, [from, to]) => n + to - from, 0);
  if (room === 0) return undefined;
  let pick = Math.floor(random() * room);
  for (const [from, to] of open) {
    if (pick < to - from) return from + pick;
    pick -= to - from;
  }
  return undefined;
}

/**
 * `span` consecutive ports, free now and outside the ephemeral range where there is room (see
 * `portOutsideEphemeralRange`): for a service a test stops and starts again on the same ports.
 * Returns the first.
 */
export async function freeRestartablePorts(span = 1): Promise<number> {
  const allFree = async (base: number) => {
    for (let i = 0; i < span; i++) {
      if (
        !(await assertPortFree(base + i, 'probe').then(
          () => true,
          () => false,
        ))
      )
        return false;
    }
    return true;
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = portOutsideEphemeralRange(span) ?? (await freePort());
    if (base + span <= 65_536 && (await allFree(base))) return base;
  }
  throw new TributaryError('port_in_use', `found no ${span} consecutive free ports`);
}
