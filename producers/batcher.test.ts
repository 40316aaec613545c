import { BatchLimits, RECORD_BATCH_OVERHEAD, recordBytes } from '../platform/kafka/batch-limit';
import { planSends } from './batcher';

const record = (topic: string, partition: number, valueBytes: number, key = 'k') => ({
  topic,
  partition,
  key,
  value: Buffer.alloc(valueBytes),
});

describe('planSends', () => {
  const limits = new BatchLimits(new Map([['small', 1000]]));

  it('keeps every partition of every send within its topic budget, records in order', () => {
    const records = Array.from({ length: 50 }, (_, i) => record(i % 3 === 0 ? 'small' : 'big', i % 2, 90 + i));
    const sends = planSends(records, limits);
    expect(sends.flat()).toEqual(records.map((_, i) => i));
    for (const send of sends) {
      const sums = new Map<string, number>();
      for (const i of send)
        sums.set(
          `${records[i]!.topic}/${records[i]!.partition}`,
          (sums.get(`${records[i]!.topic}/${records[i]!.partition}`) ?? 0) + recordBytes(records[i]!),
        );
      for (const [k, sum] of sums) expect(sum).toBeLessThanOrEqual(limits.budget(k.split('/')[0]!));
    }
    // 'small' takes ~1 KB a batch: its ~17 records of ~100-140 bytes need more than one send.
    expect(sends.length).toBeGreaterThan(1);
  });

  it('is one send when everything fits', () => {
    const records = Array.from({ length: 100 }, (_, i) => record('big', i % 6, 200));
    expect(planSends(records, limits)).toEqual([records.map((_, i) => i)]);
  });

  it("cuts one partition of 1,000 large events into batches under Kafka's default limit", () => {
    const limit = new BatchLimits().maxBatchBytes('events');
    const records = Array.from({ length: 1000 }, () => record('events', 4, 1100, 'u'.repeat(256)));
    const sends = planSends(records, new BatchLimits());
    const total = records.reduce((n, r) => n + recordBytes(r), 0);
    expect(total + RECORD_BATCH_OVERHEAD).toBeGreaterThan(limit);
    const perSend = Math.floor((limit - RECORD_BATCH_OVERHEAD) / recordBytes(records[0]!));
    expect(sends.length).toBe(Math.ceil(records.length / perSend));
    for (const send of sends)
      expect(send.reduce((n, i) => n + recordBytes(records[i]!), 0) + RECORD_BATCH_OVERHEAD).toBeLessThanOrEqual(limit);
  });

  it('says which records can never fit', () => {
    expect(limits.fits('small', record('small', 0, 900))).toBe(true);
    expect(limits.fits('small', record('small', 0, 1000))).toBe(false);
    expect(limits.fits('other', record('other', 0, 1000))).toBe(true);
  });
});
