import type { ChildProcess } from 'node:child_process';
import type { ClickHouseClient } from '@clickhouse/client';
import { type Admin, type Kafka, connectAdmin, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { runMigrations } from '../platform/clickhouse/migrations';
import { TributaryProducer } from '../producers/tributary-producer';
import { DemoShop } from '../producers/demo/shop';
import { GroundTruth } from '../producers/demo/ground-truth';
import { SchemaClient } from '../schemas/client';
import { ClickHouseSink } from '../consumers/sink';
import { sinkMetrics } from '../consumers/metrics';
import { rollupMigrations } from '../consumers/tables';
import { DashboardQueries } from '../dashboards/queries';
import { startTestRegistry } from './registry';
import {
  createPipelineTopics,
  killAndWait,
  pipelineEnv,
  produceDemo,
  runTributary,
  sourceEntry,
  spawnEntry,
  spawnTributary,
} from './pipeline';
import { testClickHouse } from './clickhouse';
import { sorted, testConfig, unique, waitFor } from './helpers';

describe('tributary replay', () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `replay_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;
  let clickhouse: ClickHouseClient;
  let processor: ChildProcess | undefined;
  let sink: ClickHouseSink | undefined;

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'replay-test' });
    admin = await connectAdmin(kafka);
    clickhouse = testClickHouse(config);
    await runMigrations(clickhouse, db, rollupMigrations, silentLogger);
  });
  afterAll(async () => {
    if (processor) await killAndWait(processor);
    await sink?.stop();
    await clickhouse?.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
    await clickhouse?.close();
    await admin?.disconnect();
    await registry?.close();
  });

  const tributary = runTributary;

  it('replays the processor group from an offset and from a time with exact totals, rewrites rows after an aggregation change, refuses while active, names bad input', async () => {
    const topics = await createPipelineTopics(admin);
    const group = unique('rollups');
    const env = pipelineEnv(topics, registry.url, {
      PROCESS_GROUP_ID: group,
      SEGMENT_SIZE: '40',
      FLUSH_INTERVAL_MS: '150',
    });
    sink = new ClickHouseSink({
      kafka,
      clickhouse,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics: sinkMetrics(createMetrics('s')),
      options: {
        groupId: unique('sink'),
        topics: { rollups: topics.rollups, dlq: topics.dlq },
        database: db,
        batchRows: 10_000,
        batchDelayMs: 100,
      },
    });
    await sink.start();
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    const truth = new GroundTruth();
    await produceDemo(
      producer,
      new DemoShop(31, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 }).next(1200),
      truth,
    );
    await producer.disconnect();
    const expected = truth.totals();
    const want = JSON.stringify(
      sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
    );
    const queries = new DashboardQueries(clickhouse, db);
    const totals = async () => {
      const t = await queries.totals({ from: 0, to: Date.now() + 86_400_000 });
      return JSON.stringify(sorted({ orders: t.orders, userEvents: t.userEvents, activeUsers: t.activeUsers }));
    };
    const converge = async () => {
      const got = await waitFor(
        async () => ((await totals()) === want ? want : undefined),
        'ClickHouse totals equal to the ground truth',
        90_000,
        250,
      ).catch(() => totals());
      expect(JSON.parse(got)).toEqual(JSON.parse(want));
    };

    processor = spawnTributary(['process'], env);
    await converge();

    // Refused while the processor is running: Kafka would reject the change anyway.
    const refused = await tributary(
      ['replay', '--group', group, '--topic', topics.users, '--all', '--offset', '0', '--yes'],
      env,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/has 1 active member\(s\).*stop its consumers.*--wait/);

    await killAndWait(processor, 'SIGTERM');
    processor = undefined;
    const ends = await admin.fetchTopicOffsets(topics.users);
    const mid = Math.min(...ends.map((e) => Number(e.high))) - 7; // not a segment boundary
    const byOffset = await tributary(
      ['replay', '--group', group, '--topic', topics.users, '--all', '--offset', String(mid), '--yes'],
      env,
    );
    expect(byOffset.code).toBe(0);
    expect(byOffset.stdout).toContain(`moved back to segment start ${mid - (mid % 40)}`);
    const committedUsers = await admin.fetchOffsets({ groupId: group, topics: [topics.users] });
    expect(committedUsers[0]!.partitions.every((p) => Number(p.offset) === mid - (mid % 40))).toBe(true);
    const byTime = await tributary(
      [
        'replay',
        '--group',
        group,
        '--topic',
        topics.orders,
        '--partition',
        '0',
        '--partition',
        '3',
        '--from-time',
        new Date(Date.now() - 3600_000).toISOString(),
        '--yes',
      ],
      env,
    );
    expect(byTime.code).toBe(0);
    expect(
      (await admin.fetchOffsets({ groupId: group, topics: [topics.orders] }))[0]!.partitions
        .filter((p) => [0, 3].includes(p.partition))
        .map((p) => p.offset),
    ).toEqual(['0', '0']);

    processor = spawnTributary(['process'], env);
    await converge();
    await killAndWait(processor, 'SIGTERM');
    processor = undefined;

    // After an aggregation change (a processor whose decoding doubles amounts, test/fixtures/), a replay rewrites the rows.
    for (const topic of [topics.users, topics.orders]) {
      expect(
        (await tributary(['replay', '--group', group, '--topic', topic, '--all', '--earliest', '--yes'], env)).code,
      ).toBe(0);
    }
    processor = spawnEntry(sourceEntry('test/fixtures/doubling-processor.ts'), [], env);
    const doubled = JSON.parse(want) as {
      orders: Record<string, { count: number; amountCents: Record<string, number> }>;
    };
    for (const o of Object.values(doubled.orders)) for (const c of Object.keys(o.amountCents)) o.amountCents[c]! *= 2;
    const wantDoubled = JSON.stringify(sorted(doubled));
    const got = await waitFor(
      async () => ((await totals()) === wantDoubled ? wantDoubled : undefined),
      'rewritten rows',
      90_000,
      250,
    ).catch(() => totals());
    expect(JSON.parse(got)).toEqual(JSON.parse(wantDoubled));
    await killAndWait(processor, 'SIGTERM');
    processor = undefined;

    const errors: Array<[string[], RegExp]> = [
      [
        ['--group', group, '--topic', 'no-such-topic', '--all', '--earliest', '--yes'],
        /^tributary: unknown topic no-such-topic$/,
      ],
      [
        ['--group', unique('nobody'), '--topic', topics.users, '--all', '--earliest', '--yes'],
        /^tributary: unknown group .*no committed offsets/,
      ],
      [
        ['--group', group, '--topic', topics.users, '--partition', '2', '--offset', '999999', '--yes'],
        /^tributary: offset 999999 is outside partition 2's range: valid offsets are 0 to \d+$/,
      ],
      [
        ['--group', group, '--topic', topics.users, '--partition', '9', '--earliest', '--yes'],
        /^tributary: topic .* has no partition 9/,
      ],
      [
        ['--group', group, '--topic', topics.users, '--all', '--earliest', '--offset', '1'],
        /exactly one of --offset, --from-time, --earliest/,
      ],
    ];
    for (const [args, message] of errors) {
      const r = await tributary(['replay', ...args], env);
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 1]);
      expect(r.stderr.trim()).toMatch(message);
    }
    // A dry run prints the plan and changes nothing.
    const before = await admin.fetchOffsets({ groupId: group, topics: [topics.users] });
    const dry = await tributary(
      ['replay', '--group', group, '--topic', topics.users, '--all', '--earliest', '--dry-run'],
      env,
    );
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^partition\s+committed\s+new offset/m);
    expect(await admin.fetchOffsets({ groupId: group, topics: [topics.users] })).toEqual(before);
  });
});
