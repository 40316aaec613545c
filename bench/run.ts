import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchEnv, machine } from './env';
import { benchIngest } from './ingest';
import { benchProcess } from './process';
import { benchSink } from './sink';
import { benchCeiling, type CeilingResult } from './ceiling';
import { benchCardinality } from './cardinality';
import { benchDeclared } from './declared';
import { benchMvDesign } from './mv-design';
import { benchBackfill } from './backfill';
import { benchStreams } from './streams';
import { benchCatchup, type CatchupResult } from './catchup';
import { benchFloor } from './floor';
import { benchWhole, type WholeResult } from './sustained';
import { benchSinkFormat } from './sinkformat';

/**
 * `npm run bench [-- ingest|process|sink|ceiling|cardinality|streams|catchup|whole|sinkformat|floor|declared|backfill|mvdesign]`: measured figures, printed and
 * written to .tributary/bench/ as JSON and Markdown. Nothing here asserts a time.
 */
async function main(): Promise<void> {
  const which = new Set(
    process.argv
      .slice(2)
      .filter((a) =>
        [
          'ingest',
          'process',
          'sink',
          'ceiling',
          'cardinality',
          'streams',
          'catchup',
          'whole',
          'sinkformat',
          'floor',
          'declared',
          'backfill',
          'mvdesign',
        ].includes(a),
      ),
  );
  const all = which.size === 0;
  const report: Record<string, unknown> = { date: new Date().toISOString(), machine: machine() };
  const lines: string[] = [
    `# Tributary benchmark, ${report.date as string}`,
    '',
    `Machine: ${report.machine as string}; broker: one local Kafka 4.1 (KRaft) on the same machine.`,
    '',
  ];
  let ceiling: CeilingResult | undefined;
  let catchups: CatchupResult[] = [];
  let whole: WholeResult | undefined;
  if (all || which.has('ceiling')) {
    const env = await benchEnv();
    try {
      ceiling = await benchCeiling(env);
      report.ceiling = ceiling;
      lines.push(
        "## Broker ceiling (Kafka's ProducerPerformance / ConsumerPerformance, acks=all, 6 partitions)",
        '',
        '| record size B | records | producer records/s | consumer records/s |',
        '|---|---|---|---|',
        `| ${ceiling.recordSize} | ${ceiling.records} | ${ceiling.producerRecordsPerSecond} | ${ceiling.consumerRecordsPerSecond} |`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  const ofCeiling = (rate: number, c?: number) =>
    c ? ` (${Math.round((100 * rate) / c)}% of the broker ceiling)` : '';
  if (all || which.has('ingest')) {
    const env = await benchEnv();
    try {
      const r = await benchIngest(env);
      report.ingest = r;
      lines.push(
        '## Ingest (`tributary ingest`, POST /v1/events, autocannon on loopback)',
        '',
        '| scenario | connections | events | seconds | events/s | requests/s | p50 ms | p99 ms | non-2xx |',
        '|---|---|---|---|---|---|---|---|---|',
      );
      for (const x of r.results)
        lines.push(
          `| ${x.scenario} | ${x.connections} | ${x.events} | ${x.seconds.toFixed(1)} | ${x.eventsPerSecond}${ofCeiling(x.eventsPerSecond, ceiling?.producerRecordsPerSecond)} | ${x.requestsPerSecond} | ${x.latencyP50ms} | ${x.latencyP99ms} | ${x.non2xx} |`,
        );
      lines.push('', `Peak memory of \`tributary ingest\`: ${r.peakMemoryMiB} MiB`, '');
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('process') || which.has('sink')) {
    const env = await benchEnv();
    try {
      const p = await benchProcess(env);
      report.process = p;
      lines.push(
        `## Stream processor (\`tributary process\`, ${p.instances === 1 ? 'one instance' : `${p.instances} instances in the group`})`,
        '',
        '| events pre-loaded | pre-load events/s | events processed (full segments) | seconds (assigned → done) | events/s | events/s incl. start-up | peak memory MiB (per instance) | rollup records (rows travel in blocks) |',
        '|---|---|---|---|---|---|---|---|',
        `| ${p.events} | ${p.preloadEventsPerSecond} | ${p.processedEvents} | ${p.steadySeconds.toFixed(1)} | ${p.eventsPerSecond}${ofCeiling(p.eventsPerSecond, ceiling?.consumerRecordsPerSecond)} | ${p.eventsPerSecondWithStartup} | ${p.peakMemoryMiB} | ${p.rollupRecords} |`,
        '',
      );
      if (all || which.has('sink')) {
        const s = await benchSink(env);
        report.sink = s;
        lines.push(
          '## ClickHouse sink (`tributary sink`, one instance)',
          '',
          '| rollup records (rows travel in blocks) | rows inserted | seconds (start → all committed) | records/s | rows/s | peak memory MiB | ClickHouse |',
          '|---|---|---|---|---|---|---|',
          `| ${s.records} | ${s.rows} | ${s.seconds.toFixed(1)} | ${s.recordsPerSecond} | ${s.rowsPerSecond} | ${s.peakMemoryMiB} | ${s.target} |`,
          '',
        );
      }
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('cardinality')) {
    const env = await benchEnv();
    try {
      const c = await benchCardinality(env);
      report.cardinality = c;
      lines.push(
        '## High cardinality (`tributary process`, one instance, default row bounds)',
        '',
        '| orders (10 lines each) | distinct SKUs | distinct users | SEGMENT_SIZE | PROCESS_MAX_ROWS / PENDING | rows held, peak | row bound | peak memory MiB | seconds | rollup records emitted |',
        '|---|---|---|---|---|---|---|---|---|---|',
        `| ${c.orders} | ${c.distinctSkus} | ${c.distinctUsers} | ${c.segmentSize} | ${c.maxRows} / ${c.maxPendingRows} | ${c.peakOpenRows} | ${c.rowBound} | ${c.peakMemoryMiB} | ${c.seconds.toFixed(1)} | ${c.rollupRecords} |`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('declared')) {
    const env = await benchEnv();
    try {
      const runs = await benchDeclared(env);
      report.declared = runs;
      lines.push(
        '## Declared rollups (`tributary process`, one instance, the cardinality shape: 1,000,000 distinct SKUs)',
        '',
        '| declarations | orders (10 lines each) | seconds | orders/s | CPU s | peak memory MiB | rows held, peak | rollup records |',
        '|---|---|---|---|---|---|---|---|',
        ...runs.map(
          (r) =>
            `| ${r.set} (${r.declarations}) | ${r.orders} | ${r.seconds.toFixed(1)} | ${r.eventsPerSecond} | ${r.cpuSeconds ?? '–'} | ${r.peakMemoryMiB} | ${r.peakOpenRows} | ${r.rollupRecords} |`,
        ),
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('backfill')) {
    const env = await benchEnv();
    try {
      const b = await benchBackfill(env);
      report.backfill = b;
      lines.push(
        '## Freshness and memory while a backfill runs (`tributary start`, two declarations applied under load)',
        '',
        '| phase | backlog events | load events/s | backfill → served s | probes | p50 ms | p99 ms | max ms | processor peak MiB |',
        '|---|---|---|---|---|---|---|---|---|',
        `| no backfill (before) | ${b.backlogEvents} | ${b.rate} | – | ${b.baseline.probes} | ${b.baseline.p50ms} | ${b.baseline.p99ms} | ${b.baseline.maxMs} | |`,
        `| two declarations applied | ${b.backlogEvents} | ${b.rate} | ${b.backfillSeconds ?? 'not complete'} | ${b.probes} | ${b.p50ms} | ${b.p99ms} | ${b.maxMs} | ${b.processorPeakMiB} (whole run) |`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('catchup')) {
    const env = await benchEnv();
    try {
      const counts = (process.env.BENCH_CATCHUP_USERS ?? '1000,50000,1000000').split(',').map(Number);
      lines.push(
        '## Catch-up of the whole `tributary start` on a preloaded backlog (orders, 20 minutes of event time)',
        '',
        '| events | distinct users | preload events/s | spawn → ready s | ready → all processed s | ready → all queryable s | events/s | rollup records (rows travel in blocks) | peak MiB start (sink, dashboard, registry) / processor | CPU s start / processor |',
        '|---|---|---|---|---|---|---|---|---|---|',
      );
      const results = [];
      for (const users of counts) {
        const c = await benchCatchup(env, users);
        results.push(c);
        lines.push(
          `| ${c.events} | ${c.users} | ${c.preloadEventsPerSecond} | ${c.readySeconds.toFixed(1)} | ${c.processedSeconds.toFixed(1)} | ${c.catchupSeconds.toFixed(1)} | ${c.eventsPerSecond}${ofCeiling(c.eventsPerSecond, ceiling?.consumerRecordsPerSecond)} | ${c.rollupRecords} | ${c.peakMiB.start} / ${c.peakMiB.processor} | ${c.cpuSeconds.start?.toFixed(1) ?? '—'} / ${c.cpuSeconds.processor?.toFixed(1) ?? '—'} |`,
        );
      }
      lines.push('');
      report.catchup = results;
      catchups = results;
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('mvdesign')) {
    const env = await benchEnv();
    try {
      const runs = await benchMvDesign(env);
      report.mvdesign = runs;
      lines.push(
        "## Rollups as ClickHouse materialized views, and ClickHouse's Kafka engine (bench/mv-runner.ts, one backlog)",
        '',
        '| variant | events | distinct users | start → all counted s | events/s | peak MiB | CPU s | totals exact | a replayed segment changed totals | new rollup backfilled from raw s | raw table MiB |',
        '|---|---|---|---|---|---|---|---|---|---|---|',
        ...runs.map(
          (m) =>
            `| ${m.variant} | ${m.events} | ${m.users} | ${m.seconds.toFixed(1)} | ${m.eventsPerSecond} | ${m.peakMiB} | ${m.cpuSeconds?.toFixed(1) ?? '—'} | ${m.exact ? 'yes' : 'NO'} | ${m.replayChanged === undefined ? '–' : m.replayChanged ? 'YES' : 'no'} | ${m.backfillSeconds?.toFixed(2) ?? '–'} | ${m.rawMiB ?? '–'} |`,
        ),
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('floor')) {
    const env = await benchEnv();
    try {
      const f = await benchFloor(env);
      report.floor = f;
      lines.push(
        '## kafkajs alone, in one Node process (the floor under the catch-up; 50,000-user backlog)',
        '',
        '| events | bare consumer events/s | consumer + Avro decode events/s | rollup-sized rows | produced one row a record: rows/s, CPU µs/row | 50 rows a record: rows/s, CPU µs/row |',
        '|---|---|---|---|---|---|',
        `| ${f.events} | ${f.bareConsumeEventsPerSecond}${ofCeiling(f.bareConsumeEventsPerSecond, ceiling?.consumerRecordsPerSecond)} | ${f.decodeConsumeEventsPerSecond} | ${f.rows} | ${f.onePerRecord.rowsPerSecond}, ${f.onePerRecord.cpuMicrosPerRow} | ${f.fiftyPerRecord.rowsPerSecond}, ${f.fiftyPerRecord.cpuMicrosPerRow} |`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('whole')) {
    const env = await benchEnv();
    try {
      whole = await benchWhole(env);
      report.whole = whole;
      lines.push(
        '## The whole `tributary start` over HTTP (batches of 100 shop events: 50,000 users, 5,000 SKUs)',
        '',
        '| offered events/s | seconds | accepted events/s | refused | request p99 ms | processor lag, max of the last minute | sink lag (rows) | held |',
        '|---|---|---|---|---|---|---|---|',
      );
      for (const x of whole.sustained) {
        lines.push(
          `| ${x.offeredEventsPerSecond} | ${x.seconds} | ${x.acceptedEventsPerSecond}${ofCeiling(x.acceptedEventsPerSecond, ceiling?.producerRecordsPerSecond)} | ${x.non2xx} | ${x.requestP99ms} | ${x.maxProcessLag} events (${x.maxProcessLagSeconds} s) | ${x.maxSinkLag} | ${x.held ? 'yes' : 'no'} |`,
        );
      }
      lines.push(
        '',
        '| freshness at | accepted events/s | probes | p50 ms | p90 ms | p99 ms | max ms | reported by /api/pipeline p50 / p99 ms | ClickHouse parts created per hour | most active parts in a table |',
        '|---|---|---|---|---|---|---|---|---|---|',
      );
      for (const f of whole.freshness) {
        lines.push(
          `| ${f.rate} events/s, ${f.label} | ${f.acceptedEventsPerSecond} | ${f.probes} | ${f.p50ms} | ${f.p90ms} | ${f.p99ms} | ${f.maxMs} | ${f.reported ? `${f.reported.p50ms} / ${f.reported.p99ms}` : 'idle'} | ${f.partsPerHour} (${Object.entries(
            f.partsPerHourByTable,
          )
            .map(([t, n]) => `${t} ${n}`)
            .join(', ')}) | ${f.maxActiveParts} |`,
        );
      }
      lines.push(
        '',
        `Peak memory: start (the supervisor process alone) ${whole.peakMiB.start} MiB, processor ${whole.peakMiB.processor} MiB, ingest ${whole.peakMiB.ingest} MiB.`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  if (all || which.has('sinkformat')) {
    const f = await benchSinkFormat();
    report.sinkformat = f;
    lines.push(
      `## Sink insert formats (${f.rows} product rows into \`rollup_products\`, batches of ${f.batchRows}, ${f.target})`,
      '',
      "| format | seconds | rows/s | this process's CPU s (serializing + the embedded engine) | bytes per row |",
      '|---|---|---|---|---|',
    );
    for (const x of f.formats)
      lines.push(
        `| ${x.format} | ${x.seconds.toFixed(2)} | ${x.rowsPerSecond} | ${x.nodeCpuSeconds.toFixed(2)} | ${x.bytesPerRow} |`,
      );
    lines.push('');
  }
  if (catchups.length > 0 || whole) {
    // The catch-up figures side by side, each against the broker's ceiling measured in this run.
    const share = (rate: number, c?: number) => (c ? `${((100 * rate) / c).toFixed(1)}%` : '—');
    lines.push(
      '## What a user meets (summary)',
      '',
      '| figure | value | share of the broker ceiling |',
      '|---|---|---|',
    );
    for (const c of catchups)
      lines.push(
        `| catch-up of ${c.events} orders, ${c.users} users (start → all queryable) | ${c.eventsPerSecond} events/s | ${share(c.eventsPerSecond, ceiling?.consumerRecordsPerSecond)} of consuming |`,
      );
    if (whole) {
      lines.push(
        `| highest sustained HTTP rate held ${whole.sustained[0]?.seconds ?? 0} s | ${whole.highestHeld ?? 'none of those tried'} events/s | ${whole.highestHeld ? share(whole.highestHeld, ceiling?.producerRecordsPerSecond) : '—'} of producing |`,
      );
      for (const f of whole.freshness)
        lines.push(`| freshness p50 / p99 at ${f.rate} events/s, ${f.label} | ${f.p50ms} / ${f.p99ms} ms | — |`);
      lines.push(
        `| peak memory: start / processor / ingest | ${whole.peakMiB.start} / ${whole.peakMiB.processor} / ${whole.peakMiB.ingest} MiB | — |`,
      );
    }
    lines.push('');
  }
  if (all || which.has('streams')) {
    const env = await benchEnv();
    try {
      const s = await benchStreams(env);
      report.streams = s;
      lines.push(
        `## Dashboard under ${s.streams} streams (\`tributary start --demo --rate ${s.demoRate}\`, /api/totals timed 4×/s)`,
        '',
        '| streams open | figures per stream per s | /api/totals p50 / p99 ms, no stream | p50 / p99 ms, streams open | RSS MiB before → with streams | peak MiB |',
        '|---|---|---|---|---|---|',
        `| ${s.opened} of ${s.streams} | ${s.figuresPerStreamPerSecond} | ${s.baseline.p50ms} / ${s.baseline.p99ms} (${s.baseline.calls} calls) | ${s.loaded.p50ms} / ${s.loaded.p99ms} (${s.loaded.calls} calls, ${s.seconds} s) | ${s.rssBeforeMiB} → ${s.rssLoadedMiB} | ${s.peakMiB} |`,
        '',
      );
    } finally {
      await env.stop();
    }
  }
  const markdown = lines.join('\n');
  process.stdout.write(`${markdown}\n`);
  // Results are local data, never committed: under .tributary/ (ignored) with the broker's data.
  const dir = path.join(__dirname, '..', '.tributary', 'bench');
  mkdirSync(dir, { recursive: true });
  const stamp = (report.date as string).replace(/[:.]/g, '-');
  writeFileSync(path.join(dir, `bench-${stamp}.json`), JSON.stringify(report, null, 2));
  // latest.md is the latest full run (the one docs/benchmarks.md quotes); a partial run keeps its own.
  writeFileSync(path.join(dir, all ? 'latest.md' : `latest-${[...which].sort().join('-')}.md`), `${markdown}\n`);
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
