import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../cli/config';
import { createLogger, quietHarmlessWarnings } from '../../platform/logger';
import { createMetrics } from '../../platform/metrics';
import { connectAdmin, createKafka } from '../../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../../platform/kafka/topics';
import { LocalKafka } from '../../platform/local/kafka';
import { sleep } from '../../platform/retry';
import { startEmbeddedRegistry } from '../../schemas/registry/embedded';
import { SchemaClient } from '../../schemas/client';
import { runDemo } from '../../producers/demo/run';
import { GroundTruth, type Totals } from '../../producers/demo/ground-truth';
import { groupCaughtUp, readTopics } from '../kafka';
import { RollupFollower, sourceEntry, eventCount, totalsView } from '../pipeline';
import { until } from '../helpers';
import { CONTROL, HostNetwork } from './network';
import { HostStage } from './stage';
import { Observer, type Window } from './observer';

/**
 * `npm run test:hosts`: the pipeline spread over hosts of their own (network namespaces on one
 * bridge), under steady load through ingest, with networks cut and processes frozen mid-stream.
 * Hosts: b1–b3 (a 3-node Kafka cluster, replication 3, min.insync.replicas 2), p1 and p2 (a
 * processor each), sink (the sink with the dashboard), ingest; the harness itself (load, the
 * schema registry, the observers) is the bridge's own address. Each scenario ends only when
 * ClickHouse's totals, read through the dashboard's /api/totals, equal the ground-truth ledger of
 * acknowledged events and every stage is ready. Prints a table; exits 1 if anything was lost,
 * counted twice, did not recover or crashed. Where namespaces cannot be made it says so in one
 * line and skips.
 *
 * HOSTS_RATE (events/s, 200), HOSTS_CUT_SECONDS (how long each fault lasts, 15: past the groups'
 * 10 s session timeout), HOSTS_SCENARIOS (e.g. `1,2`: a subset), HOSTS_BREAK=dedup (runs a
 * test-only processor without the duplicate rule, to show the harness fails when exactness is
 * broken), HOSTS_LOG_LEVEL (the stages', into their log files; info).
 */
const RATE = Number(process.env.HOSTS_RATE ?? 200);
const CUT_S = Number(process.env.HOSTS_CUT_SECONDS ?? 15);
const ONLY = process.env.HOSTS_SCENARIOS?.split(',').map(Number);
const BREAK = process.env.HOSTS_BREAK;
const INJECT_AFTER_S = 4;
const TAIL_S = 6;
const logger = createLogger(process.env.LOG_LEVEL ?? 'error', 'hosts');

