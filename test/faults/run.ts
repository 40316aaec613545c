import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { loadConfig } from '../../cli/config';
import { createLogger } from '../../platform/logger';
import { createMetrics } from '../../platform/metrics';
import { connectAdmin, connectProducer, createKafka } from '../../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../../platform/kafka/topics';
import { createClickHouse } from '../../platform/clickhouse/client';
import { startEmbeddedRegistry } from '../../schemas/registry/embedded';
import { openDeclarations } from '../../schemas/declarations/log';
import { SchemaClient } from '../../schemas/client';
import { startIngest } from '../../producers/ingest/service';
import { runDemo } from '../../producers/demo/run';
import { GroundTruth } from '../../producers/demo/ground-truth';
import { DashboardQueries } from '../../dashboards/queries';
import { groupCaughtUp, readTopics } from '../kafka';
import { startOnFreePorts } from '../../platform/local/kafka';
import {
  RollupFollower,
  killAndWait,
  runTributary,
  sourceEntry,
  spawnEntry,
  spawnTributary,
  eventCount,
  totalsView,
} from '../pipeline';
import { sorted, until as untilOr } from '../helpers';
import { sleep } from '../../platform/retry';

/**
 * `npm run test:faults`: a 3-broker cluster (replication 3, min.insync.replicas 2) under demo
 * load over HTTP, with, in order: a broker SIGKILLed and restarted; the processor SIGKILLed; a
 * backlog, then a declared rollup applied and a broker SIGKILLed during its backfill; the
 * sink SIGKILLed; ClickHouse made unavailable and restored; a burst of malformed requests and
 * poison records. After each, the totals are compared with the ground truth. Prints a table;
 * exits 1 if anything was lost or counted twice. FAULT_LOAD_SECONDS sets each phase's load.
 */
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'faults');
const LOAD_S = Number(process.env.FAULT_LOAD_SECONDS ?? 6);
const RATE = Number(process.env.FAULT_RATE ?? 300);

