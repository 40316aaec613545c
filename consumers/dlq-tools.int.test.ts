import { type Admin, type Kafka, connectAdmin, connectProducer, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { SCHEMAS } from '../schemas/catalog';
import { SchemaClient } from '../schemas/client';
import { startTestRegistry } from '../test/registry';
import { createPipelineTopics, pipelineEnv, runTributary } from '../test/pipeline';
import { testConfig } from '../test/helpers';
import { deadLetter } from '../schemas/dead-letter';

describe('tributary dlq', () => {
  const config = testConfig();
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'dlq-test' });
    admin = await connectAdmin(kafka);
  });
  afterAll(async () => {
    await admin?.disconnect();
    await registry?.close();
  });

  it('lists, shows and redrives dead letters to their source topic, bytes unchanged', async () => {
    const topics = await createPipelineTopics(admin);
    const env = pipelineEnv(topics, registry.url);
    const schemas = new SchemaClient(registry.url, silentLogger);
    const id = await schemas.register({ ...SCHEMAS.deadLetter, subject: `${topics.dlq}-value` });
    const originals = [Buffer.from('garbage-1'), Buffer.from([0, 0, 0, 0x7f, 1, 9])];
    const letters = [
      deadLetter(
        {
          source: topics.users,
          partition: 2,
          offset: 17,
          key: Buffer.from('u-1'),
          value: originals[0]!,
          stage: 'process',
          reason: 'undecodable',
          message: 'not the wire format',
        },
        id,
        schemas,
      ),
      deadLetter(
        {
          source: topics.orders,
          partition: 4,
          offset: 3,
          key: Buffer.from('u-2'),
          value: originals[1]!,
          stage: 'process',
          reason: 'unknown_schema',
          message: 'schema id 127 is not in the registry',
        },
        id,
        schemas,
      ),
      deadLetter(
        {
          source: 'http',
          partition: null,
          offset: null,
          key: null,
          value: Buffer.from('{}'),
          stage: 'bridge',
          reason: 'invalid_event',
          message: 'type: required',
        },
        id,
        schemas,
      ),
    ];
    const producer = await connectProducer(kafka);
    await producer.send({ topic: topics.dlq, acks: -1, messages: letters });
    await producer.disconnect();

    const cli = async (...args: string[]) => (await runTributary(['dlq', ...args], env)).stdout;
    const list = await cli('list');
    expect(list).toMatch(
      new RegExp(
        `^0\\s+\\S+\\s+process\\s+undecodable\\s+${topics.users.replace(/\./g, '\\.')}\\s+2\\s+17\\s+not the wire format$`,
        'm',
      ),
    );
    expect(list).toMatch(/3 dead letter\(s\)/);
    expect(await cli('list', '--reason', 'unknown_schema')).toMatch(/1 dead letter\(s\)/);
    const shown = JSON.parse(await cli('show', '1'));
    expect(shown).toMatchObject({
      source: topics.orders,
      partition: 4,
      offset: 3,
      reason: 'unknown_schema',
      key: 'u-2',
      value: { hex: originals[1]!.toString('hex') },
    });

    const before = await admin.fetchTopicOffsets(topics.users);
    expect(await cli('redrive', '--dry-run')).toMatch(/2 of 3 dead letter\(s\) would be redriven/);
    expect(await admin.fetchTopicOffsets(topics.users)).toEqual(before);
    expect(await cli('redrive')).toMatch(/redrove 2 of 3 dead letter\(s\); next time use --from 3/);
    const usersAfter = await admin.fetchTopicOffsets(topics.users);
    const added = usersAfter.reduce((n, p) => n + Number(p.high), 0) - before.reduce((n, p) => n + Number(p.high), 0);
    expect(added).toBe(1);
    // Back on the partition it came from, where the processor's duplicate check for it runs.
    const grew = usersAfter
      .filter((p) => Number(p.high) > Number(before.find((b) => b.partition === p.partition)!.high))
      .map((p) => p.partition);
    expect(grew).toEqual([2]);
  });
});
