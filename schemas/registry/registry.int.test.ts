import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { startTestRegistry } from '../../test/registry';
import { unique } from '../../test/helpers';

const v1 = {
  type: 'record',
  name: 'Order',
  namespace: 'test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'long' },
  ],
};
// Compatible evolution: a new field with a default.
const v2 = { ...v1, fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }] };
// Incompatible under BACKWARD: a new field without a default cannot be read from v2 data.
const noDefault = { ...v2, fields: [...v2.fields, { name: 'country', type: 'string' }] };

describe('embedded Schema Registry with @kafkajs/confluent-schema-registry', () => {
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let client: SchemaRegistry;

  beforeAll(async () => {
    registry = await startTestRegistry();
    client = new SchemaRegistry({ host: registry.url });
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('registers, encodes and decodes; the same schema again keeps its id', async () => {
    const subject = unique('orders-value');
    const { id } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    // Whitespace and key order are noise: not a new version, the same id.
    const reordered = JSON.stringify(
      {
        fields: v1.fields.map((f) => ({ type: f.type, name: f.name })),
        namespace: 'test',
        name: 'Order',
        type: 'record',
      },
      null,
      2,
    );
    const again = await client.register({ type: SchemaType.AVRO, schema: reordered }, { subject });
    expect(again.id).toBe(id);
    const encoded = await client.encode(id, { id: 'o-1', amount: 1999 });
    expect(encoded[0]).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id);
    expect(await client.decode(encoded)).toEqual({ id: 'o-1', amount: 1999 });
    const versions = await (await fetch(`${registry.url}/subjects/${subject}/versions`)).json();
    expect(versions).toEqual([1]);
  });

  it('rejects an incompatible change with 409 and accepts a compatible evolution; v1 data decodes with the v2 reader', async () => {
    const subject = unique('orders-value');
    const { id: id1 } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    const written = await client.encode(id1, { id: 'o-2', amount: 5 });
    const { id: id2 } = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject });
    expect(id2).toBeGreaterThan(id1);
    await expect(
      client.register({ type: SchemaType.AVRO, schema: JSON.stringify(noDefault) }, { subject }),
    ).rejects.toMatchObject({ status: 409 });
    const decoded = await client.decode(written, { [SchemaType.AVRO]: { readerSchema: v2 as never } });
    expect(decoded).toEqual({ id: 'o-2', amount: 5, currency: 'EUR' });
    const compat = await post(`/compatibility/subjects/${subject}/versions/latest`, {
      schema: JSON.stringify(noDefault),
    });
    expect(compat.body).toEqual({ is_compatible: false });
    const ok = await post(`/compatibility/subjects/${subject}/versions/latest`, {
      schema: JSON.stringify({ ...v2, doc: 'documented' }),
    });
    expect(ok.body).toEqual({ is_compatible: true });
  });

  it('applies each compatibility mode', async () => {
    // Removing a field: fine for BACKWARD (new reader ignores it), not for FORWARD (old reader needs it).
    const removed = { ...v1, fields: [v1.fields[0]] };
    const cases: Array<[string, boolean]> = [
      ['BACKWARD', true],
      ['FORWARD', false],
      ['FULL', false],
      ['NONE', true],
      ['BACKWARD_TRANSITIVE', true],
      ['FORWARD_TRANSITIVE', false],
      ['FULL_TRANSITIVE', false],
    ];
    for (const [level, expected] of cases) {
      const subject = unique(`mode-${level}`);
      await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
      expect((await put(`/config/${subject}`, { compatibility: level })).body).toEqual({ compatibility: level });
      const res = await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(removed) });
      expect([level, res.status]).toEqual([level, expected ? 200 : 409]);
    }
    // Transitive modes look past the latest version.
    const subject = unique('transitive');
    await put(`/config/${subject}`, { compatibility: 'BACKWARD' });
    await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
    await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v2) });
    // Drops `amount` and makes currency required: readable from v2 (has currency), not from v1.
    const v3 = { ...v1, fields: [v1.fields[0], { name: 'currency', type: 'string' }] };
    expect(
      (await post(`/compatibility/subjects/${subject}/versions/latest`, { schema: JSON.stringify(v3) })).body,
    ).toEqual({ is_compatible: true });
    await put(`/config/${subject}`, { compatibility: 'BACKWARD_TRANSITIVE' });
    expect((await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v3) })).status).toBe(409);
    await put(`/config/${subject}`, { compatibility: 'BACKWARD' });
    expect((await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v3) })).status).toBe(200);
  });

  it('serves subjects, versions, schemas by id and configs', async () => {
    const subject = unique('read');
    const {
      body: { id },
    } = await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
    expect((await get('/subjects')).body).toContain(subject);
    expect((await get(`/subjects/${subject}/versions/latest`)).body).toEqual({
      subject,
      id,
      version: 1,
      schema: expect.any(String),
    });
    expect(JSON.parse((await get(`/subjects/${subject}/versions/1`)).body.schema)).toEqual(v1);
    expect((await get(`/subjects/${subject}/versions/1/schema`)).body).toEqual(v1);
    expect(JSON.parse((await get(`/schemas/ids/${id}`)).body.schema)).toEqual(v1);
    expect((await get(`/schemas/ids/${id}/schema`)).body).toEqual(v1);
    expect((await post(`/subjects/${subject}`, { schema: JSON.stringify(v1) })).body).toMatchObject({
      subject,
      id,
      version: 1,
    });
    expect((await get('/config')).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    expect((await get(`/config/${subject}`)).body.error_code).toBe(40408);
    expect((await get(`/config/${subject}?defaultToGlobal=true`)).body).toEqual({ compatibilityLevel: 'BACKWARD' });
    await put(`/config/${subject}`, { compatibility: 'FULL' });
    expect((await get(`/config/${subject}`)).body).toEqual({ compatibilityLevel: 'FULL' });
    expect((await del(`/config/${subject}`)).body).toEqual({ compatibilityLevel: 'FULL' });
    expect((await get(`/config/${subject}`)).status).toBe(404);
  });

  it('soft-deletes, then hard-deletes only what was soft-deleted', async () => {
    const subject = unique('del');
    // A schema no other test registers, so its id is this subject's alone.
    const mine = { ...v1, doc: subject };
    const {
      body: { id },
    } = await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(mine) });
    await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v2) });
    expect((await del(`/subjects/${subject}/versions/2?permanent=true`)).body.error_code).toBe(40407);
    expect((await del(`/subjects/${subject}/versions/2`)).body).toBe(2);
    expect((await get(`/subjects/${subject}/versions`)).body).toEqual([1]);
    expect((await get(`/subjects/${subject}/versions?deleted=true`)).body).toEqual([1, 2]);
    expect((await del(`/subjects/${subject}?permanent=true`)).body.error_code).toBe(40405);
    expect((await del(`/subjects/${subject}`)).body).toEqual([1]);
    expect((await get(`/subjects/${subject}/versions`)).body.error_code).toBe(40401);
    expect((await get('/subjects')).body).not.toContain(subject);
    expect((await get('/subjects?deleted=true')).body).toContain(subject);
    expect((await del(`/subjects/${subject}`)).body.error_code).toBe(40404);
    // A soft-deleted schema's id still resolves: records written with it stay readable.
    expect((await get(`/schemas/ids/${id}`)).status).toBe(200);
    expect((await del(`/subjects/${subject}?permanent=true`)).body).toEqual([1, 2]);
    expect((await get(`/schemas/ids/${id}`)).body.error_code).toBe(40403);
  });

  it('answers every documented error with its status and Confluent error body', async () => {
    const subject = unique('errors');
    await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
    const cases: Array<[string, Promise<Res>, number, number]> = [
      ['unknown subject', get(`/subjects/${unique('nope')}/versions`), 404, 40401],
      ['unknown version', get(`/subjects/${subject}/versions/7`), 404, 40402],
      ['unknown id', get('/schemas/ids/987654'), 404, 40403],
      ['schema not under subject', post(`/subjects/${subject}`, { schema: JSON.stringify(v2) }), 404, 40403],
      [
        'incompatible',
        post(`/subjects/${subject}/versions`, {
          schema: JSON.stringify({ ...v1, fields: [{ name: 'x', type: 'int' }] }),
        }),
        409,
        409,
      ],
      [
        'invalid Avro',
        post(`/subjects/${subject}/versions`, {
          schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"nosuchtype"}]}',
        }),
        422,
        42201,
      ],
      ['schema not JSON', post(`/subjects/${subject}/versions`, { schema: '{not json' }), 422, 42201],
      ['empty schema', post(`/subjects/${subject}/versions`, {}), 422, 42201],
      [
        'unsupported type',
        post(`/subjects/${subject}/versions`, { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }),
        422,
        42201,
      ],
      ['invalid version', get(`/subjects/${subject}/versions/abc`), 422, 42202],
      ['version zero', get(`/subjects/${subject}/versions/0`), 422, 42202],
      ['invalid level', put('/config', { compatibility: 'SOMETIMES' }), 422, 42203],
      [
        'body not JSON',
        raw('POST', `/subjects/${subject}/versions`, '{"schema": ', 'application/vnd.schemaregistry.v1+json'),
        400,
        400,
      ],
      [
        'wrong content type',
        raw('POST', `/subjects/${subject}/versions`, 'schema=x', 'application/x-www-form-urlencoded'),
        415,
        415,
      ],
    ];
    for (const [what, request, status, code] of cases) {
      const res = await request;
      expect([what, res.status, res.body?.error_code, typeof res.body?.message]).toEqual([
        what,
        status,
        code,
        'string',
      ]);
      expect(res.contentType).toMatch(/^application\/vnd\.schemaregistry\.v1\+json/);
    }
    // Still serving after all that.
    expect((await get('/subjects')).status).toBe(200);
  });

  it('accepts all three content types', async () => {
    const subject = unique('ctypes');
    for (const type of [
      'application/vnd.schemaregistry.v1+json',
      'application/vnd.schemaregistry+json',
      'application/json',
    ]) {
      const res = await raw(
        'POST',
        `/subjects/${subject}/versions`,
        JSON.stringify({ schema: JSON.stringify(v1) }),
        type,
      );
      expect([type, res.status]).toEqual([type, 200]);
    }
  });

  it('keeps ids after a restart, and a new instance serves the same ids', async () => {
    const subject = unique('restart');
    const {
      body: { id },
    } = await post(`/subjects/${subject}/versions`, { schema: JSON.stringify(v1) });
    const second = await startTestRegistry(registry.topic);
    try {
      const again = await fetch(`${second.url}/subjects/${subject}/versions/latest`).then((r) => r.json());
      expect(again).toMatchObject({ id, version: 1 });
      // A new schema on the restarted registry gets a new, higher id; ids are never reused.
      const next = await fetch(`${second.url}/subjects/${subject}/versions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ schema: JSON.stringify({ ...v2, doc: subject }) }),
      }).then((r) => r.json() as Promise<{ id: number }>);
      expect(next.id).toBeGreaterThan(id);
      expect(next.id).toBe(second.service.state.maxId);
    } finally {
      await second.close();
    }
  });

  type Res = { status: number; body: any; contentType: string | null }; // eslint-disable-line @typescript-eslint/no-explicit-any
  async function raw(
    method: string,
    path: string,
    body?: string,
    contentType = 'application/vnd.schemaregistry.v1+json',
  ): Promise<Res> {
    const res = await fetch(`${registry.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      body,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? JSON.parse(text) : undefined,
      contentType: res.headers.get('content-type'),
    };
  }
  const get = (path: string) => raw('GET', path);
  const del = (path: string) => raw('DELETE', path);
  const post = (path: string, body: unknown) => raw('POST', path, JSON.stringify(body));
  const put = (path: string, body: unknown) => raw('PUT', path, JSON.stringify(body));
});
