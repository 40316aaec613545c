import { Command } from 'commander';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { SchemaClient } from '../schemas/client';
import { readDeadLetters, redrivable, redrive } from '../consumers/dlq-tools';
import { formatTable } from './topics';
import { intOption } from './options';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

function context(ctx: CliContext) {
  const config = loadConfig(ctx.env);
  const logger = createLogger('warn', 'dlq');
  return {
    config,
    kafka: createKafka({ config: config.kafka, logger, clientId: 'tributary-dlq' }),
    schemas: new SchemaClient(config.registry.url, logger, config.registry.auth),
  };
}

export function dlqCommand(ctx: CliContext): Command {
  const dlq = new Command('dlq').summary('inspect dead letters and redrive them to their source topic after a fix');
  dlq
    .command('list')
    .description('dead letters in TOPIC_DLQ: where they came from and why')
    .option('--reason <reason>', 'only this reason (undecodable, unknown_schema, wrong_schema…)')
    .option('--from <offset>', 'start at this DLQ offset', intOption('--from', 0, Number.MAX_SAFE_INTEGER), 0)
    .action(async (opts: { reason?: string; from: number }) => {
      const { config, kafka, schemas } = context(ctx);
      const letters = (await readDeadLetters(kafka, schemas, config.topics.dlq, opts.from)).filter(
        (l) => !opts.reason || l.letter.reason === opts.reason,
      );
      const rows = [['dlq offset', 'failed at', 'stage', 'reason', 'source', 'partition', 'offset', 'message']];
      for (const { dlqOffset, letter: l } of letters) {
        rows.push([
          String(dlqOffset),
          new Date(l.failedAt).toISOString(),
          l.stage,
          l.reason,
          l.source,
          String(l.partition ?? ''),
          String(l.offset ?? ''),
          l.message.slice(0, 80),
        ]);
      }
      ctx.out(formatTable(rows));
      ctx.out(`${letters.length} dead letter(s)\n`);
    });
  dlq
    .command('show')
    .description('one dead letter in full, the original value as hex and as text')
    .argument('<offset>', 'its DLQ offset', intOption('<offset>', 0, Number.MAX_SAFE_INTEGER))
    .action(async (offset: number) => {
      const { config, kafka, schemas } = context(ctx);
      const found = (await readDeadLetters(kafka, schemas, config.topics.dlq, offset)).find(
        (l) => l.dlqOffset === offset,
      );
      if (!found) throw new TributaryError('not_found', `no dead letter at offset ${offset} of ${config.topics.dlq}`);
      const l = found.letter;
      ctx.out(
        `${JSON.stringify(
          {
            ...l,
            failedAt: new Date(l.failedAt).toISOString(),
            key: l.key?.toString('utf8') ?? null,
            value: l.value
              ? { bytes: l.value.length, hex: l.value.toString('hex'), text: l.value.toString('utf8') }
              : null,
          },
          null,
          2,
        )}\n`,
      );
    });
  dlq
    .command('redrive')
    .description('re-produce dead letters to their source topic, key and bytes unchanged')
    .option('--reason <reason>', 'only this reason')
    .option(
      '--from <offset>',
      'start at this DLQ offset (skip ones redriven before)',
      intOption('--from', 0, Number.MAX_SAFE_INTEGER),
      0,
    )
    .option('--dry-run', 'print what would be redriven')
    .action(async (opts: { reason?: string; from: number; dryRun?: boolean }) => {
      const { config, kafka, schemas } = context(ctx);
      const admin = await connectAdmin(kafka);
      const topics = new Set(await admin.listTopics());
      await admin.disconnect();
      const letters = (await readDeadLetters(kafka, schemas, config.topics.dlq, opts.from)).filter(
        (l) => !opts.reason || l.letter.reason === opts.reason,
      );
      const eligible = letters.filter((l) => redrivable(l.letter, topics));
      if (opts.dryRun) {
        for (const l of eligible)
          ctx.out(`would redrive dlq offset ${l.dlqOffset} → ${l.letter.source} (${l.letter.reason})\n`);
        ctx.out(`${eligible.length} of ${letters.length} dead letter(s) would be redriven\n`);
        return;
      }
      const done = await redrive(kafka, eligible, topics);
      const last = letters.at(-1)?.dlqOffset;
      ctx.out(
        `redrove ${done.length} of ${letters.length} dead letter(s)${last !== undefined ? `; next time use --from ${last + 1}` : ''}\n`,
      );
    });
  return dlq;
}
