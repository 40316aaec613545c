import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../platform/local/ports';
import { sleep } from '../platform/retry';
import { logger, peakMemoryMiB, type BenchEnv } from './env';

export interface StreamsResult {
  streams: number;
  seconds: number;
  demoRate: number;
  opened: number;
  figuresPerStreamPerSecond: number;
  baseline: { p50ms: number; p99ms: number; calls: number };
  loaded: { p50ms: number; p99ms: number; calls: number };
  rssBeforeMiB: number;
  rssLoadedMiB: number;
  peakMiB: number | null;
}

const STREAMS = Number(process.env.BENCH_STREAMS ?? 200);
const SECONDS = Number(process.env.BENCH_STREAMS_SECONDS ?? 60);
const DEMO_RATE = 500;

/**
 * `tributary start --demo` (the dashboard, the sink and the registry in one process), then
 * 200 open /api/stream connections for a minute while /api/totals is timed four times a second:
 * its p50/p99 with and without the streams, and the process's memory.
 */
export async function benchStreams(env: BenchEnv): Promise<StreamsResult> {
  const root = path.resolve(__dirname, '..');
  const dashboardPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      '-r',
      require.resolve('tsx/cjs'),
      path.join(root, 'cli', 'main.ts'),
      'start',
      '--demo',
      '--rate',
      String(DEMO_RATE),
    ],
    {
      env: {
        ...process.env,
        KAFKA_BROKERS: env.config.kafka.brokers.join(','),
        DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-streams-')),
        WRITE_KEYS: 'bench-streams-key',
        DASHBOARD_PORT: String(dashboardPort),
        INGEST_PORT: String(await freePort()),
        REGISTRY_PORT: String(await freePort()),
        PROCESS_PORT: '0',
        DASHBOARD_MAX_STREAMS: String(STREAMS),
        DASHBOARD_MAX_STREAMS_PER_CLIENT: String(STREAMS),
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
        TOPIC_USERS: `bench-streams.users.${Date.now()}`,
        TOPIC_ORDERS: `bench-streams.orders.${Date.now()}`,
        TOPIC_ROLLUPS: `bench-streams.rollups.${Date.now()}`,
        TOPIC_DLQ: `bench-streams.dlq.${Date.now()}`,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const dashboard = `http://localhost:${dashboardPort}`;
  try {
    for (const deadline = Date.now() + 180_000; ; await sleep(500)) {
      if ((await fetch(`${dashboard}/readyz`).catch(() => undefined))?.status === 200) break;
      if (Date.now() > deadline) throw new Error('tributary start did not become ready');
    }
    await sleep(10_000); // some demo traffic in ClickHouse first
    const totals = async (): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${dashboard}/api/totals`);
      await res.json();
      if (res.status !== 200) throw new Error(`/api/totals: ${res.status}`);
      return performance.now() - t0;
    };
    const timeFor = async (seconds: number) => {
      const samples: number[] = [];
      for (const end = Date.now() + seconds * 1000; Date.now() < end; await sleep(250)) samples.push(await totals());
      return percentiles(samples);
    };
    const baseline = await timeFor(15);
    const rssBefore = rssMiB(child.pid!);
    const controllers: AbortController[] = [];
    let figures = 0;
    let opened = 0;
    await Promise.all(
      Array.from({ length: STREAMS }, async () => {
        const abort = new AbortController();
        controllers.push(abort);
        const res = await fetch(`${dashboard}/api/stream`, { signal: abort.signal });
        if (res.status !== 200) return;
        opened++;
        const reader = res.body!.getReader();
        void (async () => {
          try {
            for (;;) {
              const { value, done } = await reader.read();
              if (done) return;
              figures += (new TextDecoder().decode(value).match(/event: figures/g) ?? []).length;
            }
          } catch {
            /* aborted */
          }
        })();
      }),
    );
    const counted = figures;
    const loaded = await timeFor(SECONDS);
    const perStream = (figures - counted) / Math.max(1, opened) / SECONDS;
    const rssLoaded = rssMiB(child.pid!);
    for (const c of controllers) c.abort();
    logger.info({ opened, loaded }, 'bench.streams');
    return {
      streams: STREAMS,
      seconds: SECONDS,
      demoRate: DEMO_RATE,
      opened,
      figuresPerStreamPerSecond: Math.round(perStream * 100) / 100,
      baseline,
      loaded,
      rssBeforeMiB: rssBefore,
      rssLoadedMiB: rssLoaded,
      peakMiB: peakMemoryMiB(child.pid!),
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

function percentiles(samples: number[]): { p50ms: number; p99ms: number; calls: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!);
  return { p50ms: at(0.5), p99ms: at(0.99), calls: s.length };
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}
