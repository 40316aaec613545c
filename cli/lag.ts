import { Command } from 'commander';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { stageLag } from '../dashboards/pipeline-status';
import { formatTable } from './topics';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

export function lagCommand(ctx: CliContext): Command {
  return new Command('lag')
    .summary('lag per partition of the processor and sink groups (or --group)')
    .option('--group <group>', 'one consumer group (its committed topics)')
    .action(async (opts: { group?: string }) => {
      const config = loadConfig(ctx.env);
      const logger = createLogger('warn', 'lag', config.logFormat);
      const admin = await connectAdmin(createKafka({ config: config.kafka, logger, clientId: 'tributary-lag' }));
      try {
        const groups = opts.group
          ? [
              {
                stage: opts.group,
                group: opts.group,
                topics: (await admin.fetchOffsets({ groupId: opts.group })).map((t) => t.topic),
              },
            ]
          : [
              {
                stage: 'process',
                group: config.processor.groupId,
                topics: [config.topics.users, config.topics.orders, config.topics.custom],
              },
              { stage: 'sink', group: config.sink.groupId, topics: [config.topics.rollups] },
            ];
        // committed: where a restart resumes (the processor: its open segment's start); processed: how far it got.
        const rows = [['group', 'topic', 'partition', 'committed', 'processed', 'end', 'lag']];
        for (const g of groups) {
          if (g.topics.length === 0) throw new TributaryError('not_found', `group ${g.group} has no committed offsets`);
          const lag = await stageLag(admin, g.stage, g.group, g.topics);
          for (const p of lag.partitions)
            rows.push([
              g.group,
              p.topic,
              String(p.partition),
              p.committed < 0 ? 'none' : String(p.committed),
              String(p.processed),
              String(p.end),
              String(p.lag),
            ]);
          rows.push([g.group, '(total)', '', '', '', '', String(lag.totalLag)]);
        }
        ctx.out(formatTable(rows));
      } finally {
        await admin.disconnect();
      }
    });
}
