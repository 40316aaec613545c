/**
 * The partition Kafka's Java client would choose for `key`: murmur2 of the UTF-8 bytes, made
 * positive, modulo the partition count. Used for every ingested event and every rollup row.
 * @see org.apache.kafka.clients.producer.internals.BuiltInPartitioner#partitionForKey
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2) on 32-bit integers, as Java
 * computes it: Math.imul is Java's int multiply, `>>>` its unsigned shift. kafkajs' own copy does
 * the same arithmetic on 64-bit Long objects, which made it a fifth of the processor's CPU (one
 * hash per rollup row). ASCII keys are hashed from their char codes, without a Buffer.
 */
export function murmur2(key: string): number {
  const n = key.length;
  let ascii = true;
  for (let i = 0; i < n; i++)
    if (key.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  if (!ascii) return murmur2Bytes(Buffer.from(key, 'utf8'));
  let h = SEED ^ n;
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    let k =
      key.charCodeAt(i) | (key.charCodeAt(i + 1) << 8) | (key.charCodeAt(i + 2) << 16) | (key.charCodeAt(i + 3) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = n & 3;
  if (tail === 3) h ^= key.charCodeAt(n4 + 2) << 16;
  if (tail >= 2) h ^= key.charCodeAt(n4 + 1) << 8;
  if (tail >= 1) h = Math.imul(h ^ key.charCodeAt(n4), M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

function murmur2Bytes(data: Buffer): number {
  const n = data.length;
  let h = SEED ^ n;
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const tail = n & 3;
  if (tail === 3) h ^= data[n4 + 2]! << 16;
  if (tail >= 2) h ^= data[n4 + 1]! << 8;
  if (tail >= 1) h = Math.imul(h ^ data[n4]!, M);
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}
