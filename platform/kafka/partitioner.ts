import { Partitioners } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();

/**
 * The partition Kafka's Java client would choose for `key`: murmur2 of the UTF-8 bytes, made
 * positive, modulo the partition count. Used to predict and check where an event lands.
 * @see org.apache.kafka.clients.producer.internals.BuiltInPartitioner#partitionForKey
 */
export function partitionForKey(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, partitionErrorCode: 0, leader: 0, replicas: [0], isr: [0] }));
  return partitioner({ topic: '', partitionMetadata, message: { key, value: null } });
}
