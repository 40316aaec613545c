import type { Logger } from '../platform/logger';
import { TributaryError } from '../platform/errors';
import type { CheckedProducer, OutgoingRecord } from '../platform/kafka/client';
import { sleep } from '../platform/retry';

export interface RecordReceipt {
  topic: string;
  partition: number;
  offset: string;
}

interface Pending {
  records: OutgoingRecord[];
  bytes: number;
  resolve: (receipts: RecordReceipt[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces concurrent submissions into one Kafka send per linger window, so a thousand small
 * requests cost a handful of produce requests. A submission's records all go in the same send:
 * they succeed or fail together, and resolve with each record's partition and offset (offsets
 * within one send are consecutive per partition, in the order given).
 */
export class ProduceBatcher {
  private queue: Pending[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Bytes submitted and not yet acknowledged or failed. */
  inflightBytes = 0;

  constructor(
    private readonly producer: CheckedProducer,
    private readonly opts: { lingerMs: number; maxBatchBytes?: number; logger: Logger; onSent?: (records: number, ms: number) => void },
  ) {}

  submit(records: OutgoingRecord[]): Promise<RecordReceipt[]> {
    if (records.length === 0) return Promise.resolve([]);
    const bytes = records.reduce((n, r) => n + (r.value?.length ?? 0) + (r.key?.length ?? 0), 0);
    this.inflightBytes += bytes;
    return new Promise<RecordReceipt[]>((resolve, reject) => {
      this.queue.push({ records, bytes, resolve, reject });
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
    void this.send(batch);
  }

  private async send(batch: Pending[]): Promise<void> {
    const started = Date.now();
    try {
      const results = await this.producer.sendRecords(batch.flatMap((p) => p.records));
      const base = new Map(results.map((r) => [`${r.topicName}\u0000${r.partition}`, BigInt(r.baseOffset ?? '-1')]));
      const next = new Map<string, bigint>();
      // Same walk order as the messages were grouped in: per partition, in submission order.
      for (const p of batch) {
        const receipts = p.records.map((r) => {
          const k = `${r.topic}\u0000${r.partition}`;
          const offset = next.get(k) ?? base.get(k);
          if (offset === undefined || offset < 0n) throw new TributaryError(`no offset for ${r.topic}/${r.partition} in the produce response`, { retriable: true });
          next.set(k, offset + 1n);
          return { topic: r.topic, partition: r.partition, offset: offset.toString() };
        });
        p.resolve(receipts);
      }
      this.opts.onSent?.(batch.reduce((n, p) => n + p.records.length, 0), Date.now() - started);
    } catch (err) {
      this.opts.logger.warn({ err, requests: batch.length }, 'produce.failed');
      for (const p of batch) p.reject(err);
    }
  }

  /** Sends what is queued now and waits for the sends to finish. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inflightBytes > 0) await sleep(5);
  }
}