interface Row {
  n: number;
  scenario: string;
  acknowledged: number;
  /** Since the start, as `counted`. */
  acknowledgedTotal: number;
  counted: number;
  lost: number;
  doubled: number;
  window: Window;
  /** Seconds from the load's end to ClickHouse's totals equal to the ledger (and every stage ready). */
  exactS: number | undefined;
  note: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

async function main(): Promise<number> {
  quietHarmlessWarnings();
  const unavailable = await HostNetwork.unavailable();
  if (unavailable) {
    process.stdout.write(`test:hosts: skipped: ${unavailable}\n`);
    return 0;
  }
  const root = path.resolve(__dirname, '..', '..');
  const runDir = path.join(root, '.tributary', 'hosts', `run-${process.pid}`);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const net = await HostNetwork.create(['b1', 'b2', 'b3', 'p1', 'p2', 'sink', 'ingest']);
  // Ctrl-C: the stages and brokers go with this process (tethered); the namespaces go here.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void net.remove().finally(() => process.exit(130)));
  const control = net.host(CONTROL).address;
  process.stderr.write(`hosts: bridge ${net.subnet}.0/24; logs under ${runDir}\n`);
  const stages: HostStage[] = [];
  let cluster: LocalKafka | undefined;
  let failed = true;
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    cluster = await LocalKafka.start({
      dataDir: runDir,
      mavenRepo: path.join(root, '.tributary', 'maven'),
      logger,
      nodes: 3,
      port: 9092,
      heapOpts: '-Xms128m -Xmx384m',
      placement: ['b1', 'b2', 'b3'].map((h) => ({ address: net.host(h).address, launcher: net.host(h).launcher })),
    });
    const config = loadConfig({ KAFKA_BROKERS: cluster.brokers.join(','), DATA_DIR: runDir });
    const kafka = createKafka({ config: config.kafka, logger, clientId: 'hosts' });
    const admin = await connectAdmin(kafka);
    cleanups.push(() => admin.disconnect());
    await ensureTopics(admin, pipelineTopics(6, config.topics), logger);
    const registry = await startEmbeddedRegistry({
      kafka,
      logger,
      metrics: createMetrics('registry'),
      port: 0,
      host: control,
    });
    cleanups.push(() => registry.close());

    const base: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      KAFKA_BROKERS: cluster.brokers.join(','),
      SCHEMA_REGISTRY_URL: registry.url,
      WRITE_KEYS: 'hosts',
      // About a minute of load per segment and partition: the dedup horizon outlasts any retry.
      SEGMENT_SIZE: '2000',
      FLUSH_INTERVAL_MS: '500',
      SINK_BATCH_DELAY_MS: '200',
      INGEST_PRODUCE_TIMEOUT_MS: '5000',
      LOG_LEVEL: process.env.HOSTS_LOG_LEVEL ?? 'info',
      LOG_FORMAT: 'json',
    };
    const stage = (
      name: string,
      hostName: string,
      argv: string[],
      port: number,
      extra: Record<string, string> = {},
    ) => {
      const host = net.host(hostName);
      const dir = path.join(runDir, hostName);
      mkdirSync(dir, { recursive: true });
      const s = new HostStage(
        name,
        host,
        argv,
        { ...base, BIND_HOST: host.address, DATA_DIR: dir, ...extra },
        `http://${host.address}:${port}/readyz`,
        `http://${host.address}:${port}/metrics`,
        path.join(dir, `${name}.log`),
      );
      stages.push(s);
      return s;
    };
    const cli = sourceEntry('cli/main.ts');
    const processorEntry = BREAK === 'dedup' ? sourceEntry('test/hosts/no-dedup-processor.ts') : [...cli, 'process'];
    if (BREAK && BREAK !== 'dedup') throw new Error(`HOSTS_BREAK=${BREAK}: the one switch is dedup`);
    const p1 = stage('p1', 'p1', processorEntry, 8092);
    const p2 = stage('p2', 'p2', processorEntry, 8092);
    const sink = stage('sink', 'sink', [...cli, 'sink', '--with-dashboard'], 3000);
    const ingest = stage('ingest', 'ingest', [...cli, 'ingest'], 8080);
    const dashboard = `http://${sink.host.address}:3000`;
    const ingestUrl = `http://${ingest.host.address}:8080`;
    for (const s of stages) s.start();
    for (const s of stages) {
      if (!(await until(async () => !s.running || (await s.ready()), 180_000)) || !s.running)
        throw new Error(`${s.name} on ${s.host.address} did not become ready; its log ends:\n${s.tail()}`);
    }
    process.stderr.write(`hosts: every stage ready (${stages.map((s) => `${s.name} ${s.host.address}`).join(', ')})\n`);

    const follower = new RollupFollower(kafka, config.topics.rollups, registry.url, { checkDeterminism: true });
    await follower.start();
    cleanups.unshift(() => follower.stop());
    const observer = new Observer(admin, () => stages, {
      process: {
        group: config.processor.groupId,
        topics: [config.topics.users, config.topics.orders, config.topics.custom],
      },
      sink: { group: config.sink.groupId, topics: [config.topics.rollups] },
    });
    observer.start();
    cleanups.unshift(() => observer.stop());

