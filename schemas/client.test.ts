import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../platform/logger';
import { SchemaClient } from './client';

describe('SchemaClient against a registry that never answers', () => {
  it('gives up on a request after its timeout with a retriable error, instead of hanging the stage', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
    }); // accepts, reads nothing, answers nothing
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const err = await new SchemaClient(url, silentLogger, undefined, 300)
        .typeOf(7)
        .catch((e: Error & { retriable?: boolean }) => e);
      expect((err as Error).message).toMatch(new RegExp(`^schema registry ${url}: get schema 7 failed: .*[Tt]imeout`));
      expect((err as { retriable?: boolean }).retriable).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
