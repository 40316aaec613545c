import { connectAdmin } from '../platform/kafka/client';
import { JsonLog } from '../platform/kafka/json-log';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { freePort } from '../platform/local/ports';
import { bookKey, declarationsTopic, type VersionRecord } from '../schemas/declarations/book';
import { checkDeclaration } from '../schemas/declarations/format';
import type { BenchEnv } from './env';
import { benchNodeArgs, logger, spawnStage } from './env';
import { followProcessor, preloadCardinalityOrders } from './cardinality';

/** Ten declarations of the kinds users write: per line and per order, 1m to 1d, SKUs, categories, distinct users. */
export const BENCH_DECLARATIONS = [
  {
    name: 'units_by_sku',
    source: 'order_lines',
    dimensions: ['sku'],
    measures: ['sum(quantity)', 'sum(revenueCents)'],
    window: '1h',
  },
  {
    name: 'revenue_by_category',
    source: 'order_lines',
    types: ['order_placed'],
    dimensions: ['category', 'currency'],
    measures: ['count', 'sum(revenueCents)'],
    window: '1m',
  },
  {
    name: 'revenue_by_country_category',
    source: 'order_lines',
    dimensions: ['country', 'category'],
    measures: ['sum(revenueCents)', 'max(unitPriceCents)'],
    window: '1h',
  },
  {
    name: 'orders_by_country',
    source: 'orders',
    dimensions: ['country', 'currency', 'type'],
    measures: ['count', 'sum(amountCents)', 'sum(units)'],
    window: '1m',
  },
  {
    name: 'buyers_by_country',
    source: 'orders',
    types: ['order_placed'],
    dimensions: ['country'],
    measures: ['distinct(userId)'],
    window: '1d',
  },
  {
    name: 'order_sizes',
    source: 'orders',
    measures: ['min(amountCents)', 'max(amountCents)', 'sum(lines)'],
    window: '1h',
  },
  {
    name: 'buyers_by_category',
    source: 'order_lines',
    dimensions: ['category'],
    measures: ['distinct(userId)'],
    window: '1h',
  },
  {
    name: 'paid_by_currency',
    source: 'orders',
    filter: { type: ['order_paid'] },
    dimensions: ['currency'],
    measures: ['count', 'sum(amountCents)'],
    window: '1d',
  },
  { name: 'lines_daily', source: 'order_lines', dimensions: ['category'], measures: ['count'], window: '1d' },
  {
    name: 'signups_by_plan',
    source: 'users',
    types: ['signup'],
    dimensions: ['properties.plan'],
    measures: ['distinct(userId)'],
    window: '1d',
  },
];

export interface DeclaredResult {
  set: string;
  declarations: number;
  orders: number;
  seconds: number;
  eventsPerSecond: number;
  peakMemoryMiB: number | null;
  cpuSeconds: number | null;
  peakOpenRows: number;
  rollupRecords: number;
}

const PARTITIONS = 6;

/**
 * The cardinality shape (BENCH_DECLARED_ORDERS orders, 100,000, of 10 lines, every SKU and user
 * new) caught up by one `tributary process` with the built-in rollups alone and then with the ten declarations above
 * live from offset 0 (no backfill: each run is the live path): events per second, peak resident
 * memory, CPU seconds and rows held. Same topics, same hour; the runs differ only in the declarations.
 */
export async function benchDeclared(
  env: BenchEnv,
  orders = Number(process.env.BENCH_DECLARED_ORDERS ?? 100_000),
): Promise<DeclaredResult[]> {
  const base = `decl-${Date.now()}`;
  const topics = { ...env.config.topics, users: `${base}.users`, orders: `${base}.orders` };
  const admin = await connectAdmin(env.kafka);
  const results: DeclaredResult[] = [];
  try {
    await ensureTopics(
      admin,
      pipelineTopics(PARTITIONS, { ...topics, rollups: `${base}.rollups`, dlq: `${base}.dlq` }),
      logger,
      1,
    );
    await preloadCardinalityOrders(env, topics, orders);
    const segmentSize = 5000;
    const ends = await admin.fetchTopicOffsets(topics.orders);
    const targets = ends.map((e) => ({
      partition: e.partition,
      offset: Math.floor(Number(e.high) / segmentSize) * segmentSize,
    }));
    // Each through `tributary process`, the built-in rollups (rollups/builtin.yaml) in both.
    const sets = [
      ['the built-in rollups', []],
      ['and ten declared', BENCH_DECLARATIONS],
    ] as const;
    for (const [set, declarations] of sets) {
      const count = declarations.length;
      const rollups = `${base}.rollups${results.length}`;
      await ensureTopics(admin, pipelineTopics(PARTITIONS, { ...topics, rollups, dlq: `${base}.dlq` }), logger, 1);
      const log = await JsonLog.open({
        kafka: env.kafka,
        logger,
        topic: declarationsTopic(rollups),
        onRecord: () => undefined,
        replicationFactor: 1,
      });
      await log.append(
        declarations.map((d) => {
          const checked = checkDeclaration(d);
          if (!checked.ok) throw new Error(`bench declaration ${d.name}: ${JSON.stringify(checked.issues)}`);
          const zero = Object.fromEntries(ends.map((e) => [String(e.partition), 0]));
          const record: VersionRecord = {
            name: d.name,
            version: 1,
            declaration: checked.declaration,
            appliedAt: Date.now(),
            topic: d.source === 'users' ? topics.users : topics.orders,
            segmentSize,
            from: zero,
            handover: zero,
            end: zero,
            fromTime: null,
          };
          return { key: bookKey('version', d.name, 1), value: record };
        }),
      );
      await log.close();
      const groupId = `${base}-rollups${results.length}`;
      const port = await freePort();
      const stageEnv = {
        TOPIC_USERS: topics.users,
        TOPIC_ORDERS: topics.orders,
        TOPIC_ROLLUPS: rollups,
        TOPIC_DLQ: `${base}.dlq`,
        PROCESS_GROUP_ID: groupId,
        SEGMENT_SIZE: String(segmentSize),
        PROCESS_PORT: String(port),
      };
      const child = spawnStage(env, ['process'], stageEnv, benchNodeArgs());
      const { peak, cpu, peakOpenRows, seconds } = await followProcessor(
        admin,
        child,
        port,
        groupId,
        topics.orders,
        targets,
      );
      const rollupRecords = (await admin.fetchTopicOffsets(rollups)).reduce((n, p) => n + Number(p.high), 0);
      results.push({
        set,
        declarations: count,
        orders,
        seconds,
        eventsPerSecond: Math.round(orders / seconds),
        peakMemoryMiB: peak,
        cpuSeconds: cpu,
        peakOpenRows,
        rollupRecords,
      });
    }
  } finally {
    await admin.disconnect();
  }
  return results;
}