    const truth = new GroundTruth();
    let seed = 500;
    const pipelineTopicNames = [
      config.topics.users,
      config.topics.orders,
      config.topics.custom,
      config.topics.rollups,
      config.topics.dlq,
    ];
    const isrFull = async () => {
      const meta = await admin.fetchTopicMetadata({ topics: pipelineTopicNames });
      return meta.topics.every((t) => t.partitions.every((p) => p.isr.length === 3));
    };
    const sinkCaughtUp = () => groupCaughtUp(admin, config.topics.rollups, config.sink.groupId);
    const clickhouseTotals = async (): Promise<Totals | undefined> => {
      const now = Date.now();
      const res = await fetch(
        `${dashboard}/api/totals?from=${new Date(now - 300 * 86_400_000).toISOString()}&to=${new Date(now + 86_400_000).toISOString()}`,
        { signal: AbortSignal.timeout(10_000) },
      );
      return res.status === 200 ? ((await res.json()) as Totals) : undefined;
    };
    const converged = async () => {
      try {
        if (stages.some((s) => !s.running)) return false;
        if (!same(totalsView(follower.totals()), totalsView(truth.totals()))) return false;
        if (!(await sinkCaughtUp()) || !(await isrFull())) return false;
        if (!(await Promise.all(stages.map((s) => s.ready()))).every(Boolean)) return false;
        const ch = await clickhouseTotals();
        return ch !== undefined && same(totalsView(ch), totalsView(truth.totals()));
      } catch {
        return false;
      }
    };

    const rows: Row[] = [];
    const scenario = async (
      n: number,
      name: string,
      loadS: number,
      inject: () => Promise<(answers: Record<string, number>) => string>,
    ) => {
      if (ONLY && !ONLY.includes(n)) return;
      const before = truth.size;
      const loading = runDemo({
        target: { via: 'http', url: ingestUrl, writeKey: 'hosts' },
        rate: RATE,
        durationS: loadS,
        truth,
        logger,
        seed: seed++,
        // Retries 503s with the same eventIds until acknowledged: an event Kafka took before a
        // timed-out answer is counted once (dedup), never left in doubt.
        maxAttempts: 1000,
      });
      await sleep(INJECT_AFTER_S * 1000);
      const injected = Date.now();
      const describe = await inject();
      const healed = Date.now();
      const load = await loading;
      const loaded = Date.now();
      const ok = await until(converged, 240_000, 500);
      const done = Date.now();
      await sleep(1000); // the observer's samples of the converged state
      const ch = (await clickhouseTotals().catch(() => undefined)) ?? { orders: {}, userEvents: {}, activeUsers: 0 };
      const expected = eventCount(truth.totals());
      const counted = eventCount(ch);
      rows.push({
        n,
        scenario: name,
        acknowledged: truth.size - before,
        acknowledgedTotal: truth.size,
        counted,
        lost: Math.max(0, expected - counted),
        doubled: Math.max(0, counted - expected),
        window: observer.window(injected, healed, done + 1000, RATE),
        exactS: ok ? (done - loaded) / 1000 : undefined,
        note: describe(load.answers),
      });
      process.stderr.write(
        `hosts: ${n}. ${name}: ${ok ? `exact ${((done - loaded) / 1000).toFixed(1)} s after the load` : 'did NOT converge'} (ledger ${expected} events, ClickHouse ${counted})\n`,
      );
      if (!ok) {
        process.stderr.write(`hosts: ledger     ${JSON.stringify(totalsView(truth.totals()))}\n`);
        process.stderr.write(`hosts: follower   ${JSON.stringify(totalsView(follower.totals()))}\n`);
        process.stderr.write(`hosts: ClickHouse ${JSON.stringify(totalsView(ch))}\n`);
      }
    };
    const answersOf = (a: Record<string, number>) =>
      Object.entries(a)
        .sort()
        .map(([status, n]) => `${n}× ${status}`)
        .join(', ');
    const cut = () => sleep(CUT_S * 1000);

    await scenario(
      1,
      `processor host p1 cut off from every host for ${CUT_S} s, healed`,
      INJECT_AFTER_S + CUT_S + TAIL_S,
      async () => {
        const refusedBefore = p1.logLines('processor.commit.skipped');
        await net.isolate('p1');
        await cut();
        await net.heal();
        return () => {
          const refused = p1.logLines('processor.commit.skipped') - refusedBefore;
          return `p2 took p1's partitions (lag at the heal: see the observer table); back, p1's stale commits refused by the group: ${refused}`;
        };
      },
    );

