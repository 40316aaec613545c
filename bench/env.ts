import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kafka, createKafka } from '../platform/kafka/client';
import { type Config } from '../platform/config';
import { loadConfig } from '../cli/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { startEmbeddedRegistry, type EmbeddedRegistry } from '../schemas/registry/embedded';
import { startOnFreePorts } from '../platform/local/kafka';
import type { LocalKafka } from '../platform/local/kafka';

export interface BenchEnv {
  config: Config;
  kafka: Kafka;
  broker: LocalKafka | undefined;
  registry: EmbeddedRegistry;
  stop(): Promise<void>;
}

export const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench');

/** A broker of the benchmark's own (unless KAFKA_BROKERS), an embedded registry, a fresh DATA_DIR. */
export async function benchEnv(): Promise<BenchEnv> {
  const root = path.resolve(__dirname, '..');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-'));
  const broker = process.env.KAFKA_BROKERS
    ? undefined
    : await startOnFreePorts({
        dataDir,
        mavenRepo: path.join(root, '.tributary', 'maven'),
        logger,
        heapOpts: '-Xms512m -Xmx1g',
      });
  const brokers = broker ? broker.brokers.join(',') : process.env.KAFKA_BROKERS!;
  const config = loadConfig({
    ...process.env,
    KAFKA_BROKERS: brokers,
    DATA_DIR: dataDir,
    INGEST_AUTH: 'off',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const kafka = createKafka({ config: config.kafka, logger, clientId: 'bench' });
  const registry = await startEmbeddedRegistry({
    kafka,
    logger,
    metrics: createMetrics('registry'),
    port: 0,
    host: '127.0.0.1',
    topic: `_schemas-bench-${Date.now()}`,
  });
  return {
    config: { ...config, registry: { ...config.registry, url: registry.url, embedded: false } },
    kafka,
    broker,
    registry,
    async stop() {
      await registry.close();
      await broker?.stop();
    },
  };
}

/** Peak resident memory (VmHWM) of a process, in MiB, from /proc. */
export function peakMemoryMiB(pid = process.pid): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc; null where
 * there is none. Less noisy than a rate on a shared 2-core machine: what a change costs or saves.
 */
export function cpuSeconds(pid: number | undefined): number | null {
  try {
    // Fields after the command (which may hold spaces) start at the third: utime and stime are the 14th and 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** Linux's USER_HZ, 100 on every architecture Node runs on. */
const CLOCK_TICKS = 100;

export const machine = () =>
  `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

const BIN = path.resolve(__dirname, '..', 'bin', 'tributary.js');

/** Node flags from BENCH_NODE_ARGS for the stages a bench starts, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
export function benchNodeArgs(): string[] {
  return (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
}

/**
 * `tributary <args>` as a child process on the benchmark's broker, registry and DATA_DIR, so each
 * stage's peak memory is its own. `nodeArgs` (e.g. from BENCH_NODE_ARGS) go to node.
 */
export function spawnStage(
  env: BenchEnv,
  args: string[],
  extra: Record<string, string> = {},
  nodeArgs: string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    env: stageEnvironment(env, extra),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** A stage's environment on the benchmark's broker, registry and DATA_DIR. */
function stageEnvironment(env: BenchEnv, extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: env.config.kafka.brokers.join(','),
    SCHEMA_REGISTRY_URL: env.registry.url,
    DATA_DIR: env.config.dataDir,
    INGEST_AUTH: 'off',
    LOG_LEVEL: 'warn',
    PROCESS_PORT: '0',
    SINK_PORT: '0',
    ...extra,
  };
}

/** A TypeScript file of bench/ as a child process under tsx, with spawnStage's environment (a variant of a stage for a paired run). */
export function spawnScript(
  env: BenchEnv,
  script: string,
  extra: Record<string, string> = {},
  nodeArgs: string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, '-r', require.resolve('tsx/cjs'), script], {
    env: stageEnvironment(env, extra),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** How long a stage gets to stop after SIGTERM (`start` stops its stages in turn, each bounded) before SIGKILL. */
const STOP_GRACE_MS = 120_000;

/**
 * Stops a stage (SIGTERM) and returns its peak resident memory in MiB, read just before. A stage
 * still running STOP_GRACE_MS later is killed, saying so: a bench never waits forever on a stop.
 */
export async function stopStage(child: ChildProcess): Promise<number | null> {
  const peak = peakMemoryMiB(child.pid);
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const kill = setTimeout(() => {
      process.stderr.write(
        `bench: \`${child.spawnargs.slice(2).join(' ')}\` did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM: SIGKILL\n`,
      );
      child.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(kill);
  }
  return peak;
}
