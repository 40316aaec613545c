import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { Counter } from 'prom-client';
import { createMetrics } from '../metrics';
import { opsRouter } from './ops';

describe('ops router', () => {
  let server: Server;
  let base: string;
  let kafkaUp = true;

  beforeAll(async () => {
    const registry = createMetrics('test');
    new Counter({ name: 'tributary_test_events_total', help: 'events', registers: [registry] }).inc(3);
    const app = express();
    app.use(
      opsRouter(registry, [
        {
          name: 'kafka',
          check: () => {
            if (!kafkaUp) throw new Error('broker unreachable');
          },
        },
        { name: 'clickhouse', check: async () => undefined },
      ]),
    );
    server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('serves liveness, and readiness that follows its checks', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    kafkaUp = true;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    kafkaUp = false;
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({
      status: 'not ready',
      checks: [
        { name: 'kafka', ok: false, error: 'broker unreachable' },
        { name: 'clickhouse', ok: true },
      ],
    });
  });

  it('fails a check that does not answer in time, naming it, instead of hanging', async () => {
    const app = express();
    app.use(
      opsRouter(
        createMetrics('test'),
        [
          { name: 'kafka', check: () => new Promise<void>(() => undefined) },
          { name: 'clickhouse', check: async () => undefined },
        ],
        [],
        50,
      ),
    );
    const hanging = app.listen(0);
    await new Promise((r) => hanging.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: 'not ready',
        checks: [
          { name: 'kafka', ok: false, error: 'no answer within 50 ms' },
          { name: 'clickhouse', ok: true },
        ],
      });
    } finally {
      await new Promise((r) => hanging.close(r));
    }
  });

  it('serves Prometheus text with the stage label', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toMatch(/^tributary_test_events_total\{stage="test"\} 3$/m);
  });
});
