import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { type Admin, connectAdmin, createKafka } from '../platform/kafka/client';
import { loadConfig } from './config';
import { createLogger } from '../platform/logger';
import {
  activeMembers,
  applyReplay,
  planReplay,
  ReplayError,
  type ReplayPosition,
  type ReplayTarget,
} from '../platform/kafka/replay';
import { formatTable } from './topics';
import { intOption, isoTimeOption } from './options';
import { sleep } from '../platform/retry';
import type { CliContext } from './context';

interface ReplayOptions {
  group: string;
  topic: string;
  partition?: number[];
  all?: boolean;
  offset?: number;
  fromTime?: number;
  earliest?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  follow?: boolean;
  wait?: boolean;
}

const collect = (value: string, previous: number[] = []) => [...previous, intOption('--partition', 0, 100_000)(value)];

export function replayCommand(ctx: CliContext): Command {
  return new Command('replay')
    .summary('move a consumer group back (or forward) to an offset, a time or the earliest, safely')
    .requiredOption('--group <group>', 'consumer group, e.g. tributary-rollups or tributary-clickhouse-sink')
    .requiredOption('--topic <topic>', 'topic whose offsets move')
    .option('--partition <p>', 'a partition to move (repeat for several)', collect)
    .option('--all', 'every partition of the topic')
    .option('--offset <n>', 'the new offset', intOption('--offset', 0, Number.MAX_SAFE_INTEGER))
    .option('--from-time <ISO>', 'the first offset at or after this time', isoTimeOption('--from-time'))
    .option('--earliest', 'the earliest offset still in the log')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--yes', 'apply without asking')
    .option('--wait', 'wait for the group to become inactive instead of refusing')
    .option('--follow', 'after applying, show progress until the group reaches the end offsets captured now')
    .action(async (opts: ReplayOptions) => {
      const positions = [opts.offset !== undefined, opts.fromTime !== undefined, Boolean(opts.earliest)].filter(
        Boolean,
      ).length;
      if (positions !== 1)
        throw new ReplayError('give exactly one of --offset, --from-time, --earliest', 'invalid_input');
      if (Boolean(opts.partition?.length) === Boolean(opts.all))
        throw new ReplayError('give --partition <p> (repeatable) or --all', 'invalid_input');
      const config = loadConfig(ctx.env);
      const logger = createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, 'replay', config.logFormat);
      const admin = await connectAdmin(createKafka({ config: config.kafka, logger, clientId: 'tributary-replay' }));
      try {
        const position: ReplayPosition =
          opts.offset !== undefined
            ? { offset: opts.offset }
            : opts.fromTime !== undefined
              ? { time: opts.fromTime }
              : { earliest: true };
        const processorGroup = opts.group === config.processor.groupId;
        const request = {
          group: opts.group,
          topic: opts.topic,
          partitions: opts.all ? undefined : opts.partition,
          position,
          segmentSize: processorGroup ? config.processor.segmentSize : undefined,
        };
        const targets = await planReplay(admin, request);
        printPlan(ctx, targets);
        if (processorGroup)
          ctx.out(
            `${opts.group} is the stream processor's group: targets move to their segment start (SEGMENT_SIZE ${config.processor.segmentSize}), so every rollup row is recomputed whole.\n`,
          );
        if (opts.dryRun) return;
        await ensureIdle(ctx, admin, opts.group, Boolean(opts.wait));
        if (!opts.yes) await confirm();
        const ends = await admin.fetchTopicOffsets(opts.topic);
        await applyReplay(admin, request, targets);
        ctx.out(
          `Moved ${targets.length} partition(s) of ${opts.topic} for group ${opts.group}. Start the group's consumers to reprocess.\n`,
        );
        if (opts.follow) {
          const goal = new Map(
            targets.map((t) => {
              const high = Number(ends.find((e) => e.partition === t.partition)?.high ?? t.high);
              return [t.partition, request.segmentSize ? high - (high % request.segmentSize) : high];
            }),
          );
          await follow(ctx, admin, opts.group, opts.topic, targets, goal);
        }
      } finally {
        await admin.disconnect();
      }
    });
}

function printPlan(ctx: CliContext, targets: ReplayTarget[]): void {
  const rows = [['partition', 'committed', 'new offset', 'range', 'to reprocess', 'note']];
  for (const t of targets)
    rows.push([
      String(t.partition),
      t.committed < 0 ? 'none' : String(t.committed),
      String(t.newOffset),
      `${t.low}-${t.high}`,
      String(t.toReprocess),
      t.note,
    ]);
  ctx.out(formatTable(rows));
}

/** Kafka refuses offset changes for a group with members: refuse first, saying what to stop. */
async function ensureIdle(ctx: CliContext, admin: Admin, group: string, wait: boolean): Promise<void> {
  for (;;) {
    const members = await activeMembers(admin, group);
    if (members.length === 0) return;
    if (!wait) {
      throw new ReplayError(
        `group ${group} has ${members.length} active member(s) (${members.join(', ')}): stop its consumers (e.g. the tributary process/sink instances) first, or pass --wait`,
      );
    }
    ctx.out(`waiting for group ${group} to become inactive (${members.length} member(s))…\n`);
    await sleep(2000);
  }
}

async function confirm(): Promise<void> {
  if (!process.stdin.isTTY)
    throw new ReplayError('not a terminal: pass --yes to apply, or --dry-run to only print the plan');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question('Apply this plan? [y/N] ');
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new ReplayError('not applied');
}

async function follow(
  ctx: CliContext,
  admin: Admin,
  group: string,
  topic: string,
  targets: ReplayTarget[],
  goal: Map<number, number>,
): Promise<void> {
  const total = targets.reduce((n, t) => n + Math.max(0, (goal.get(t.partition) ?? 0) - t.newOffset), 0);
  const tty = Boolean(process.stdout.isTTY);
  const bar = tty
    ? new SingleBar(
        { format: 'replay {bar} {percentage}% | {value}/{total} records | ETA {eta}s' },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0);
  let lastLine = 0;
  for (;;) {
    const committed = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions ?? [];
    let done = 0;
    let finished = true;
    for (const t of targets) {
      const c = Number(committed.find((p) => p.partition === t.partition)?.offset ?? -1);
      const g = goal.get(t.partition) ?? 0;
      done += Math.max(0, Math.min(c, g) - t.newOffset);
      if (c < g) finished = false;
    }
    if (bar) bar.update(done);
    else if (Date.now() - lastLine > 2000 || finished) {
      ctx.out(`replay: ${done}/${total} records (${total ? Math.round((100 * done) / total) : 100}%)\n`);
      lastLine = Date.now();
    }
    if (finished) break;
    await sleep(500);
  }
  bar?.stop();
  ctx.out(`group ${group} reached the end offsets captured at the start of the replay\n`);
}