    await scenario(
      2,
      `processor p2 frozen (SIGSTOP) for ${CUT_S} s, resumed (a zombie)`,
      INJECT_AFTER_S + CUT_S + TAIL_S,
      async () => {
        const held = (await p2.metrics(['tributary_process_open_rows']))?.tributary_process_open_rows;
        const refusedBefore = p2.logLines('processor.commit.skipped');
        p2.signal('SIGSTOP');
        await cut();
        p2.signal('SIGCONT');
        return () =>
          `frozen holding ${held ?? '?'} rows in memory; resumed, it flushed them (identical rows: the determinism check) and its commits were refused: ${p2.logLines('processor.commit.skipped') - refusedBefore}`;
      },
    );

    await scenario(
      3,
      `broker host leading most partitions cut off for ${CUT_S} s, healed`,
      INJECT_AFTER_S + CUT_S + TAIL_S,
      async () => {
        const meta = await admin.fetchTopicMetadata({ topics: pipelineTopicNames });
        const leads = new Map<number, number>();
        for (const t of meta.topics) for (const p of t.partitions) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
        const [leader, led] = [...leads].sort((a, b) => b[1] - a[1])[0]!;
        const total = meta.topics.reduce((n, t) => n + t.partitions.length, 0);
        const cutAt = Date.now();
        await net.isolate(`b${leader}`);
        // Asked of the other brokers, once KRaft fenced the cut one (broker.session.timeout.ms, 9 s).
        await sleep((CUT_S - 4) * 1000);
        const others = createKafka({
          config: { ...config.kafka, brokers: cluster!.brokers.filter((_, i) => i + 1 !== leader) },
          logger,
          clientId: 'hosts-leaders',
        });
        const during = await Promise.race([
          connectAdmin(others).then(async (a) => {
            try {
              return await a.fetchTopicMetadata({ topics: pipelineTopicNames });
            } finally {
              await a.disconnect();
            }
          }),
          sleep(3500).then(() => undefined),
        ]).catch(() => undefined);
        const stayed = during?.topics.reduce((n, t) => n + t.partitions.filter((p) => p.leader === leader).length, 0);
        await sleep(Math.max(0, CUT_S * 1000 - (Date.now() - cutAt)));
        await net.heal();
        return () =>
          `b${leader} led ${led} of ${total} partitions; ${CUT_S - 4} s into the cut it led ${stayed ?? '? (no metadata in time)'}; its replicas were back in every ISR before the end`;
      },
    );

    await scenario(
      4,
      `ingest cut off from the brokers for ${CUT_S} s mid-send, healed`,
      INJECT_AFTER_S + CUT_S + TAIL_S,
      async () => {
        const starts = ingest.starts;
        await net.partition('ingest', ['b1', 'b2', 'b3']);
        await cut();
        await net.heal();
        return (answers) =>
          `answers: ${answersOf(answers)}; every 503 retried until acknowledged; ingest ${ingest.starts === starts && ingest.crashes.length === 0 ? 'recovered by itself (same process)' : 'was RESTARTED'}`;
      },
    );

    await scenario(
      5,
      `sink host cut off from the brokers for ${CUT_S} s, healed`,
      INJECT_AFTER_S + CUT_S + TAIL_S,
      async () => {
        const refusedBefore = sink.logLines('sink.commit.skipped');
        await net.partition('sink', ['b1', 'b2', 'b3']);
        await sleep((CUT_S * 1000) / 2);
        const during = await clickhouseTotals().catch(() => undefined);
        await sleep((CUT_S * 1000) / 2);
        await net.heal();
        return () =>
          `mid-cut /api/totals ${during ? `answered from ClickHouse (${eventCount(during)} events so far)` : 'did NOT answer'}; sink commits refused after the heal: ${sink.logLines('sink.commit.skipped') - refusedBefore}`;
      },
    );

