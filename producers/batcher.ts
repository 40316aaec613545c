import type { Logger } from '../platform/logger';
import { TributaryError } from '../platform/errors';
import { refusedByKafka, type CheckedProducer, type OutgoingRecord } from '../platform/kafka/client';
import { BatchLimits, recordBytes } from '../platform/kafka/batch-limit';
import { sleep } from '../platform/retry';

export interface RecordReceipt {
  topic: string;
  partition: number;
  offset: string;
}

interface Pending {
  records: OutgoingRecord[];
  bytes: number;
  receipts: Array<RecordReceipt | undefined>;
  /** Sends that still carry some of its records. */
  parts: number;
  failed: boolean;
  resolve: (receipts: RecordReceipt[]) => void;
  reject: (err: unknown) => void;
}

/** One record of one submission, in a send. */
interface Entry {
  pending: Pending;
  index: number;
}

/**
 * Splits records, in order, into consecutive sends such that no partition's records in one send
 * add up to more than its topic's budget (recordBytes against BatchLimits.budget): kafkajs
 * writes a partition's messages of one send as one record batch, and the broker refuses a batch
 * over the topic's `max.message.bytes` for that whole partition. Returns each send's indices. A
 * record over the budget by itself goes alone with whatever else fits (it is refused at the edge
 * before it gets here: BatchLimits.fits).
 */
export function planSends(
  records: ReadonlyArray<Pick<OutgoingRecord, 'topic' | 'partition' | 'key' | 'value'>>,
  limits: BatchLimits,
): number[][] {
  const sends: number[][] = [];
  let current: number[] = [];
  let bytes = new Map<string, number>();
  records.forEach((r, i) => {
    const k = `${r.topic}\u0000${r.partition}`;
    const size = recordBytes(r);
    const sum = bytes.get(k);
    if (sum !== undefined && sum + size > limits.budget(r.topic)) {
      sends.push(current);
      current = [];
      bytes = new Map();
    }
    current.push(i);
    bytes.set(k, (bytes.get(k) ?? 0) + size);
  });
  if (current.length > 0) sends.push(current);
  return sends;
}

/**
 * Coalesces concurrent submissions into as few Kafka sends per linger window as the topics'
 * batch limits allow, so a thousand small requests cost a handful of produce requests. A
 * submission resolves, with each record's partition and offset, once every send carrying its
 * records was acknowledged, and fails if any of them failed. A send that Kafka refuses for good
 * (not an outage: a record it will never take) is tried again once per submission alone, so
 * only the submissions whose records were refused fail; those written twice are dropped as
 * repeated eventIds downstream.
 */
export class ProduceBatcher {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Bytes submitted and not yet acknowledged or failed. */
  inflightBytes = 0;
  readonly limits: BatchLimits;

  constructor(
    private readonly producer: CheckedProducer,
    private readonly opts: {
      lingerMs: number;
      maxBatchBytes?: number;
      limits?: BatchLimits;
      logger: Logger;
      onSent?: (records: number, ms: number) => void;
    },
  ) {
    this.limits = opts.limits ?? new BatchLimits();
  }

  submit(records: OutgoingRecord[]): Promise<RecordReceipt[]> {
    if (records.length === 0) return Promise.resolve([]);
    const bytes = records.reduce((n, r) => n + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0);
    this.inflightBytes += bytes;
    return new Promise<RecordReceipt[]>((resolve, reject) => {
      this.queue.push({
        records,
        bytes,
        receipts: new Array<RecordReceipt | undefined>(records.length),
        parts: 0,
        failed: false,
        resolve,
        reject,
      });
      this.queuedBytes += bytes;
      if (this.queuedBytes >= (this.opts.maxBatchBytes ?? 1024 * 1024)) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.lingerMs);
    }).finally(() => {
      this.inflightBytes -= bytes;
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    const entries = batch.flatMap((pending) => pending.records.map((_, index) => ({ pending, index })));
    this.sendAll(entries, true);
  }

  /** Plans `entries` into sends and starts them; `isolate`: a send refused for good is retried per submission. */
  private sendAll(entries: Entry[], isolate: boolean): void {
    const sends = planSends(
      entries.map((e) => e.pending.records[e.index]!),
      this.limits,
    ).map((indices) => indices.map((i) => entries[i]!));
    for (const send of sends) for (const p of new Set(send.map((e) => e.pending))) p.parts++;
    for (const send of sends) void this.send(send, isolate);
  }

  private async send(entries: Entry[], isolate: boolean): Promise<void> {
    const started = Date.now();
    const pendings = [...new Set(entries.map((e) => e.pending))];
    try {
      const results = await this.producer.sendRecords(entries.map((e) => e.pending.records[e.index]!));
      const base = new Map(results.map((r) => [`${r.topicName}\u0000${r.partition}`, BigInt(r.baseOffset ?? '-1')]));
      const next = new Map<string, bigint>();
      // Same walk order as the messages were grouped in: per partition, in submission order.
      const receipts = entries.map(({ pending, index }) => {
        const r = pending.records[index]!;
        const k = `${r.topic}\u0000${r.partition}`;
        const offset = next.get(k) ?? base.get(k);
        if (offset === undefined || offset < 0n)
          throw new TributaryError('unavailable', `no offset for ${r.topic}/${r.partition} in the produce response`, {
            retriable: true,
          });
        next.set(k, offset + 1n);
        return { topic: r.topic, partition: r.partition, offset: offset.toString() };
      });
      entries.forEach(({ pending, index }, i) => {
        pending.receipts[index] = receipts[i];
      });
      for (const p of pendings) this.settle(p);
      this.opts.onSent?.(entries.length, Date.now() - started);
    } catch (err) {
      if (isolate && pendings.length > 1 && refusedByKafka(err)) {
        // Kafka refused something it will never take: find whose, by sending each submission alone.
        this.opts.logger.warn({ err, requests: pendings.length }, 'produce.refused.isolating');
        for (const p of pendings) p.parts--;
        for (const p of pendings)
          this.sendAll(
            entries.filter((e) => e.pending === p),
            false,
          );
        return;
      }
      this.opts.logger.warn({ err, requests: pendings.length }, 'produce.failed');
      for (const p of pendings) this.settle(p, err);
    }
  }

  /** One send carrying some of `p`'s records ended; `p` settles when its last one did, or at its first failure. */
  private settle(p: Pending, err?: unknown): void {
    p.parts--;
    if (p.failed) return;
    if (err !== undefined) {
      p.failed = true;
      p.reject(err);
    } else if (p.parts === 0) {
      p.resolve(p.receipts as RecordReceipt[]);
    }
  }

  /** Sends what is queued now and waits for the sends to finish. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inflightBytes > 0) await sleep(5);
  }
}