interface Row {
  fault: string;
  inFlight: number;
  lost: number;
  doubled: number;
  recoveryS: number;
  note: string;
}

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-faults-'));
  const cluster = await startOnFreePorts({
    dataDir,
    mavenRepo: path.join(root, '.tributary', 'maven'),
    logger,
    nodes: 3,
    heapOpts: '-Xms128m -Xmx384m',
  });
  const env: Record<string, string> = {
    KAFKA_BROKERS: cluster.brokers.join(','),
    WRITE_KEYS: 'faults',
    // Dedup horizon of 1–2 segments, over a minute per segment at this load (about 20 orders/s
    // per partition): longer than any retry after a fault.
    SEGMENT_SIZE: '2000',
    FLUSH_INTERVAL_MS: '500',
    SINK_BATCH_DELAY_MS: '200',
    INGEST_PRODUCE_TIMEOUT_MS: '8000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  const config = loadConfig({ ...process.env, ...env, DATA_DIR: dataDir });
  const kafka = createKafka({ config: config.kafka, logger, clientId: 'faults' });
  const admin = await connectAdmin(kafka);
  await ensureTopics(admin, pipelineTopics(6, config.topics), logger);
  const registry = await startEmbeddedRegistry({
    kafka,
    logger,
    metrics: createMetrics('registry'),
    port: 0,
    host: '127.0.0.1',
  });
  Object.assign(env, { SCHEMA_REGISTRY_URL: registry.url });
  const ingest = await startIngest({
    config,
    kafka,
    schemas: new SchemaClient(registry.url, logger),
    logger,
    metrics: createMetrics('ingest'),
    port: 0,
  });
  const sinkDir = path.join(dataDir, 'sink');
  const spawnProcessor = () => spawnTributary(['process'], env);
  const spawnSink = () => spawnEntry(sourceEntry('test/faults/faulty-sink.ts'), [], { ...env, DATA_DIR: sinkDir });
  let processor: ChildProcess = spawnProcessor();
  let sink: ChildProcess = spawnSink();
  const follower = new RollupFollower(kafka, config.topics.rollups, registry.url);
  await follower.start();
  const truth = new GroundTruth();
  const rows: Row[] = [];
  let seed = 100;

  // A client that keeps retrying 503s with the same eventIds until they are acknowledged: an
  // event Kafka took before a timed-out answer is then counted once (dedup), never left in doubt.
  const load = async (seconds: number, rate = RATE) =>
    runDemo({
      target: { via: 'http', url: ingest.url, writeKey: 'faults' },
      rate,
      durationS: seconds,
      truth,
      logger,
      seed: seed++,
      maxAttempts: 1000,
    });
  const rollupsMatch = () =>
    JSON.stringify(sorted(totalsView(follower.totals()))) === JSON.stringify(sorted(totalsView(truth.totals())));
  const sinkCaughtUp = () => groupCaughtUp(admin, config.topics.rollups, config.sink.groupId);
  const until = (cond: () => boolean | Promise<boolean>, timeoutMs = 180_000) => untilOr(cond, timeoutMs);

  async function phase(
    fault: string,
    inject: () => Promise<string | void>,
    converged: () => Promise<boolean> = async () => rollupsMatch(),
    rate = RATE,
  ) {
    const before = truth.size;
    const loading = load(LOAD_S, rate);
    await new Promise((r) => setTimeout(r, (LOAD_S * 1000) / 3));
    const note = (await inject()) ?? '';
    await loading;
    const restored = Date.now();
    const ok = await until(converged);
    const recoveryS = (Date.now() - restored) / 1000;
    const expected = eventCount(truth.totals());
    const actual = eventCount(follower.totals());
    rows.push({
      fault,
      inFlight: truth.size - before,
      lost: Math.max(0, expected - actual),
      doubled: Math.max(0, actual - expected),
      recoveryS: ok ? recoveryS : NaN,
      note,
    });
    process.stderr.write(
      `faults: ${fault} done (${ok ? `converged ${recoveryS.toFixed(1)} s after the load` : 'did NOT converge'}; expected ${expected} events, rollups hold ${actual})\n`,
    );
    if (!ok)
      process.stderr.write(
        `faults: expected ${JSON.stringify(sorted(totalsView(truth.totals())))}\nfaults: rollups  ${JSON.stringify(sorted(totalsView(follower.totals())))}\n`,
      );
  }

  try {
    await phase('warm-up (no fault)', async () => undefined);
    await phase('broker 2 SIGKILLed, restarted', async () => {
      await cluster.kill(2);
      await sleep(3000);
      await cluster.restart(2);
    });
    if (process.env.FAULTS_STOP_AFTER === 'broker')
      throw new Error('stopped after the broker phase (FAULTS_STOP_AFTER)');
    await phase('processor SIGKILLed, restarted', async () => {
      await killAndWait(processor, 'SIGKILL');
      processor = spawnProcessor();
    });
    // A backlog past the first segment of the orders partitions (orders are about 40% of the
    // demo's events), so that the declared rollup below has history to backfill: its handover is
    // the start of each partition's open segment.
    const backlogRate = Math.ceil((6 * Number(env.SEGMENT_SIZE) * 3) / LOAD_S);
    await phase(
      `backlog at ${backlogRate} events/s (no fault)`,
      async () => undefined,
      async () => rollupsMatch(),
      backlogRate,
    );
    // A declared rollup applied to the running pipeline, a broker SIGKILLed right after: its
    // backfill (offsets up to the handover) and its live path run while partitions move.
    const declaredMatch = () => {
      const want = Object.fromEntries(Object.entries(truth.totals().orders).map(([type, o]) => [type, o.count]));
      return JSON.stringify(sorted(follower.declaredTotals('orders_by_type', 1))) === JSON.stringify(sorted(want));
    };
    let killedAt = 0;
    let backfillTested = false;
    await phase(
      'rollup declared, broker 2 SIGKILLed during its backfill, restarted',
      async () => {
        const dir = path.join(dataDir, 'rollups');
        mkdirSync(dir, { recursive: true });
        writeFileSync(
          path.join(dir, 'orders_by_type.yaml'),
          'name: orders_by_type\nsource: orders\ndimensions: [type]\nmeasures: [count]\nwindow: 1d\n',
        );
        const applied = await runTributary(['rollups', 'apply', dir], env);
        if (applied.code !== 0) throw new Error(`rollups apply failed: ${applied.stderr}`);
        killedAt = Date.now();
        await cluster.kill(2);
        await sleep(3000);
        await cluster.restart(2);
      },
      async () => rollupsMatch() && declaredMatch(),
    );
    {
      // The phase tests a backfill only if there was history to backfill and it ended after the kill.
      const { book, log } = await openDeclarations({ kafka, logger, rollupsTopic: config.topics.rollups });
      await until(() => book.get('orders_by_type', 1)?.backfill !== undefined, 60_000);
      const v = book.get('orders_by_type', 1);
      await log.close();
      const backfilled = Object.entries(v?.record.handover ?? {}).reduce(
        (n, [p, h]) => n + h - (v?.record.from[p] ?? 0),
        0,
      );
      const doneAfterKill = v?.backfill ? (v.backfill.at - killedAt) / 1000 : NaN;
      const row = rows[rows.length - 1]!;
      row.note = `orders_by_type@1 applied mid-load: ${backfilled} offsets backfilled, done ${doneAfterKill.toFixed(1)} s after the kill`;
      backfillTested = backfilled > 0 && doneAfterKill > 0;
      if (!backfillTested) row.note += ': NOT a backfill under the fault';
    }
    await phase(
      'sink SIGKILLed, restarted',
      async () => {
        await killAndWait(sink, 'SIGKILL');
        sink = spawnSink();
      },
      async () => rollupsMatch() && (await sinkCaughtUp()),
    );
    await phase(
      'ClickHouse unavailable 5 s, restored',
      async () => {
        sink.kill('SIGUSR2');
        await sleep(5000);
        sink.kill('SIGUSR2');
        // SIGUSR2's default action ends a process: a sink still running has the injector installed.
        if (sink.exitCode !== null || sink.signalCode !== null)
          throw new Error('the sink died on SIGUSR2: its ClickHouse fault injector is not installed');
      },
      async () => rollupsMatch() && (await sinkCaughtUp()),
    );
    await phase('malformed requests and poison records', async () => {
      const bodies = [
        '{"type":',
        '[]',
        JSON.stringify({ type: 'signup' }),
        JSON.stringify({ type: 'order_placed', userId: 'u', occurredAt: 'never', orderId: 'o' }),
      ];
      let wrong = 0;
      for (let i = 0; i < 200; i++) {
        const res = await fetch(`${ingest.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer faults' },
          body: bodies[i % bodies.length],
        });
        if (res.status < 400 || res.status >= 500) wrong += 1;
      }
      const raw = await connectProducer(kafka);
      const dlqBefore = Number((await admin.fetchTopicOffsets(config.topics.dlq))[0]!.high);
      await raw.send({
        topic: config.topics.users,
        acks: -1,
        messages: Array.from({ length: 5 }, (_, i) => ({ key: `poison-${i}`, value: Buffer.from(`poison ${i}`) })),
      });
      await raw.disconnect();
      await until(
        async () => Number((await admin.fetchTopicOffsets(config.topics.dlq))[0]!.high) >= dlqBefore + 5,
        60_000,
      );
      const dlq = Number((await admin.fetchTopicOffsets(config.topics.dlq))[0]!.high) - dlqBefore;
      return `200 bad requests: ${wrong} not answered 4xx; 5 poison records: ${dlq} dead letters`;
    });

    // Final: the sink's ClickHouse totals, read after it stops (chDB allows one process).
    await until(async () => rollupsMatch() && (await sinkCaughtUp()));
    await killAndWait(sink, 'SIGTERM');
    const clickhouse = createClickHouse(config.clickhouse, sinkDir);
    const ch = await new DashboardQueries(clickhouse, config.clickhouse.database).totals({
      from: 0,
      to: Date.now() + 86_400_000,
    });
    const declaredRows = await clickhouse
      .query({
        query: `SELECT type, sum(count) AS n FROM ${config.clickhouse.database}.rollup_orders_by_type_v1 FINAL GROUP BY type`,
        format: 'JSONEachRow',
      })
      .then((r) => r.json<{ type: string; n: string }>());
    const expected = truth.totals();
    const declaredWant = Object.fromEntries(Object.entries(expected.orders).map(([type, o]) => [type, o.count]));
    const declaredGot = Object.fromEntries(declaredRows.map((r) => [r.type, Number(r.n)]));
    const declaredExact = JSON.stringify(sorted(declaredGot)) === JSON.stringify(sorted(declaredWant));
    const sum = (o: Record<string, number>) => Object.values(o).reduce((n, c) => n + c, 0);
    rows.push({
      fault: 'final ClickHouse totals of the declared rollup',
      inFlight: sum(declaredWant),
      lost: Math.max(0, sum(declaredWant) - sum(declaredGot)),
      doubled: Math.max(0, sum(declaredGot) - sum(declaredWant)),
      recoveryS: 0,
      note: declaredExact ? 'equal to the ground truth' : 'DIFFERENT from the ground truth',
    });
    await clickhouse.close();
    const exact = JSON.stringify(sorted(totalsView(ch))) === JSON.stringify(sorted(totalsView(expected)));
    rows.push({
      fault: 'final ClickHouse totals',
      inFlight: truth.size,
      lost: Math.max(0, eventCount(expected) - eventCount(ch)),
      doubled: Math.max(0, eventCount(ch) - eventCount(expected)),
      recoveryS: 0,
      note: exact ? 'equal to the ground truth' : 'DIFFERENT from the ground truth',
    });

    // Tells a producer's loss (acknowledged, never written) from a processor's: every acknowledged
    // eventId must be in events.*; copies from retried sends are expected and counted once.
    const schemas = new SchemaClient(registry.url, logger);
    const inKafka = new Map<string, number>();
    let poison = 0;
    for (const r of await readTopics(kafka, [config.topics.users, config.topics.orders])) {
      const event = await schemas.decode<{ eventId: string }>(r.value).catch(() => undefined);
      if (!event)
        poison += 1; // the poison records of the last phase
      else inKafka.set(event.eventId, (inKafka.get(event.eventId) ?? 0) + 1);
    }
    const missing = [...truth.eventIds()].filter((id) => !inKafka.has(id));
    const copies = [...inKafka.values()].reduce((n, c) => n + c - 1, 0);
    rows.push({
      fault: 'acknowledged events in Kafka (events.*)',
      inFlight: truth.size,
      lost: missing.length,
      doubled: 0,
      recoveryS: 0,
      note: `${[...inKafka.values()].reduce((n, c) => n + c, 0)} event records (+${poison} poison); ${copies} copies from retried sends, counted once by eventId${missing.length ? `; missing: ${missing.slice(0, 5).join(', ')}` : ''}`,
    });

    const header =
      '| fault | events in flight | events lost | events double-counted | recovery s | note |\n|---|---|---|---|---|---|';
    const table = rows
      .map(
        (r) =>
          `| ${r.fault} | ${r.inFlight} | ${r.lost} | ${r.doubled} | ${Number.isNaN(r.recoveryS) ? 'did not recover' : r.recoveryS.toFixed(1)} | ${r.note} |`,
      )
      .join('\n');
    process.stdout.write(
      `\n3 brokers (replication 3, min.insync.replicas 2), ${RATE} events/s over HTTP, ${LOAD_S} s per phase\n\n${header}\n${table}\n\n`,
    );
    const failed =
      rows.some((r) => r.lost > 0 || r.doubled > 0 || Number.isNaN(r.recoveryS)) ||
      !exact ||
      !declaredExact ||
      !backfillTested ||
      /[1-9]\d* not answered 4xx/.test(rows.find((r) => r.fault.startsWith('malformed'))?.note ?? '');
    process.stdout.write(failed ? 'FAULT SUITE FAILED\n' : 'fault suite: nothing lost, nothing counted twice\n');
    process.exitCode = failed ? 1 : 0;
  } finally {
    await follower.stop().catch(() => undefined);
    await killAndWait(processor);
    await killAndWait(sink);
    await ingest.close().catch(() => undefined);
    await registry.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await cluster.stop();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`faults: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
