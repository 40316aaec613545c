import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { silentLogger } from '../../platform/logger';
import { startTestRegistry } from '../../test/registry';
import { confluentPython } from '../../test/python';
import { unique } from '../../test/helpers';
import { SCHEMAS } from '../catalog';
import { SchemaClient } from '../client';

/**
 * The embedded registry with users. Every probe of the issue (destructive writes by anyone,
 * junk subjects, a 16 MB body, a hard-coded mode) answered as Confluent's secured registry does.
 */
const users = [
  { name: 'ops', role: 'admin' as const, password: 'ops-pw-1' },
  { name: 'stage', role: 'write' as const, password: 'stage-pw-2' },
  { name: 'viewer', role: 'read' as const, password: 'viewer-pw-3' },
];
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const JSON_TYPE = 'application/vnd.schemaregistry.v1+json';

describe('embedded Schema Registry with HTTP Basic users and modes', () => {
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  const subject = unique('events.orders-value');

  beforeAll(async () => {
    registry = await startTestRegistry(undefined, {
      users,
      anonymousReads: false,
      maxSubjects: 5,
      maxBodyBytes: 64 * 1024,
    });
    // The pipeline's schema, registered by the stages' user through the production client.
    await new SchemaClient(registry.url, silentLogger, { username: 'stage', password: 'stage-pw-2' }).register({
      ...SCHEMAS.order,
      subject,
    });
  });
  afterAll(async () => {
    await registry?.close();
  });

  async function call(method: string, route: string, auth?: string, body?: unknown) {
    const res = await fetch(`${registry.url}${route}`, {
      method,
      headers: { 'content-type': JSON_TYPE, ...(auth ? { authorization: auth } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : {}) as { error_code?: number; message?: string; mode?: string },
      authenticate: res.headers.get('www-authenticate'),
    };
  }

  it("the issue's destructive probes without credentials answer 401 and change nothing", async () => {
    const probes = [
      call('PUT', '/config', undefined, { compatibility: 'NONE' }),
      call('POST', `/subjects/${subject}/versions`, undefined, { schema: '"string"' }),
      call('DELETE', `/subjects/${subject}`),
      call('DELETE', `/subjects/${subject}?permanent=true`),
      call('GET', '/subjects'),
      call('GET', '/metrics'),
    ];
    for (const r of await Promise.all(probes)) {
      expect(r.status).toBe(401);
      expect(r.body.error_code).toBe(401);
      expect(r.authenticate).toBe('Basic realm="tributary-registry"');
    }
    // A wrong password is the same 401.
    expect((await call('GET', '/subjects', basic('ops', 'nope'))).status).toBe(401);
    const versions = await call('GET', `/subjects/${subject}/versions`, basic('viewer', 'viewer-pw-3'));
    expect(versions.body).toEqual([1]);
    expect((await call('GET', '/config', basic('viewer', 'viewer-pw-3'))).body).toEqual({
      compatibilityLevel: 'BACKWARD',
    });
  });

  it("roles: a reader reads but may not register, the stages' writer registers but may not delete or reconfigure", async () => {
    const reader = basic('viewer', 'viewer-pw-3');
    const writer = basic('stage', 'stage-pw-2');
    expect((await call('POST', `/subjects/${subject}/versions`, reader, { schema: '"string"' })).body.error_code).toBe(
      40301,
    );
    // Lookups and compatibility checks change nothing: a reader may ask.
    expect((await call('POST', `/subjects/${subject}`, reader, { schema: SCHEMAS.order.text })).status).toBe(200);
    for (const [method, route, body] of [
      ['DELETE', `/subjects/${subject}`],
      ['PUT', '/config', { compatibility: 'NONE' }],
      ['PUT', '/mode', { mode: 'READONLY' }],
    ] as const) {
      const r = await call(method, route, writer, body);
      expect([r.status, r.body.error_code]).toEqual([403, 40301]);
    }
  });

  it("READONLY: writes, deletes and config changes answer 422 with error code 42205 (Confluent's), mode changes still work", async () => {
    const admin = basic('ops', 'ops-pw-1');
    expect((await call('GET', '/mode', admin)).body).toEqual({ mode: 'READWRITE' });
    expect((await call('PUT', '/mode', admin, { mode: 'READONLY' })).body).toEqual({ mode: 'READONLY' });
    expect((await call('GET', '/mode', admin)).body).toEqual({ mode: 'READONLY' });
    const v2 = JSON.stringify({ ...JSON.parse(SCHEMAS.order.text), doc: 'v2' });
    for (const [method, route, body] of [
      ['POST', `/subjects/${subject}/versions`, { schema: v2 }],
      ['DELETE', `/subjects/${subject}`, undefined],
      ['PUT', '/config', { compatibility: 'NONE' }],
      ['PUT', `/config/${subject}`, { compatibility: 'NONE' }],
    ] as const) {
      const r = await call(method, route, admin, body);
      expect([r.status, r.body.error_code]).toEqual([422, 42205]);
    }
    // Registering what is already there still answers its id (Confluent does the same): the stages restart fine.
    expect((await call('POST', `/subjects/${subject}/versions`, admin, { schema: SCHEMAS.order.text })).status).toBe(
      200,
    );
    expect((await call('PUT', '/mode', admin, { mode: 'IMPORT' })).body.error_code).toBe(42204);
    // A subject-level mode overrides the global one.
    expect((await call('GET', `/mode/${subject}`, admin)).body.error_code).toBe(40409);
    expect((await call('PUT', `/mode/${subject}`, admin, { mode: 'READWRITE' })).body).toEqual({ mode: 'READWRITE' });
    expect((await call('PUT', `/config/${subject}`, admin, { compatibility: 'FULL' })).status).toBe(200);
    expect((await call('DELETE', `/mode/${subject}`, admin)).body).toEqual({ mode: 'READWRITE' });
    expect((await call('PUT', '/mode', admin, { mode: 'READWRITE' })).body).toEqual({ mode: 'READWRITE' });
    expect((await call('PUT', `/config/${subject}`, admin, { compatibility: 'BACKWARD' })).status).toBe(200);
  });

  it('@kafkajs/confluent-schema-registry and the production client: right credentials work, wrong ones fail with one clear line', async () => {
    const good = new SchemaRegistry({ host: registry.url, auth: { username: 'stage', password: 'stage-pw-2' } });
    const own = unique('kafkajs-value');
    const { id } = await good.register({ type: SchemaType.AVRO, schema: SCHEMAS.user.text }, { subject: own });
    expect(await good.getLatestSchemaId(own)).toBe(id);
    const wrong = new SchemaClient(registry.url, silentLogger, { username: 'stage', password: 'wrong' });
    const failure = await wrong
      .register({ ...SCHEMAS.user, subject: own })
      .catch((e: Error & { retriable?: boolean }) => e);
    expect((failure as Error).message).toBe(
      `schema registry ${registry.url} refused register ${own}: 401 wrong or missing credentials (SCHEMA_REGISTRY_USER/SCHEMA_REGISTRY_PASSWORD or SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)`,
    );
    expect((failure as { retriable?: boolean }).retriable).toBe(false);
  });

  it("Confluent's Python client registers and reads with credentials, and is refused without", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'confluent-auth-'));
    const schemaFile = path.join(dir, 'UserEvent.avsc');
    writeFileSync(schemaFile, SCHEMAS.user.text);
    const hex = JSON.parse(
      await confluentPython(['encode', registry.url, unique('py-value'), schemaFile, JSON.stringify(PY_EVENT)], {
        REGISTRY_USER_INFO: 'stage:stage-pw-2',
      }),
    ).hex as string;
    const decoded = JSON.parse(
      await confluentPython(['deserialize', registry.url, hex], { REGISTRY_USER_INFO: 'viewer:viewer-pw-3' }),
    );
    expect(decoded.eventId).toBe(PY_EVENT.eventId);
    const refused = await confluentPython(['deserialize', registry.url, hex]).catch((e: Error) => e.message);
    expect(refused).toMatch(/Unauthorized|401/);
  }, 300_000);

  it('bounds: a body over the limit is 422/42209, subjects beyond the maximum are refused', async () => {
    const admin = basic('ops', 'ops-pw-1');
    const big = JSON.stringify({
      type: 'record',
      name: 'Big',
      fields: [{ name: 'x', type: 'string', doc: 'x'.repeat(70 * 1024) }],
    });
    const r = await call('POST', `/subjects/${unique('big')}/versions`, admin, { schema: big });
    expect([r.status, r.body.error_code]).toEqual([422, 42209]);
    const results: number[] = [];
    for (let i = 0; i < 6; i++)
      results.push(
        (
          await call('POST', `/subjects/${unique('junk')}/versions`, admin, {
            schema: `{"type":"fixed","name":"F${i}","size":${i + 1}}`,
          })
        ).status,
      );
    // Three subjects exist already (the pipeline's, kafkajs', Python's): two more fit under the maximum of five.
    expect(results).toEqual([200, 200, 422, 422, 422, 422]);
    const subjects = (await call('GET', '/subjects', admin)).body as unknown as string[];
    expect(subjects.length).toBe(5);
  });
});

const PY_EVENT = {
  eventId: 'py-1',
  type: 'login',
  userId: 'u-1',
  occurredAt: Date.UTC(2026, 10, 28, 9),
  receivedAt: null,
  sessionId: null,
  country: 'FR',
  device: 'web',
  page: null,
  properties: {},
  origin: null,
};
