import { Partitioners } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();

/**
 * The partition Kafka's Java client would choose for `key`: murmur2 of the UTF-8 bytes, made
 * positive, modulo the partition count. Used to predict and check where an event lands.
 * @see org.apache.kafka.clients.producer.internals.BuiltInPartitioner#partitionForKey
 */
export function partitionForKey(key: string, partitions: number): number {
  return partitioner({ topic: '', partitionMetadata: metadataFor(partitions), message: { key, value: null } });
}

// Called for every ingested event and every rollup row: build the fake metadata once per count.
const metadataByCount = new Map<number, Parameters<typeof partitioner>[0]['partitionMetadata']>();
function metadataFor(partitions: number) {
  let metadata = metadataByCount.get(partitions);
  if (!metadata) {
    metadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, partitionErrorCode: 0, leader: 0, replicas: [0], isr: [0] }));
    metadataByCount.set(partitions, metadata);
  }
  return metadata;
}
