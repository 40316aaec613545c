import { Command } from 'commander';
import { type Config } from '../platform/config';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import { type Admin, type Kafka, connectAdmin, createKafka } from '../platform/kafka/client';
import { backfillGroup, bookKey, type DeclarationBook, type VersionRecord } from '../schemas/declarations/book';
import { loadDeclarations } from '../schemas/declarations/files';
import { sourceTopics } from '../schemas/declarations/format';
import { BUILTIN_NAMES } from '../schemas/declarations/builtin';
import { openDeclarations } from '../schemas/declarations/log';
import type { JsonLog } from '../platform/kafka/json-log';
import { coverageOf } from '../dashboards/coverage';
import { formatTable } from './topics';
import { isoTimeOption } from './options';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

/** Versions computed at once: each is listed in every processor commit's metadata (4 KiB at most by default). */
export const MAX_LIVE_VERSIONS = 30;

/** Runs `run` with the declarations topic read whole (the book, with the event plan) and a log to append to. */
export async function withDeclarations<T>(
  ctx: CliContext,
  run: (d: { config: Config; admin: Admin; book: DeclarationBook; log: JsonLog }) => Promise<T>,
  given?: { config: Config; kafka: Kafka },
): Promise<T> {
  const config = given?.config ?? loadConfig(ctx.env);
  const logger = createLogger('warn', 'rollups', config.logFormat);
  const kafka = given?.kafka ?? createKafka({ config: config.kafka, logger, clientId: 'tributary-rollups' });
  const admin = await connectAdmin(kafka);
  try {
    const { book, log } = await openDeclarations({
      kafka,
      logger,
      rollupsTopic: config.topics.rollups,
      replicationFactor: config.kafka.replicationFactor,
    });
    try {
      return await run({ config, admin, book, log });
    } finally {
      await log.close();
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Where a new version's backfill and live path hand over, per input partition: the start of the
 * segment holding the partition's end now (the live processor recomputes at most that segment),
 * and where the version starts: the earliest retained offset, or the first at `--from` (past the
 * handover, the live path starts there and the backfill has nothing to do).
 */
async function handovers(
  admin: Admin,
  topic: string,
  segmentSize: number,
  fromTime: number | undefined,
): Promise<Pick<VersionRecord, 'from' | 'handover' | 'end'>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const byTime =
    fromTime === undefined
      ? undefined
      : new Map(
          (await admin.fetchTopicOffsetsByTimestamp(topic, fromTime)).map((o) => [o.partition, Number(o.offset)]),
        );
  const from: Record<string, number> = {};
  const handover: Record<string, number> = {};
  const end: Record<string, number> = {};
  for (const o of offsets) {
    end[String(o.partition)] = Number(o.high);
    const h = Math.floor(Number(o.high) / segmentSize) * segmentSize;
    const start = Math.max(Number(o.low), byTime?.get(o.partition) ?? 0);
    handover[String(o.partition)] = h;
    // Past the handover (in the last segment): the live path starts there itself, nothing to backfill.
    from[String(o.partition)] = start;
  }
  return { from, handover, end };
}

/**
 * `rollups apply`: reads every declaration of `target`, refuses them all if one is wrong (one
 * line each: file, line, field), and registers the new and changed ones as versions with their
 * handovers. Returns what it printed. `tributary start --rollups <dir>` calls it too.
 */
export async function applyDeclarations(
  ctx: CliContext,
  target: string,
  opts: { from?: number; dryRun?: boolean },
  given?: { config: Config; kafka: Kafka },
): Promise<string> {
  return withDeclarations(
    ctx,
    async ({ config, admin, book, log }) => {
      // A rollup over a declared event type reads that type's properties as the plan has them now.
      const loaded = loadDeclarations(target, BUILTIN_NAMES, (name) => book.events.latest(name)?.record.declaration);
      if (!loaded.ok)
        throw new TributaryError(
          'invalid_input',
          `${loaded.problems.length === 1 ? 'a declaration is' : `${loaded.problems.length} problems in the declarations are`} refused, nothing applied:\n${loaded.problems.join('\n')}`,
        );
      const plans = loaded.declarations.map(({ file: _, ...d }) => ({ d, plan: book.plan(d) }));
      const added = plans.filter((p) => 'version' in p.plan).length;
      const live = book.live().filter((s) => !s.record.builtin).length;
      if (live + added > MAX_LIVE_VERSIONS)
        throw new TributaryError(
          'refused',
          `at most ${MAX_LIVE_VERSIONS} declared versions are computed at once besides the built-in ones (${live} now, ${added} new): drop some first`,
        );
      const rows = [['rollup', 'version', 'change', 'source', 'backfill from']];
      const records: Array<{ key: string; value: VersionRecord }> = [];
      for (const { d, plan } of plans) {
        if ('existing' in plan) {
          rows.push([d.name, String(plan.existing.record.version), 'unchanged', d.source, '']);
          continue;
        }
        const topic = config.topics[sourceTopics(d.source)[0]!];
        const record: VersionRecord = {
          name: d.name,
          version: plan.version,
          declaration: d,
          appliedAt: Date.now(),
          topic,
          segmentSize: config.processor.segmentSize,
          ...(await handovers(admin, topic, config.processor.segmentSize, opts.from)),
          fromTime: opts.from ?? null,
        };
        records.push({ key: bookKey('version', d.name, plan.version), value: record });
        rows.push([
          d.name,
          String(plan.version),
          plan.version === 1 ? 'new' : `new version (v${plan.version - 1} served until it is complete)`,
          d.source,
          opts.from ? new Date(opts.from).toISOString() : 'earliest',
        ]);
      }
      if (!opts.dryRun && records.length > 0) await log.append(records);
      const said = opts.dryRun
        ? 'dry run: nothing applied'
        : records.length > 0
          ? `applied ${records.length}; follow with: tributary rollups status`
          : 'nothing to apply';
      return `${formatTable(rows)}${said}\n`;
    },
    given,
  );
}

export function rollupsCommand(ctx: CliContext): Command {
  const command = new Command('rollups').summary(
    'declare your own rollups: apply, list, status, drop (docs/rollups.md)',
  );

  command
    .command('apply')
    .summary(
      'register declarations (a file or a directory of .yaml/.yml/.json) with a running pipeline; new versions are backfilled',
    )
    .argument('<path>', 'a declaration file, or a directory of them')
    .option(
      '--from <time>',
      'backfill from this event time (ISO-8601) instead of the earliest retained event',
      isoTimeOption('--from'),
    )
    .option('--dry-run', 'show what would change, apply nothing')
    .action(async (target: string, opts: { from?: number; dryRun?: boolean }) => {
      ctx.out(await applyDeclarations(ctx, target, opts));
    });

  command
    .command('list')
    .summary('declared rollups and their versions')
    .action(() =>
      withDeclarations(ctx, async ({ config, admin, book }) => {
        const rows = [['rollup', 'version', 'source', 'window', 'dimensions', 'measures', 'state', 'progress']];
        for (const s of book.all()) {
          const v = s.record;
          const c = await coverageOf(admin, backfillGroup(config.processor.groupId, v.name, v.version), s);
          rows.push([
            v.name,
            String(v.version),
            v.declaration.source,
            v.declaration.window,
            v.declaration.dimensions.map((x) => x.field).join(',') || '-',
            v.declaration.measures.map((m) => m.column).join(','),
            c.state,
            `${Math.round(c.progress * 100)}%`,
          ]);
        }
        ctx.out(
          rows.length > 1 ? formatTable(rows) : 'no declared rollups; add one with: tributary rollups apply <file>\n',
        );
      }),
    );

  command
    .command('status')
    .summary('coverage of each version: backfill progress, complete, served')
    .argument('[name]', 'one rollup')
    .option('--json', 'as JSON')
    .action((name: string | undefined, opts: { json?: boolean }) =>
      withDeclarations(ctx, async ({ config, admin, book }) => {
        const states = book.all().filter((s) => !name || s.record.name === name);
        if (name && states.length === 0) throw new TributaryError('not_found', `no declared rollup ${name}`);
        const out = [];
        for (const s of states) {
          const v = s.record;
          const coverage = await coverageOf(admin, backfillGroup(config.processor.groupId, v.name, v.version), s);
          out.push({
            rollup: v.name,
            version: v.version,
            served: book.served(v.name)?.id === s.id,
            coverage,
            handover: v.handover,
            from: v.from,
          });
        }
        if (opts.json) ctx.out(`${JSON.stringify(out, null, 2)}\n`);
        else {
          ctx.out(
            formatTable([
              ['rollup', 'version', 'state', 'progress', 'complete', 'served'],
              ...out.map((o) => [
                o.rollup,
                String(o.version),
                o.coverage.state,
                `${Math.round(o.coverage.progress * 100)}%`,
                String(o.coverage.complete),
                String(o.served),
              ]),
            ]),
          );
          // An upgrade from the per-kind rollups (docs/rollups.md#upgrading-from-the-per-kind-rollups).
          const upgrade = book.upgrade();
          if (upgrade && !name) {
            ctx.out(
              `upgrade from the per-kind rollups: old rows of ${upgrade.copied} of ${upgrade.partitions} input partitions copied${upgrade.waiting.length > 0 ? `; waiting: ${upgrade.waiting.join(', ')}` : ''}\n`,
            );
          }
        }
      }),
    );

  command
    .command('drop')
    .summary('stop computing a rollup (every version); its tables go after ROLLUPS_DROP_GRACE_MS')
    .argument('<name>', 'the rollup')
    .action((name: string) =>
      withDeclarations(ctx, async ({ book, log }) => {
        const live = book.versionsOf(name).filter((s) => !s.dropped);
        if (BUILTIN_NAMES.has(name))
          throw new TributaryError(
            'refused',
            `${name} is a built-in rollup (rollups/builtin.yaml): it cannot be dropped`,
          );
        if (live.length === 0) throw new TributaryError('not_found', `no declared rollup ${name} to drop`);
        await log.append(
          live.map((s) => ({
            key: bookKey('drop', name, s.record.version),
            value: { at: Date.now(), reason: 'dropped' },
          })),
        );
        ctx.out(`dropped ${live.map((s) => s.id).join(', ')}\n`);
      }),
    );
  return command;
}
