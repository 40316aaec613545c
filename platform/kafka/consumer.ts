import type { Consumer, EachBatchPayload, Kafka, TopicPartitionOffsetAndMetadata } from 'kafkajs';

/**
 * Consumer retry options that never restart a consumer once `isClosing()` says it is being
 * stopped. TRICKY: a kafkajs consumer whose crash-restart (e.g. the broker went away) is still
 * connecting when disconnect() is called schedules another restart afterwards and retries a
 * dead broker forever, keeping its process alive (found in the registry's consumer).
 */
export function stopAwareRetry(isClosing: () => boolean) {
  return { retries: 5, restartOnFailure: async () => !isClosing() };
}

export interface GroupConsumerOptions {
  groupId: string;
  topics: string[];
  /** A killed member's partitions move to another after this long without a heartbeat. */
  sessionTimeoutMs: number;
  heartbeatIntervalMs?: number;
  maxBytesPerPartition?: number;
  maxWaitTimeInMs?: number;
  partitionsConsumedConcurrently?: number;
  /** False: the handler resolves offsets itself (the processor, which seeks). */
  eachBatchAutoResolve?: boolean;
  eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** Called with the new assignment (`topic → partitions`) after every rebalance. */
  onAssignment?: (assignment: Record<string, number[]>) => void;
}

/**
 * A consumer-group member the way every Tributary consumer runs one: from the beginning when the
 * group has no offsets, batches, no auto-commit (the stage commits what is durably done), and a
 * stop that keeps it from restarting (see `stopAwareRetry`). Used by the processor, the sink and
 * the registry's log reader.
 */
export class GroupConsumer {
  private closing = false;
  private consumer!: Consumer;

  private constructor() {}

  static async start(kafka: Kafka, options: GroupConsumerOptions): Promise<GroupConsumer> {
    const member = new GroupConsumer();
    const consumer = kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1000,
      ...(options.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
      ...(options.maxWaitTimeInMs !== undefined ? { maxWaitTimeInMs: options.maxWaitTimeInMs } : {}),
      retry: stopAwareRetry(() => member.closing),
    });
    member.consumer = consumer;
    if (options.onAssignment) {
      const onAssignment = options.onAssignment;
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => onAssignment(payload.memberAssignment));
    }
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: options.eachBatchAutoResolve ?? true,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
      eachBatch: options.eachBatch,
    });
    return member;
  }

  /** True once stop() or disconnect() began: work in hand should wind down, not retry. */
  get isClosing(): boolean {
    return this.closing;
  }

  commitOffsets(offsets: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    return this.consumer.commitOffsets(offsets);
  }

  seek(topic: string, partition: number, offset: number): void {
    this.consumer.seek({ topic, partition, offset: String(offset) });
  }

  /** Stops fetching and waits for the batch in hand; the member stays in the group until disconnect(). */
  async stop(): Promise<void> {
    this.closing = true;
    await this.consumer.stop();
  }

  async disconnect(): Promise<void> {
    this.closing = true;
    await this.consumer.disconnect();
  }

  /**
   * A stage's bounded stop: stops fetching, gives `finish` (the last flush) up to `withinMs`,
   * then aborts `work` so every retry in it gives up, and leaves the group. What was not
   * finished is uncommitted: the partitions' next owner does it again.
   */
  async stopWithin(withinMs: number, work: AbortController, finish: () => Promise<void>): Promise<void> {
    const deadline = setTimeout(() => work.abort(), withinMs);
    try {
      await this.stop();
      await finish().catch(() => undefined);
    } finally {
      clearTimeout(deadline);
      work.abort();
    }
    await this.disconnect();
  }
}
