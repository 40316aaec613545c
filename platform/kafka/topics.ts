import type { Admin, ITopicConfig } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';
import type { Logger } from '../logger';
import { isRetriable, TributaryError } from '../errors';
import { retry } from '../retry';

/** Topic names of the public contract (docs/operations.md#topics). */
export const TOPICS = {
  users: 'events.users',
  orders: 'events.orders',
  custom: 'events.custom',
  rollups: 'rollups',
  dlq: 'events.dlq',
} as const;

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Configs Tributary relies on; checked on existing topics too. */
  configs: Record<string, string>;
}

/** The topics Tributary provisions (names from config; the contract's by default). */
export function pipelineTopics(
  eventPartitions: number,
  topics: { users: string; orders: string; custom?: string; rollups: string; dlq: string } = TOPICS,
  eventRetentionMs = 7 * 24 * 3600 * 1000,
): TopicSpec[] {
  const retention = String(eventRetentionMs);
  return [
    {
      topic: topics.users,
      partitions: eventPartitions,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': retention },
    },
    {
      topic: topics.orders,
      partitions: eventPartitions,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': retention },
    },
    // Every declared event type (docs/events.md#where-events-go), keyed by user like the others.
    ...(topics.custom
      ? [
          {
            topic: topics.custom,
            partitions: eventPartitions,
            configs: { 'cleanup.policy': 'delete', 'retention.ms': retention },
          },
        ]
      : []),
    // A changelog: compaction keeps the newest version of each rollup row key.
    {
      topic: topics.rollups,
      partitions: eventPartitions,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
    },
    {
      topic: topics.dlq,
      partitions: 1,
      configs: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600 * 1000) },
    },
  ];
}

export class TopicMismatchError extends TributaryError {
  constructor(message: string) {
    super('topic_mismatch', message);
    this.name = 'TopicMismatchError';
  }
}

export interface ProvisionReport {
  created: string[];
  existing: string[];
}

/**
 * Creates the topics that are missing and checks the ones that exist. An existing topic with
 * another partition count or cleanup policy is reported as an error, never silently used:
 * keys would land on other partitions than producers and replays expect.
 */
export async function ensureTopics(
  admin: Admin,
  specs: TopicSpec[],
  logger: Logger,
  replicationFactor?: number,
): Promise<ProvisionReport> {
  const rf = replicationFactor ?? Math.min(3, (await admin.describeCluster()).brokers.length);
  const minIsr = rf >= 3 ? '2' : '1';
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length > 0) {
    const topics: ITopicConfig[] = missing.map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      replicationFactor: rf,
      configEntries: Object.entries({ ...s.configs, 'min.insync.replicas': minIsr }).map(([name, value]) => ({
        name,
        value,
      })),
    }));
    try {
      await admin.createTopics({ topics, waitForLeaders: true });
    } catch (err) {
      // Another instance may have created them in the meantime, or the leaders are still being
      // elected (UNKNOWN_TOPIC_OR_PARTITION right after creation): the check below decides.
      if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS' && !isRetriable(err)) throw err;
    }
  }
  // Newly created topics take a moment to reach every broker's metadata (3-node clusters).
  const differing = await retry(() => checkTopics(admin, specs), {
    initialMs: 250,
    maxMs: 250,
    attempts: 21,
    giveUp: (err) => err instanceof TopicMismatchError || !isRetriable(err),
  });
  // An existing topic keeps its retention (changing it could delete data): said, with how to change it.
  for (const d of differing) {
    logger.warn(
      {
        topic: d.topic,
        retentionMs: d.actual,
        configured: d.wanted,
        change: `kafka-configs.sh --bootstrap-server <broker> --alter --entity-type topics --entity-name ${d.topic} --add-config retention.ms=${d.wanted}`,
      },
      'kafka.topic.retention_differs',
    );
  }
  const report = {
    created: missing.map((s) => s.topic),
    existing: specs.filter((s) => existing.has(s.topic)).map((s) => s.topic),
  };
  logger.info({ ...report, replicationFactor: rf }, 'kafka.topics.ready');
  return report;
}

/** Checks partitions and cleanup policy (a mismatch throws); returns the topics whose retention differs from the spec. */
async function checkTopics(
  admin: Admin,
  specs: TopicSpec[],
): Promise<Array<{ topic: string; actual: string; wanted: string }>> {
  const metadata = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: specs.map((s) => ({
      type: ConfigResourceTypes.TOPIC,
      name: s.topic,
      configNames: ['cleanup.policy', 'retention.ms'],
    })),
  });
  const problems: string[] = [];
  const differing: Array<{ topic: string; actual: string; wanted: string }> = [];
  for (const spec of specs) {
    const partitions = metadata.topics.find((t) => t.name === spec.topic)?.partitions.length ?? 0;
    if (partitions !== spec.partitions) {
      problems.push(`${spec.topic} has ${partitions} partitions, expected ${spec.partitions}`);
    }
    const policy = configs.resources
      .find((r) => r.resourceName === spec.topic)
      ?.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue;
    const wanted = spec.configs['cleanup.policy'];
    if (wanted && policy !== undefined && !policy.split(',').includes(wanted)) {
      problems.push(`${spec.topic} has cleanup.policy=${policy}, expected ${wanted}`);
    }
    const retention = configs.resources
      .find((r) => r.resourceName === spec.topic)
      ?.configEntries.find((c) => c.configName === 'retention.ms')?.configValue;
    const wantedRetention = spec.configs['retention.ms'];
    if (wantedRetention && retention !== undefined && retention !== wantedRetention)
      differing.push({ topic: spec.topic, actual: retention, wanted: wantedRetention });
  }
  if (problems.length > 0) {
    throw new TopicMismatchError(
      `existing topics do not match what Tributary needs: ${problems.join('; ')}. ` +
        'Recreate them, or point Tributary at topics with the expected layout (EVENT_PARTITIONS).',
    );
  }
  return differing;
}

/**
 * `topic` if it exists, else undefined with a warning: a pipeline whose topics were created
 * before it had this one runs without it until `tributary topics --ensure` (or `start`) adds it.
 */
export async function optionalTopic(
  admin: Admin,
  topic: string,
  logger: Logger,
  what: string,
): Promise<string | undefined> {
  if ((await admin.listTopics()).includes(topic)) return topic;
  logger.warn({ topic }, `${what}: topic missing, create it with tributary topics --ensure`);
  return undefined;
}