    await scenario(6, 'rolling restart of p1, p2 and the sink, one host at a time', 45, async () => {
      const took: string[] = [];
      for (const s of [p1, p2, sink]) {
        const t0 = Date.now();
        await s.stop('SIGTERM');
        s.start();
        if (!(await until(() => s.ready(), 120_000, 250))) throw new Error(`${s.name} did not come back: ${s.tail()}`);
        took.push(`${s.name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      return () => `SIGTERM to ready: ${took.join(', ')}`;
    });

    // Every event ingest answered 202 for is in Kafka (a loss there would be ingest's, not the processor's).
    const schemas = new SchemaClient(registry.url, logger);
    const inKafka = new Set<string>();
    for (const r of await readTopics(kafka, [config.topics.users, config.topics.orders])) {
      const event = await schemas.decode<{ eventId: string }>(r.value).catch(() => undefined);
      if (event) inKafka.add(event.eventId);
    }
    const missing = [...truth.eventIds()].filter((id) => !inKafka.has(id));
    const crashes = stages.flatMap((s) => s.crashes);

    writeFileSync(path.join(runDir, 'samples.jsonl'), observer.samples.map((x) => JSON.stringify(x)).join('\n'));
    const fmt = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
    process.stdout.write(
      [
        '',
        `7 hosts on one bridge: b1–b3 Kafka (replication 3, min.insync.replicas 2), p1 p2 processors, sink (+ dashboard), ingest; ${RATE} events/s over HTTP; faults last ${CUT_S} s${BREAK ? `; HOSTS_BREAK=${BREAK}` : ''}`,
        '',
        '| scenario | load | events acknowledged (in it / in all) | counted in ClickHouse | lost | double-counted | recovery s | exact s after the load | note |',
        '|---|---|---|---|---|---|---|---|---|',
        ...rows.map(
          (r) =>
            `| ${r.n}. ${r.scenario} | ${RATE}/s | ${r.acknowledged} / ${r.acknowledgedTotal} | ${r.counted} | ${r.lost} | ${r.doubled} | ${fmt(r.window.recoverS)} | ${r.exactS === undefined ? 'never' : r.exactS.toFixed(1)} | ${r.note} |`,
        ),
        '',
        'What an operator saw (each /readyz and `tributary lag`, sampled twice a second from the harness host):',
        '',
        '| scenario | first /readyz failure | detected after s | processor lag peak | taken over after s | processor lag at the heal | sink lag peak | recovered s after the heal |',
        '|---|---|---|---|---|---|---|---|',
        ...rows.map(
          (r) =>
            `| ${r.n} | ${r.window.detect ? r.window.detect.stages.join(', ') : 'none'} | ${fmt(r.window.detect?.afterS)} | ${r.window.processLagPeak} | ${fmt(r.window.failoverS)} | ${r.window.processLagAtHeal ?? '—'} | ${r.window.sinkLagPeak} | ${fmt(r.window.recoverS)} |`,
        ),
        '',
        `acknowledged events missing from Kafka: ${missing.length}${missing.length ? ` (${missing.slice(0, 5).join(', ')})` : ''}`,
        `rows that differ from an earlier row of the same key and version: ${follower.divergent.length}${follower.divergent.length ? ` (${follower.divergent.slice(0, 3).join('; ')})` : ''}`,
        `committed offsets that moved back: ${observer.backwards.length}${observer.backwards.length ? ` (${observer.backwards.slice(0, 3).join('; ')})` : ''}`,
        `stages that crashed: ${crashes.length}${crashes.length ? ` (${crashes.join('; ')})` : ''}`,
        '',
      ].join('\n'),
    );
    failed =
      rows.some((r) => r.lost > 0 || r.doubled > 0 || r.exactS === undefined) ||
      missing.length > 0 ||
      follower.divergent.length > 0 ||
      observer.backwards.length > 0 ||
      crashes.length > 0 ||
      rows.length === 0;
    process.stdout.write(failed ? 'HOSTS SUITE FAILED\n' : 'hosts suite: nothing lost, nothing counted twice\n');
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    await Promise.all(stages.map((s) => s.stop()));
    await cluster?.stop();
    await net.remove();
    if (failed || process.env.HOSTS_KEEP_LOGS) {
      process.stderr.write(
        `hosts: logs kept per host in ${runDir} (brokers: ${path.join(runDir, 'kafka-cluster')}/node-N.log)\n`,
      );
      for (const s of stages) process.stderr.write(`--- ${s.name} (${s.host.address}) ${s.logFile}\n${s.tail(8)}\n`);
    } else rmSync(runDir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`hosts: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
