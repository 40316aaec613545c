import express from 'express';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { StreamHub } from './stream';
import { waitFor } from '../test/helpers';

/**
 * A stream whose client stops reading is closed once it has more than maxBufferedBytes waiting,
 * while a client that reads keeps its stream. Real HTTP on loopback; no other service.
 */
describe('StreamHub', () => {
  it('drops a client that does not read, keeps one that does', async () => {
    const payload = 'x'.repeat(64 * 1024);
    const hub = new StreamHub(async () => ({ payload }), {
      intervalMs: 10,
      maxStreams: 10,
      maxPerClient: 10,
      timeoutMs: 1000,
      maxBufferedBytes: 256 * 1024,
    });
    const app = express();
    app.get('/s', (req, res) => {
      res.set({ 'content-type': 'text/event-stream' });
      res.flushHeaders();
      hub.subscribe(res, req.socket.remoteAddress ?? '?');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    const connect = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.write('GET /s HTTP/1.1\r\nHost: x\r\n\r\n');
      return socket;
    };
    const stalled = connect();
    stalled.pause(); // never reads: the kernel's buffers fill, then the server's
    let read = 0;
    const reader = connect();
    reader.on('data', (d: Buffer) => {
      read += d.length;
    });
    try {
      await waitFor(() => (hub.dropped === 1 ? true : undefined), 'the stalled stream to be dropped', 30_000, 20);
      const connections = () =>
        new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
      await waitFor(
        async () => ((await connections()) === 1 ? true : undefined),
        'the server to close the stalled connection',
        10_000,
        20,
      );
      const before = read;
      await waitFor(
        () => (read > before + 4 * payload.length ? true : undefined),
        'the reading client to keep getting figures',
        10_000,
        20,
      );
      expect(hub.size).toBe(1);
      expect(hub.dropped).toBe(1);
    } finally {
      stalled.destroy();
      reader.destroy();
      hub.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
