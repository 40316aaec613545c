import { Partitioners } from 'kafkajs';
import { partitionForKey } from './partitioner';

/** The fast murmur2 against kafkajs' (itself checked against Java's in the integration tests: test/kafka.ts javaPartitions). */
describe('partitionForKey', () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const metadata = (n: number) =>
    Array.from({ length: n }, (_, i) => ({
      partitionId: i,
      partitionErrorCode: 0,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));

  it("agrees with kafkajs' murmur2 partitioner on ASCII, multi-byte and every tail length", () => {
    const keys = [
      '',
      'a',
      'ab',
      'abc',
      'abcd',
      'u-ü-42',
      '用户-7',
      '😀',
      'key with spaces',
      'orders|events.orders|3|12|0|1795000000000|country=2:DE',
    ];
    for (let i = 0; i < 5000; i++) keys.push(`user-${i}-${(i * 2654435761) % 1e9}${'é'.repeat(i % 3)}`);
    for (const partitions of [1, 6, 7, 64]) {
      const md = metadata(partitions);
      for (const key of keys)
        expect([key, partitionForKey(key, partitions)]).toEqual([
          key,
          kafkajs({ topic: '', partitionMetadata: md, message: { key, value: null } }),
        ]);
    }
  });
});
