import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import type { Admin, Consumer, Kafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { SchemaClient } from '../schemas/client';
import { builtin } from '../schemas/declarations/builtin';
import { declaredRowKey, type DeclaredRow } from '../schemas/declarations/row';
import type { GroundTruth, Totals, TruthEvent } from '../producers/demo/ground-truth';
import type { DemoEvent } from '../producers/demo/shop';
import type { TributaryProducer } from '../producers/tributary-producer';
import { createTopics } from './kafka';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { freeRestartablePorts } from '../platform/local/ports';
import { sorted, unique, waitFor } from './helpers';

const execFileAsync = promisify(execFile);

export interface PipelineTopics {
  users: string;
  orders: string;
  custom: string;
  rollups: string;
  dlq: string;
}

/** Unique topics for one test's pipeline, laid out as the real ones. */
export async function createPipelineTopics(admin: Admin, partitions = 6): Promise<PipelineTopics> {
  const t = {
    users: unique('events.users'),
    orders: unique('events.orders'),
    custom: unique('events.custom'),
    rollups: unique('rollups'),
    dlq: unique('events.dlq'),
  };
  await createTopics(admin, [
    { topic: t.users, numPartitions: partitions, replicationFactor: 1 },
    { topic: t.orders, numPartitions: partitions, replicationFactor: 1 },
    { topic: t.custom, numPartitions: partitions, replicationFactor: 1 },
    {
      topic: t.rollups,
      numPartitions: partitions,
      replicationFactor: 1,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    },
    { topic: t.dlq, numPartitions: 1, replicationFactor: 1 },
  ]);
  return t;
}

export function pipelineEnv(
  topics: PipelineTopics,
  registryUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
    SCHEMA_REGISTRY_URL: registryUrl,
    TOPIC_USERS: topics.users,
    TOPIC_ORDERS: topics.orders,
    TOPIC_CUSTOM: topics.custom,
    TOPIC_ROLLUPS: topics.rollups,
    TOPIC_DLQ: topics.dlq,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

const ROOT = path.resolve(__dirname, '..');

/**
 * `node -r tsx/cjs <script>`: a TypeScript entry point run from source, so tests need no build
 * and always run the code under test. `tributary start` launches its stages the same way
 * (CliContext.self), so the whole tree of processes runs from source.
 */
export function sourceEntry(script: string): string[] {
  return [process.execPath, '-r', require.resolve('tsx/cjs'), path.join(ROOT, script)];
}

const STDERR_TAIL_CHARS = 4_000;
const stderrTails = new WeakMap<ChildProcess, { text: string }>();

/**
 * Runs `entry args…` as a child process (so a test can SIGKILL it); its logs reach stderr with
 * TEST_LOG_LEVEL, and the end of its stderr is kept for `exitReport`.
 */
export function spawnEntry(entry: string[], args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(entry[0]!, [...entry.slice(1), ...args], {
    // Ops servers on any free port, so stages of parallel tests never collide.
    env: { ...process.env, PROCESS_PORT: '0', SINK_PORT: '0', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const tail = { text: '' };
  stderrTails.set(child, tail);
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    tail.text = (tail.text + chunk).slice(-STDERR_TAIL_CHARS);
    if (process.env.TEST_LOG_LEVEL) process.stderr.write(chunk);
  });
  return child;
}

/** How `child` ended, with the end of its stderr: for a test's failure message. */
export function exitReport(child: ChildProcess): string {
  const tail = stderrTails.get(child)?.text.trim();
  return `exited (code ${child.exitCode}, signal ${child.signalCode})${tail ? `; the end of its stderr:\n${tail}` : ' with nothing on stderr'}`;
}

/** Waits for `url` (a stage's /readyz) to answer 200; fails at once, with `exitReport`, if `child` exits first. */
export async function untilReady(child: ChildProcess, url: string, what: string, timeoutMs: number): Promise<void> {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const state = await waitFor(
    async () => (exited() ? 'exited' : (await fetch(url).catch(() => undefined))?.status === 200 ? 'ready' : undefined),
    what,
    timeoutMs,
    250,
  );
  if (state === 'exited') throw new Error(`${what}: the process ${exitReport(child)}`);
}

/** Runs `tributary <command>` from source as a child process. */
export function spawnTributary(args: string[], env: Record<string, string>): ChildProcess {
  return spawnEntry(sourceEntry('cli/main.ts'), args, env);
}

/** Runs a one-shot `tributary <command>` from source to its end. */
export async function runTributary(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [node, ...rest] = sourceEntry('cli/main.ts');
  try {
    const { stdout, stderr } = await execFileAsync(node!, [...rest, ...args], {
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

export function killAndWait(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * Follows a rollups topic and keeps, per row key, the row with the highest rowVersion (the later
 * one on a tie), which is what ClickHouse's ReplacingMergeTree(version) keeps, and every set
 * delta (their union is what the sets tables hold).
 */
export class RollupFollower {
  /** Value rows of every rollup, built-in and declared, by declaredRowKey. */
  readonly declared = new Map<string, DeclaredRow>();
  /** Set deltas of every rollup. */
  readonly deltas: DeclaredRow[] = [];
  /**
   * With `checkDeterminism`: value rows that differ from an earlier row of the same key and
   * rowVersion. A value row is a pure function of the offsets up to its version, so whoever emits
   * it (a zombie, a recomputation) emits the same row: any entry here is a broken design, not a
   * late copy. (Set deltas depend on when the previous flush was; only their union is fixed.)
   */
  readonly divergent: string[] = [];
  private readonly byVersion = new Map<string, string>();
  private consumer: Consumer | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    private readonly registryUrl: string,
    private readonly options: { checkDeterminism?: boolean } = {},
  ) {}

  async start(): Promise<void> {
    const schemas = new SchemaClient(this.registryUrl, silentLogger);
    // The broker's minimum session timeout: after a crash-restart (a broker killed under it) the
    // new member's join waits for the old one to expire, which at kafkajs' 30 s default made the
    // follower, not the pipeline, the slowest part of the fault suite's broker phase.
    this.consumer = this.kafka.consumer({
      groupId: unique('follower'),
      maxWaitTimeInMs: 100,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const record = await schemas.decode<{ rows: DeclaredRow[] }>(m.value);
          for (const row of record.rows) {
            if (row.sets.length > 0) {
              this.deltas.push(row);
              continue;
            }
            if (this.options.checkDeterminism) this.checkDeterminism(row);
            const key = declaredRowKey(row);
            const known = this.declared.get(key);
            if (!known || row.rowVersion >= known.rowVersion) this.declared.set(key, row);
          }
        }
      },
    });
  }

  private checkDeterminism(row: DeclaredRow): void {
    const key = `${declaredRowKey(row)}@${row.rowVersion}`;
    const content = JSON.stringify([row.values, row.maxReceivedAt]);
    const earlier = this.byVersion.get(key);
    if (earlier === undefined) this.byVersion.set(key, content);
    else if (earlier !== content) this.divergent.push(`${key}: ${earlier} then ${content}`);
  }

  /** The built-in rollups' totals (what /api/totals answers), over every window, or those of windows `keep` accepts. */
  totals(keep: (windowStart: number) => boolean = () => true): Totals {
    return totalsFromRows([...this.declared.values(), ...this.deltas].filter((r) => keep(r.windowStart)));
  }

  /** A declared rollup version's first measure summed per value of its first dimension, over every window. */
  declaredTotals(rollup: string, version: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.declared.values()) {
      if (row.rollup !== rollup || row.version !== version) continue;
      const group = row.dims[0] ?? '';
      out[group] = (out[group] ?? 0) + (row.values[0] ?? 0);
    }
    return out;
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/** Reads a built-in rollup's row by its declaration's column names (rollups/builtin.yaml). */
function columnsOf(name: 'orders' | 'products' | 'users' | 'active_users') {
  const d = builtin(name);
  const dim = (column: string) => d.dimensions.findIndex((x) => x.column === column);
  const value = (column: string) => d.measures.filter((m) => m.fn !== 'distinct').findIndex((m) => m.column === column);
  return { dim, value };
}

/** How many events totals count: orders of every type and user events (active users are people, not events). */
export function eventCount(t: Pick<Totals, 'orders' | 'userEvents'>): number {
  return (
    Object.values(t.orders).reduce((n, o) => n + o.count, 0) + Object.values(t.userEvents).reduce((n, c) => n + c, 0)
  );
}

/** What the suites compare of two totals: orders, user events and active users, keys in a fixed order. */
export function totalsView(t: Pick<Totals, 'orders' | 'userEvents' | 'activeUsers'>): unknown {
  return sorted({ orders: t.orders, userEvents: t.userEvents, activeUsers: t.activeUsers });
}

/** Dashboard totals from the built-in rollups' rows (value rows at their newest, and set deltas): summed over segments, partitions and windows. */
export function totalsFromRows(rows: DeclaredRow[]): Totals {
  const t: Totals = { orders: {}, userEvents: {}, activeUsers: 0, products: {} };
  const users = new Set<string>();
  const [o, p, u] = [columnsOf('orders'), columnsOf('products'), columnsOf('users')];
  for (const r of rows) {
    if (r.version !== 1) continue;
    if (r.rollup === 'active_users') for (const id of r.sets[0] ?? []) users.add(id);
    else if (r.rollup === 'users') {
      const type = r.dims[u.dim('type')]!;
      t.userEvents[type] = (t.userEvents[type] ?? 0) + r.values[u.value('count')]!;
    } else if (r.rollup === 'orders') {
      const [type, currency] = [r.dims[o.dim('type')]!, r.dims[o.dim('currency')]!];
      const entry = (t.orders[type] ??= { count: 0, amountCents: {} });
      entry.count += r.values[o.value('count')]!;
      if (currency)
        entry.amountCents[currency] = (entry.amountCents[currency] ?? 0) + r.values[o.value('amount_cents')]!;
    } else if (r.rollup === 'products') {
      const sku = r.dims[p.dim('sku')]!;
      const entry = (t.products[sku] ??= { quantity: 0, revenueCents: 0 });
      entry.quantity += r.values[p.value('quantity')]!;
      entry.revenueCents += r.values[p.value('amount_cents')]!;
    }
  }
  t.activeUsers = users.size;
  // Types with a zero sum do not exist in the truth either.
  for (const x of Object.values(t.orders))
    for (const [c, v] of Object.entries(x.amountCents)) if (v === 0) delete x.amountCents[c];
  return t;
}

export type { TruthEvent };

/**
 * Events per send in produceDemo. Delivery is at least once: a send kafkajs retries after a
 * timeout may be written twice, and the processor drops a repeated eventId only within the
 * current and the previous segment (docs/processing.md). The tests' segments are 40 offsets, so one send
 * must put fewer than that on any partition (100 events over 6 partitions: ~17) for a retried
 * send to stay inside the window, as it does with production segment sizes.
 */
const DEMO_SEND_EVENTS = 100;

/** Produces demo events straight to Kafka and records them in the ground truth once acknowledged. */
export async function produceDemo(producer: TributaryProducer, events: DemoEvent[], truth: GroundTruth): Promise<void> {
  for (let i = 0; i < events.length; i += DEMO_SEND_EVENTS) {
    const slice = events.slice(i, i + DEMO_SEND_EVENTS);
    const users = slice.filter((e) => e.kind === 'user').map(({ kind: _k, ...e }) => e);
    const orders = slice.filter((e) => e.kind === 'order').map(({ kind: _k, ...e }) => e);
    if (users.length) await producer.sendUserEvents(users as never);
    if (orders.length) await producer.sendOrderEvents(orders as never);
    for (const e of slice) truth.add(e);
  }
}

export interface StartedPipeline {
  child: ChildProcess;
  ingest: string;
  dashboard: string;
  env: Record<string, string>;
}

/**
 * `tributary start [args]` as a child on the run's broker, with its own free ports, topics,
 * groups, ClickHouse database and DATA_DIR (those of `again`, to start the same pipeline a
 * second time); resolves once ingest and the dashboard are ready.
 */
export async function spawnStart(
  args: string[],
  writeKey: string,
  again?: StartedPipeline,
  extraEnv: Record<string, string> = {},
): Promise<StartedPipeline> {
  const env = again?.env ?? { ...(await startEnvFor(writeKey)), ...extraEnv };
  const child = spawnTributary(['start', ...args], env);
  const ingest = `http://localhost:${env.INGEST_PORT}`;
  const dashboard = `http://localhost:${env.DASHBOARD_PORT}`;
  await untilReady(child, `${ingest}/readyz`, 'tributary start: ingest ready', 120_000);
  await untilReady(child, `${dashboard}/readyz`, 'tributary start: dashboard ready', 60_000);
  return { child, ingest, dashboard, env };
}

/** `spawnStart`'s environment: free ports, its own topics, groups, database and DATA_DIR (kept for a second start). */
export async function startEnvFor(writeKey: string): Promise<Record<string, string>> {
  const first = await freeRestartablePorts(3);
  const [ingestPort, dashboardPort, registryPort] = [first, first + 1, first + 2];
  const id = unique('start').replace(/-/g, '_');
  return {
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tributary-start-')),
    KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
    INGEST_PORT: String(ingestPort),
    DASHBOARD_PORT: String(dashboardPort),
    REGISTRY_PORT: String(registryPort),
    WRITE_KEYS: writeKey,
    TOPIC_USERS: `${id}.users`,
    TOPIC_ORDERS: `${id}.orders`,
    TOPIC_CUSTOM: `${id}.custom`,
    TOPIC_ROLLUPS: `${id}.rollups`,
    TOPIC_DLQ: `${id}.dlq`,
    PROCESS_GROUP_ID: `${id}-rollups`,
    SINK_GROUP_ID: `${id}-sink`,
    CLICKHOUSE_DATABASE: id,
    FLUSH_INTERVAL_MS: '250',
    SINK_BATCH_DELAY_MS: '100',
  };
}

/**
 * Why a follower's totals differ from the input, per (partition, segment) of one input topic:
 * the events the processor should have counted there (the dedup rule: an eventId seen earlier in
 * the segment or in the previous one is a retry) against the follower's summed `count` of
 * `kind` rows, with the keys that hold them. For a failing exactness test's message.
 */
export async function explainMismatch(
  kafka: Kafka,
  registryUrl: string,
  topic: string,
  follower: RollupFollower,
  rollup: 'orders' | 'users',
  segmentSize: number,
): Promise<string> {
  const schemas = new SchemaClient(registryUrl, silentLogger);
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  await admin.disconnect();
  const ids = new Map<number, Array<{ offset: number; id: string }>>();
  const consumer = kafka.consumer({ groupId: unique('explain'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const r = await schemas.decode<{ eventId: string; origin?: string | null }>(message.value);
      (ids.get(partition) ?? ids.set(partition, []).get(partition)!).push({
        offset: Number(message.offset),
        id: `${r.origin ?? ''}|${r.eventId}`,
      });
      seen += 1;
    },
  });
  await waitFor(() => (seen >= total ? true : undefined), 'the input topic read', 60_000, 100).catch(() => undefined);
  await consumer.disconnect();
  const lines: string[] = [];
  for (const [partition, records] of [...ids].sort((a, b) => a[0] - b[0])) {
    records.sort((a, b) => a.offset - b.offset);
    const bySegment = new Map<number, string[]>();
    for (const r of records)
      (
        bySegment.get(Math.floor(r.offset / segmentSize)) ??
        bySegment.set(Math.floor(r.offset / segmentSize), []).get(Math.floor(r.offset / segmentSize))!
      ).push(r.id);
    for (const [segment, segIds] of bySegment) {
      const previous = new Set(bySegment.get(segment - 1) ?? []);
      const current = new Set<string>();
      let expected = 0;
      for (const id of segIds)
        if (!previous.has(id) && !current.has(id)) {
          current.add(id);
          expected += 1;
        }
      const count = columnsOf(rollup).value('count');
      const rows = [...follower.declared.entries()].filter(
        ([, row]) =>
          row.rollup === rollup &&
          row.version === 1 &&
          row.topic === topic &&
          row.partition === partition &&
          row.segment === segment,
      );
      const got = rows.reduce((n, [, row]) => n + row.values[count]!, 0);
      if (got !== expected) {
        lines.push(
          `${topic}/${partition} segment ${segment}: expected ${expected} (records ${segIds.length}), rows sum ${got}; rows: ${rows.map(([k, row]) => `${k.split('|').slice(6).join('|')} count ${row.values[count]} v${row.rowVersion}`).join('; ')}`,
        );
      }
    }
  }
  return lines.length ? lines.join('\n') : `every (partition, segment) of ${topic} matches`;
}
