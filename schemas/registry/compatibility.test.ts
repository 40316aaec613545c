import type { AddressInfo } from 'node:net';
import { createMetrics } from '../../platform/metrics';
import { SchemaRegistryService, type RegistryLimits } from './registry';
import { registryApp } from './server';
import { RegistryState } from './state';

/**
 * The registry's complexity bounds and its compatibility checks off the event loop, over real
 * HTTP on loopback with an in-memory log (no Kafka): the quadratic case is a union of thousands
 * of named records, whose reverse takes tens of seconds to resolve against it.
 */
const union = (n: number, reversed = false) => {
  const branches = Array.from({ length: n }, (_, i) => ({
    type: 'record',
    name: `R${i}`,
    fields: [{ name: 'f', type: 'long' }],
  }));
  return JSON.stringify(reversed ? branches.reverse() : branches);
};

async function serve(limits: Partial<RegistryLimits>) {
  const service = new SchemaRegistryService(new RegistryState(), { append: async () => undefined }, limits);
  const server = registryApp(service, createMetrics('registry')).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (path: string, schema: string) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema }),
    });
    return {
      status: res.status,
      body: (await res.json()) as { error_code?: number; message?: string; id?: number; is_compatible?: boolean },
    };
  };
  return {
    url,
    post,
    service,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await service.close();
    },
  };
}

describe('registry complexity bounds', () => {
  it('refuses a union over REGISTRY_MAX_UNION_BRANCHES, too many named types, and a subject past its versions, with Confluent codes', async () => {
    const r = await serve({ maxUnionBranches: 256, maxNamedTypes: 300, maxVersions: 2 });
    try {
      const wide = await r.post('/subjects/s/versions', union(3000));
      expect(wide.status).toBe(422);
      expect(wide.body.error_code).toBe(42201);
      expect(wide.body.message).toMatch(/union of 3000 branches.*at most 256 \(REGISTRY_MAX_UNION_BRANCHES\)/);
      const many = JSON.stringify({
        type: 'record',
        name: 'Top',
        fields: Array.from({ length: 301 }, (_, i) => ({
          name: `f${i}`,
          type: { type: 'enum', name: `E${i}`, symbols: ['A'] },
        })),
      });
      expect((await r.post('/subjects/s/versions', many)).body).toMatchObject({
        error_code: 42201,
        message: expect.stringMatching(/more than 300 named types/),
      });
      const v = (n: number) =>
        JSON.stringify({
          type: 'record',
          name: 'V',
          fields: Array.from({ length: n }, (_, i) => ({ name: `f${i}`, type: 'long', default: 0 })),
        });
      expect((await r.post('/subjects/v/versions', v(1))).status).toBe(200);
      expect((await r.post('/subjects/v/versions', v(2))).status).toBe(200);
      const third = await r.post('/subjects/v/versions', v(3));
      expect(third.status).toBe(422);
      expect(third.body).toMatchObject({
        error_code: 42205,
        message: expect.stringMatching(/maximum of 2 versions \(REGISTRY_MAX_VERSIONS\)/),
      });
      // Within the bounds: a union of 256 branches registers.
      expect((await r.post('/subjects/ok/versions', union(256))).status).toBe(200);
    } finally {
      await r.close();
    }
  });

  it('checks compatibility off the event loop: the quadratic case answers 50002 at its time budget while /healthz stays fast', async () => {
    const r = await serve({ maxUnionBranches: 5000, maxNamedTypes: 5000, checkTimeoutMs: 1500 });
    try {
      expect((await r.post('/subjects/q/versions', union(3000))).status).toBe(200);
      let slowest = 0;
      let probes = 0;
      let checking = true;
      const probing = (async () => {
        while (checking) {
          const started = Date.now();
          expect((await fetch(`${r.url}/healthz`)).status).toBe(200);
          slowest = Math.max(slowest, Date.now() - started);
          probes++;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      const started = Date.now();
      const check = await r.post('/compatibility/subjects/q/versions/latest', union(3000, true));
      const took = Date.now() - started;
      checking = false;
      await probing;
      expect(check.status).toBe(500);
      expect(check.body).toMatchObject({
        error_code: 50002,
        message: expect.stringMatching(/longer than 1500 ms \(REGISTRY_CHECK_TIMEOUT_MS\)/),
      });
      expect(took).toBeGreaterThanOrEqual(1500);
      expect(probes).toBeGreaterThan(5);
      expect(slowest).toBeLessThan(1000);
      // The worker was replaced: a small check answers at once.
      expect((await r.post('/subjects/small/versions', union(2))).status).toBe(200);
      expect((await r.post('/compatibility/subjects/small/versions/latest', union(2, true))).body.is_compatible).toBe(
        true,
      );
    } finally {
      await r.close();
    }
  });
});
