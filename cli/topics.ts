import { Command } from 'commander';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import type { CliContext } from './context';

export function topicsCommand(ctx: CliContext): Command {
  return new Command('topics')
    .summary('list topics: partitions, leaders, in-sync replicas, end offsets')
    .option('--ensure', 'create the pipeline topics that are missing and check the existing ones first')
    .option('--all', 'include internal topics (names starting with _ or __)')
    .action(async (opts: { ensure?: boolean; all?: boolean }) => {
      const config = loadConfig(ctx.env);
      const logger = createLogger(config.logLevel, 'topics', config.logFormat);
      const admin = await connectAdmin(createKafka({ config: config.kafka, logger, clientId: 'tributary-topics' }));
      try {
        if (opts.ensure)
          await ensureTopics(
            admin,
            pipelineTopics(config.kafka.eventPartitions, config.topics, config.kafka.eventRetentionMs),
            logger,
            config.kafka.replicationFactor,
          );
        const names = (await admin.listTopics()).filter((t) => opts.all || !t.startsWith('_')).sort();
        const { topics } = await admin.fetchTopicMetadata({ topics: names });
        const rows: string[][] = [['topic', 'partition', 'leader', 'replicas', 'isr', 'start', 'end']];
        for (const t of topics.sort((a, b) => a.name.localeCompare(b.name))) {
          const offsets = await admin.fetchTopicOffsets(t.name);
          for (const p of [...t.partitions].sort((a, b) => a.partitionId - b.partitionId)) {
            const o = offsets.find((x) => x.partition === p.partitionId);
            rows.push([
              t.name,
              String(p.partitionId),
              String(p.leader),
              p.replicas.join(','),
              p.isr.join(','),
              o?.low ?? '?',
              o?.high ?? '?',
            ]);
          }
        }
        ctx.out(formatTable(rows));
      } finally {
        await admin.disconnect();
      }
    });
}

/** Left-aligned columns separated by two spaces, header first. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
