import avro from 'avsc';
import { silentLogger } from '../platform/logger';
import { startTestRegistry } from '../test/registry';
import { unique } from '../test/helpers';
import { NOT_CACHED, SchemaClient } from './client';

const v1 = {
  type: 'record',
  name: 'Order',
  namespace: 'test',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'amount', type: 'long' },
  ],
};
const entry = (schema: object, subject: string) => ({
  name: 'Order',
  subject,
  text: JSON.stringify(schema),
  type: avro.Type.forSchema(schema as avro.Schema),
});

describe('SchemaClient: how a reader reads a writer it fetched from the registry', () => {
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let written: Buffer;

  beforeAll(async () => {
    registry = await startTestRegistry();
    const writer = new SchemaClient(registry.url, silentLogger);
    const id = await writer.register(entry(v1, unique('orders-value')));
    written = writer.encode(id, avro.Type.forSchema(v1 as avro.Schema), { id: 'o-1', amount: 1999 });
  });
  afterAll(async () => {
    await registry?.close();
  });

  /** A client that has not seen the writer: it fetches it, so writer and reader are distinct types. */
  const outcomes = async (reader: avro.Type) => {
    const client = new SchemaClient(registry.url, silentLogger);
    expect(client.decodeRecordNow(written, reader)).toBe(NOT_CACHED);
    const first = await client.decodeRecord(written, reader);
    return [first, client.decodeRecordNow(written, reader)]; // the second from what the first worked out
  };

  it('reads the same canonical form directly, whatever docs and defaults say', async () => {
    const documented = { ...v1, doc: 'an order', fields: [{ ...v1.fields[0], doc: 'its id' }, v1.fields[1]] };
    for (const outcome of await outcomes(avro.Type.forSchema(documented as avro.Schema))) {
      expect(outcome).toEqual({ ok: true, value: { id: 'o-1', amount: 1999 } });
    }
  });

  it('reads an older writer through a resolver: the new field takes its default', async () => {
    const v2 = { ...v1, fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }] };
    for (const outcome of await outcomes(avro.Type.forSchema(v2 as avro.Schema))) {
      expect(outcome).toEqual({ ok: true, value: { id: 'o-1', amount: 1999, currency: 'EUR' } });
    }
  });

  it('dead-letters a record of another name as wrong_schema, and one it cannot resolve as incompatible_schema, every time', async () => {
    const other = { ...v1, name: 'Refund' };
    for (const outcome of await outcomes(avro.Type.forSchema(other as avro.Schema))) {
      expect(outcome).toMatchObject({
        ok: false,
        reason: 'wrong_schema',
        message: 'a test.Order record, expected test.Refund',
      });
    }
    const noDefault = { ...v1, fields: [...v1.fields, { name: 'country', type: 'string' }] };
    for (const outcome of await outcomes(avro.Type.forSchema(noDefault as avro.Schema))) {
      expect(outcome).toMatchObject({ ok: false, reason: 'incompatible_schema' });
    }
  });
});
